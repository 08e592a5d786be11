"""The HTTP face of the assistant: routes, roles, limits, JSON errors, security headers, audit.

Every response carries a strict Content-Security-Policy; every request except the health check
and the page's static files becomes one entry of the store's audit log (user, action, outcome).
"""

import json
import logging
import time
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.answer import MAX_QUESTION_CHARS
from rag.errors import RagError, UsageError
from rag.serve.backend import Backend
from rag.serve.tokens import (
    SESSION_PREFIX,
    Sessions,
    TokenStore,
    User,
    provisioning_uri,
)
from rag.serve.uploads import UploadRejected, private_folder, read_form
from rag.store.audit import AuditLog


@dataclass(frozen=True)
class Limits:
    rate_per_minute: int = 120  # per client address; 0 turns the limit off
    burst: int = 30
    max_json_bytes: int = 64 * 1024
    max_upload_bytes: int = 25 * 2**20

log = logging.getLogger("rag.serve")

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
       "form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}
STATIC = {"/": ("index.html", "text/html; charset=utf-8"), "/app.js": ("app.js", "text/javascript; charset=utf-8"),
          "/app.css": ("app.css", "text/css; charset=utf-8")}
UNAUDITED = {"/health", "/favicon.ico", "/messages", *STATIC}  # probes and page assets: no user, no data
OUTCOMES = {401: "unauthorized", 403: "forbidden", 404: "not-found", 413: "too-large", 415: "unsupported",
            429: "rate-limited"}
MAX_K = 20


class RateLimiter:
    """A token bucket per client address."""

    def __init__(self, per_minute: int, burst: int, clock=time.monotonic):
        self.rate, self.burst, self.clock = per_minute / 60.0, burst, clock
        self._buckets: dict[str, tuple[float, float, bool]] = {}  # address -> (tokens, time, refused since)

    def check(self, address: str) -> tuple[bool, bool]:
        """(allowed, first refusal in a row): only the first refusal is worth an audit entry."""
        if self.rate <= 0:
            return True, False
        now = self.clock()
        if len(self._buckets) > 10_000:  # forget idle addresses rather than grow without bound
            self._buckets = {a: b for a, b in self._buckets.items() if now - b[1] < 600}
        tokens, then, refusing = self._buckets.get(address, (float(self.burst), now, False))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        if tokens >= 1.0:
            self._buckets[address] = (tokens - 1.0, now, False)
            return True, False
        self._buckets[address] = (tokens, now, True)
        return False, not refusing


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class Guard:
    """The outermost layer: rate limit, body size cap, security headers, one audit entry per request."""

    def __init__(self, app, limits: Limits, record):
        self.app, self.limits, self.record = app, limits, record
        self.limiter = RateLimiter(limits.rate_per_minute, limits.burst)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        state = scope.setdefault("state", {})
        path, recorded = scope["path"], False
        allowed, first_refusal = self.limiter.check((scope.get("client") or ("?",))[0])
        loggable = path not in UNAUDITED and (allowed or first_refusal)

        async def record(status: int) -> None:
            nonlocal recorded
            recorded = True
            if loggable and not state.get("audited"):
                try:
                    await run_in_threadpool(self.record, state, scope["method"], path, status)
                except Exception:
                    log.exception("could not write the audit entry for %s %s", scope["method"], path)

        async def send_secured(message):
            if message["type"] == "http.response.start":
                # Recorded before the client hears back: whoever sees a response can find its entry.
                await record(message["status"])
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        cap = self.limits.max_upload_bytes if path == "/ingest" else self.limits.max_json_bytes
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        try:
            if not allowed:
                await _error(429, "too many requests from this address; wait a few seconds",
                             {"retry-after": "5"})(scope, receive, send_secured)
            elif not declared.isdigit() or int(declared) > cap:
                await _error(413, f"request body over the limit of {cap} bytes")(scope, receive, send_secured)
            else:
                await self.app(scope, _capped(receive, cap), send_secured)
        except Exception:  # already answered with a JSON 500 by the app; the trace stays in this log
            log.exception("request %s %s failed", scope["method"], path)
        if not recorded:
            await record(500)


def _capped(receive, cap: int):
    """`receive`, refusing a body that grows past `cap` while it streams in (no Content-Length needed)."""
    seen = 0

    async def capped():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise HTTPException(413, f"request body over the limit of {cap} bytes")
        return message

    return capped


class Scoped(BaseModel):
    # One collection or several; none: every collection the token may use. `in`: folders or files in them.
    collection: str | list[str] | None = Field(default=None)
    within: list[Annotated[str, Field(max_length=1000)]] = Field(default=[], alias="in", max_length=50)
    lang: str | None = Field(default=None, pattern=r"^([a-z]{2}|auto)$")  # the question's language; none: detected


class AskBody(Scoped):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int | None = Field(default=None, ge=1, le=MAX_K)
    mode: str | None = Field(default=None, pattern=r"^(auto|extractive|written)$")  # none: the server's setting
    stream: bool = False  # server-sent events: the written answer as it is written, then the answer
    # A session (POST /login) keeps a conversation: a follow-up is answered as the question it means. True starts a
    # new one with this question. A token's own questions each stand alone.
    new_conversation: bool = False


class SearchBody(Scoped):
    query: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    k: int | None = Field(default=None, ge=1, le=MAX_K)


# The same answer for a collection that exists but is not this token's and one that does not exist: no oracle.
NOT_YOURS = "no such collection for this token"


class LoginBody(BaseModel):
    token: str = Field(max_length=100)
    code: str | None = Field(default=None, max_length=10)


class TokenBody(BaseModel):
    name: str = Field(max_length=64)
    role: str
    totp: bool = False
    collections: str = Field(default="*", max_length=1000)


async def _server_sent(events):
    """`text`, `kept`, `dropped` and `answer` events as server-sent events; a failure is an `error` event."""
    try:
        async for event in events:
            data = event.to_dict()["data"]
            yield f"event: {event.kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"
    except UsageError as exc:
        yield f"event: error\ndata: {json.dumps({'error': str(exc)})}\n\n"
    except Exception:
        log.exception("a streamed answer failed")
        yield ("event: error\ndata: " + json.dumps({"error": "the server could not do this now; its operator can see "
                                                           "why in the server log"}) + "\n\n")


def _static(body: bytes, kind: str):
    async def serve() -> Response:
        return Response(body, media_type=kind)
    return serve


def audit_user(name: str | None) -> str:
    return f"api:{name or '-'}"  # apart from the operating-system accounts the CLIs record


def create_app(backend: Backend, tokens: TokenStore, audit: AuditLog, limits: Limits) -> Guard:
    """The ASGI application: FastAPI routes wrapped in the Guard."""
    # No docs pages (they pull scripts from a CDN), and FastAPI's OpenTelemetry hooks off: request data
    # must never reach an exporter that a library or an environment variable might configure.
    app = FastAPI(title="private-rag", docs_url=None, redoc_url=None, openapi_url=None,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False,
                             "auto_configure": False})
    sessions = Sessions(tokens)
    web = resources.files("rag") / "web"
    pages = {path: (web.joinpath(name).read_bytes(), kind) for path, (name, kind) in STATIC.items()}

    def record(state: dict, method: str, path: str, status: int) -> None:
        outcome = state.get("outcome") if status < 400 else None
        outcome = outcome or OUTCOMES.get(status) or ("ok" if status < 400 else "rejected" if status < 500 else "error")
        audit.append(state.get("action") or f"{method} {path[:64]}", outcome,
                     {"status": status, **state.get("counts", {})}, secret=state.get("secret"),
                     user=audit_user(state.get("user")), collection=state.get("collection"))

    def authorize(role: str, action: str):
        def dependency(request: Request) -> User:
            request.state.action = action
            header = request.headers.get("authorization", "")
            scheme, _, credential = header.partition(" ")
            if scheme.lower() != "bearer" or not credential:
                raise HTTPException(401, "send Authorization: Bearer TOKEN", {"www-authenticate": "Bearer"})
            credential = credential.strip()
            if credential.startswith(SESSION_PREFIX):
                user = sessions.user(credential)
            else:
                user = tokens.authenticate(credential)
                if user and user.totp:
                    request.state.user = user.name
                    raise HTTPException(401, "this user has a second factor: log in with POST /login "
                                             "(token and TOTP code) and use the session it returns",
                                        {"www-authenticate": "Bearer"})
            if user is None:
                raise HTTPException(401, "unknown, expired or revoked token", {"www-authenticate": "Bearer"})
            request.state.user = user.name
            if not user.may(role):
                raise HTTPException(403, f"role '{user.role}' may not {action}; that needs '{role}'")
            return user
        return Depends(dependency)

    def scope(request: Request, user: User, requested: str | list[str] | None, create: bool = False) -> list[str]:
        """The collections a request may read (or, with `create`, write), or 403 for any it may not."""
        names = [requested] if isinstance(requested, str) else list(requested or [])
        request.state.collection = ",".join(names) or None
        existing = backend.collections()
        if not names:
            names = [c for c in existing if user.may_use(c)]
            if not names:
                raise HTTPException(403, NOT_YOURS)
        for name in names:
            if not user.may_use(name) or (name not in existing and not create):
                raise HTTPException(403, NOT_YOURS)
        request.state.collection = ",".join(names)
        return names

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg')}"
                             for e in exc.errors()[:5])
        return _error(400, f"invalid request: {problems}")

    @app.exception_handler(UploadRejected)
    async def rejected(request: Request, exc: UploadRejected):
        return _error(exc.status, str(exc))

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        if isinstance(exc, UsageError):
            return _error(400, str(exc))
        log.error("%s %s: %s", request.method, request.url.path, exc)
        return _error(503, "the server could not do this now; its operator can see why in the server log")

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception):
        return _error(500, "internal error; its operator can see the details in the server log")

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/messages")
    async def messages(lang: str = Query(default="en", max_length=20)):
        """The page's and the answers' words in one language: the reader's own when it is registered, else English."""
        from rag import language as languages

        chosen = languages.get(lang if lang in languages.LANGUAGES else languages.DEFAULT)
        return {"lang": chosen.code, "messages": chosen.messages}

    @app.get("/favicon.ico")
    async def favicon():
        return Response(status_code=204)

    for path, (body, kind) in pages.items():
        app.add_api_route(path, _static(body, kind), methods=["GET"], include_in_schema=False)

    # login and logout run on the event loop: sessions and TOTP replay state change in one thread only
    @app.post("/login")
    async def login(body: LoginBody, request: Request):
        request.state.action = "login"
        user = tokens.authenticate(body.token.strip())
        if user is None:
            raise HTTPException(401, "unknown or revoked token")
        request.state.user = user.name
        if user.totp and not tokens.check_totp(user, (body.code or "").strip()):
            raise HTTPException(401, "this user needs the current code from their authenticator app (TOTP)")
        return {"session": sessions.open(user), "name": user.name, "role": user.role,
                "expires_in": sessions.seconds, "max_upload_bytes": limits.max_upload_bytes}

    @app.post("/logout", status_code=204)
    async def logout(request: Request, user: Annotated[User, authorize("reader", "logout")]):
        sessions.close(request.headers["authorization"].partition(" ")[2].strip())
        return Response(status_code=204)

    @app.post("/ask")
    async def ask(body: AskBody, request: Request, user: Annotated[User, authorize("reader", "ask")]):
        names = scope(request, user, body.collection)
        credential = request.headers["authorization"].partition(" ")[2].strip()
        turns = sessions.turns(credential) if credential.startswith(SESSION_PREFIX) else None
        if body.stream:
            events = backend.stream(names, body.question, body.k, audit_user(user.name), body.within, body.lang,
                                    body.mode, turns, body.new_conversation)
            request.state.audited = True  # Assistant.stream writes the entry once the answer is made
            return StreamingResponse(_server_sent(events), media_type="text/event-stream")
        answer = await backend.ask(names, body.question, body.k, audit_user(user.name), body.within, body.lang,
                                   body.mode, turns, body.new_conversation)
        request.state.audited = True  # Assistant.ask wrote the entry, with question and answer sealed
        return Response(answer.to_json(), media_type="application/json")

    @app.post("/search")
    async def search(body: SearchBody, request: Request, user: Annotated[User, authorize("reader", "search")]):
        names = scope(request, user, body.collection)
        passages = await backend.search(names, body.query, body.k, body.within, body.lang)
        request.state.counts, request.state.secret = {"results": len(passages)}, {"query": body.query}
        return {"results": [{"n": n, "source": p.source, "page": p.page, "chunk_id": p.id, "score": round(p.score, 4),
                             "headings": p.headings, "text": p.text} for n, p in enumerate(passages, start=1)]}

    @app.get("/documents")
    async def documents(request: Request, user: Annotated[User, authorize("reader", "documents")],
                        collection: Annotated[list[str] | None, Query()] = None):
        return {"documents": [asdict(d) for d in await backend.documents(scope(request, user, collection))]}

    @app.get("/collections")
    async def collections(user: Annotated[User, authorize("reader", "collections")]):
        return {"collections": [c for c in backend.collections() if user.may_use(c)]}

    @app.post("/ingest")
    async def ingest(request: Request, user: Annotated[User, authorize("ingester", "upload")],
                     collection: Annotated[str, Query(max_length=63)] = "default"):
        [name] = scope(request, user, collection, create=True)
        uploads = await read_form(request.headers.get("content-type", ""), request.stream())
        request.state.secret = {"files": [u.name for u in uploads]}
        with private_folder(uploads) as folder:
            summary = await backend.ingest(name, folder)
        request.state.outcome = "partial" if summary.failed else "ok"
        request.state.counts = {"ingested": len(summary.ingested), "failed": len(summary.failed)}
        return {"ingested": summary.ingested, "unchanged": summary.unchanged,
                "failed": [{"file": f, "reason": r} for f, r in summary.failed],
                "skipped": [{"file": f, "reason": r} for f, r in summary.skipped],
                "warnings": [{"file": f, "reason": r} for f, r in summary.warnings],
                "pages": summary.pages, "chunks": summary.chunks, "seconds": round(summary.seconds, 2)}

    @app.get("/admin/tokens")
    def list_tokens(user: Annotated[User, authorize("admin", "token-list")]):
        return {"tokens": [asdict(u) for u in tokens.users()]}

    @app.post("/admin/tokens", status_code=201)
    def add_token(body: TokenBody, request: Request, user: Annotated[User, authorize("admin", "token-add")]):
        token, secret = tokens.add(body.name, body.role, body.totp, body.collections)
        request.state.secret = {"name": body.name, "role": body.role, "totp": body.totp,
                                "collections": body.collections}
        created = {"name": body.name, "role": body.role, "collections": body.collections, "token": token}
        if secret:
            created["totp_uri"] = provisioning_uri(body.name, secret)
        return created

    @app.delete("/admin/tokens/{name}", status_code=204)
    def revoke_token(name: str, request: Request, user: Annotated[User, authorize("admin", "token-revoke")]):
        request.state.secret = {"name": name}
        tokens.revoke(name)
        return Response(status_code=204)

    @app.get("/admin/audit")
    def audit_log(user: Annotated[User, authorize("admin", "audit-read")],
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100, collection: str | None = None):
        with audit.lock():
            problems, entries = audit.verify(), audit.entries()
        if collection:  # an entry may name several collections: "hr,legal"
            entries = [e for e in entries if collection in e.get("collection", "").split(",")]
        entries = entries[-limit:]
        return {"intact": not problems, "problems": [asdict(p) for p in problems],
                "entries": [{**{k: v for k, v in e.items() if k not in ("sealed", "mac")}, "details": audit.reveal(e)}
                            for e in entries]}

    return Guard(app, limits, record)
