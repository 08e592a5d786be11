"""The HTTPS API: a real server process on loopback, real models, a copy of the demo store."""
from __future__ import annotations

import ssl
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import ROOT, run_cli
from serve_helpers import MAX_UPLOAD_MB, RATE_BURST

LEAVE = "How many days of paid annual leave do employees get?"
QUESTIONS = [LEAVE, "How long must passwords be?", "Who chaired the board meeting?",
             "What is the parking fee at the Bergen office?"]
PROTECTED = [("POST", "/ask", {"json": {"question": LEAVE}}), ("POST", "/search", {"json": {"query": "leave"}}),
             ("GET", "/documents", {}), ("POST", "/ingest", {"files": {"file": ("a.md", b"# a")}}),
             ("GET", "/admin/audit", {}), ("GET", "/admin/tokens", {})]


def audit_entries(server, limit: int = 1000) -> list[dict]:
    with server.client(server.token("admin")) as admin:
        body = admin.get("/admin/audit", params={"limit": limit}).json()
    assert body["intact"], body["problems"]
    return body["entries"]


def shm_uploads() -> set[str]:
    shm = Path("/dev/shm")
    return {p.name for p in shm.glob("rag-upload-*")} if shm.is_dir() else set()


def test_health_needs_no_token_and_reveals_nothing(rag_server):
    with rag_server.client() as client:
        response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers


@pytest.mark.parametrize("method,path,kwargs", PROTECTED)
def test_every_endpoint_needs_a_token(rag_server, method, path, kwargs):
    with rag_server.client() as client:
        missing = client.request(method, path, **kwargs)
    with rag_server.client("rag_" + "A" * 43) as client:
        wrong = client.request(method, path, **kwargs)
    for response in (missing, wrong):
        assert response.status_code == 401, response.text
        assert set(response.json()) == {"error"} and response.headers["www-authenticate"] == "Bearer"


def test_ask_returns_the_cli_json_with_a_cited_answer(rag_server):
    with rag_server.client(rag_server.token("reader")) as client:
        started = time.perf_counter()
        response = client.post("/ask", json={"question": LEAVE})
        seconds = time.perf_counter() - started
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) >= {"question", "answer", "abstained", "citations", "timings", "confidence", "span",
                           "span_confidence", "language", "mode"}
    assert not answer["abstained"] and "27" in answer["answer"]
    cited = answer["citations"][0]
    assert (cited["source"], cited["page"]) == ("hr-policy.pdf", 2) and "27 days" in cited["quote"]
    print(f"ask over HTTPS: {seconds:.2f} s (pipeline {answer['timings']['total_ms']:.0f} ms)")


def test_search_and_documents_for_a_reader(rag_server):
    with rag_server.client(rag_server.token("reader")) as client:
        results = client.post("/search", json={"query": "paid annual leave", "k": 3}).json()["results"]
        documents = client.get("/documents").json()["documents"]
    assert len(results) == 3 and results[0]["source"] == "hr-policy.pdf" and "leave" in results[0]["text"]
    assert {"hr-policy.pdf", "it-security-policy.pdf"} <= {d["source"] for d in documents}


@pytest.mark.parametrize("role,method,path,kwargs", [
    ("reader", "POST", "/ingest", {"files": {"file": ("a.md", b"# a")}}),
    ("reader", "GET", "/admin/audit", {}),
    ("reader", "POST", "/admin/tokens", {"json": {"name": "x", "role": "admin"}}),
    ("ingester", "GET", "/admin/audit", {}),
    ("ingester", "DELETE", "/admin/tokens/test-reader", {}),
])
def test_a_role_without_the_right_is_refused_with_403(rag_server, role, method, path, kwargs):
    with rag_server.client(rag_server.token(role)) as client:
        response = client.request(method, path, **kwargs)
    assert response.status_code == 403, response.text
    assert role in response.json()["error"]


def test_revoked_token_is_refused_at_once(rag_server):
    token = rag_server.add_token("short-lived", "reader")
    with rag_server.client(token) as client:
        assert client.get("/documents").status_code == 200
        revoked = rag_server.cli("token", "revoke", "short-lived")
        assert revoked.returncode == 0, revoked.stderr
        response = client.get("/documents")
    assert response.status_code == 401 and "revoked" in response.json()["error"]


def test_admin_manages_tokens_and_reads_the_audit_log(rag_server):
    with rag_server.client(rag_server.token("admin")) as admin:
        created = admin.post("/admin/tokens", json={"name": "made-by-api", "role": "reader"})
        assert created.status_code == 201, created.text
        with rag_server.client(created.json()["token"]) as reader:
            assert reader.get("/documents").status_code == 200
            assert "made-by-api" in {t["name"] for t in admin.get("/admin/tokens").json()["tokens"]}
            assert admin.delete("/admin/tokens/made-by-api").status_code == 204
            assert reader.get("/documents").status_code == 401
        assert admin.post("/admin/tokens", json={"name": "x", "role": "root"}).status_code == 400


def test_plain_http_is_refused_when_tls_is_on(rag_server):
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{rag_server.port}/health", timeout=10)


def test_a_non_loopback_bind_needs_the_flag_and_tls():
    from rag.errors import UsageError
    from rag.serve.server import ServeOptions, bind_address

    for flags, reason in [(["--host", "0.0.0.0"], "--allow-remote"),
                          (["--host", "0.0.0.0", "--allow-remote"], "needs TLS")]:
        result = run_cli("-m", "rag.serve", *flags)  # refused before any store or model is opened
        assert result.returncode == 2 and reason in result.stderr and "Traceback" not in result.stderr
    for options, reason in [(ServeOptions(host="10.1.2.3", cert=Path("cert.pem"), allow_remote=True), "both --cert"),
                            (ServeOptions(host="example.org"), "IP address"), (ServeOptions(port=70000), "port")]:
        with pytest.raises(UsageError, match=reason):
            bind_address(options)
    assert str(bind_address(ServeOptions(host="localhost"))) == "127.0.0.1"
    assert str(bind_address(ServeOptions(host="::1"))) == "::1"


def test_the_container_bind_passes_the_offline_tripwire():
    """`--host 0.0.0.0 --allow-remote --cert --key`: listening everywhere is not egress."""
    from rag.serve.server import ServeOptions, bind_address, listening_socket

    options = ServeOptions(host="0.0.0.0", port=0, cert=Path("c"), key=Path("k"), allow_remote=True)
    sock = listening_socket(bind_address(options), 0)
    try:
        assert sock.getsockname()[0] == "0.0.0.0"
    finally:
        sock.close()


def test_oversized_upload_is_413_and_ingests_nothing(rag_server):
    big = b"Nothing to see here. " * (MAX_UPLOAD_MB * 2**20 // 20)
    before_shm = shm_uploads()
    with rag_server.client(rag_server.token("ingester")) as client:
        before = client.get("/documents").json()
        declared = client.post("/ingest", files={"file": ("big.txt", big)})
        form = client.build_request("POST", "/ingest", files={"file": ("big.txt", big)})
        body = form.read()
        streamed = client.post("/ingest", content=iter([body[:2**19], body[2**19:]]),  # chunked: no length given
                               headers={"content-type": form.headers["content-type"]})
        after = client.get("/documents").json()
    assert declared.status_code == 413 and streamed.status_code == 413, (declared.text, streamed.text)
    assert "limit" in declared.json()["error"]
    assert after == before and shm_uploads() == before_shm


@pytest.mark.parametrize("name", ["../escape.md", "notes/../../escape.md", "/etc/escape.md", ".hidden.md"])
def test_path_traversal_in_an_uploaded_name_is_rejected(rag_server, name):
    with rag_server.client(rag_server.token("ingester")) as client:
        before = client.get("/documents").json()
        response = client.post("/ingest", files=[("file", ("fine.md", b"# Fine\n\nfine")),
                                                 ("file", (name, b"# Escape\n\nThe escape worked."))])
        after = client.get("/documents").json()
    assert response.status_code == 400, response.text
    assert after == before  # the whole upload is refused, the good file too
    assert not (Path(rag_server.store).parent / "escape.md").exists()


@pytest.mark.parametrize("name", ["..", ".", "", "a/b.md", "a\\b.md", "..\\x.md", "bad\x01.md", "x" * 300 + ".md"])
def test_only_plain_file_names_pass(name):
    from rag.serve.uploads import UploadRejected, check_name

    with pytest.raises(UploadRejected) as refused:
        check_name(name.encode())
    assert refused.value.status == 400
    assert check_name(b"Q3 report (final).pdf") == "Q3 report (final).pdf"


def test_upload_is_ingested_in_isolation_and_leaves_no_plaintext(rag_server):
    before_shm = shm_uploads()
    canteen = b"# Canteen\n\nThe staff canteen at the Bergen office serves lunch from 11:30 to 13:45 on weekdays.\n"
    broken = b"%PDF-1.7\n this is not really a PDF \x00\x01"
    with rag_server.client(rag_server.token("ingester")) as client:
        response = client.post("/ingest", files=[("file", ("canteen.md", canteen)), ("file", ("broken.pdf", broken))])
        body = response.json()
        results = client.post("/search", json={"query": "When does the staff canteen serve lunch?", "k": 1}).json()
    assert response.status_code == 200, response.text
    assert body["ingested"] == ["uploads/canteen.md"] and [f["file"] for f in body["failed"]] == ["uploads/broken.pdf"]
    assert results["results"][0]["source"] == "uploads/canteen.md"
    assert shm_uploads() == before_shm


def test_an_uploaded_word_file_and_email_with_attachment_are_searchable(rag_server):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from fixtures_office import handbook_docx
    from fixtures_web_mail import notice_eml

    before_shm = shm_uploads()
    with rag_server.client(rag_server.token("ingester")) as client:
        response = client.post("/ingest", files=[("file", ("handbook.docx", handbook_docx())),
                                                 ("file", ("notice.eml", notice_eml()))])
        manager = client.post("/search", json={"query": "site manager of the Carrow Fen depot", "k": 1}).json()
        contractor = client.post("/search", json={"query": "plumbing contractor for the works", "k": 1}).json()
        documents = [d["source"] for d in client.get("/documents").json()["documents"]]
    assert response.status_code == 200, response.text
    assert sorted(response.json()["ingested"]) == ["uploads/handbook.docx", "uploads/notice.eml"]
    assert manager["results"][0]["source"] == "uploads/handbook.docx"
    assert contractor["results"][0]["source"] == "uploads/notice.eml/contractors.pdf"
    assert "uploads/notice.eml/contractors.pdf" in documents
    assert shm_uploads() == before_shm


def test_an_ingest_by_another_process_is_answered_on_the_next_request(rag_server, tmp_path):
    """Chroma's view of an embedded store in the server's process does not follow another process's writes: the
    server opens the store again when its files changed, instead of failing or missing the new document."""
    docs = tmp_path / "ferry"
    docs.mkdir()
    (docs / "ferry-timetable.md").write_text("# Staff ferry\n\nThe staff ferry to the Askvoll depot leaves the "
                                             "Bergen quay at 07:15 every weekday.\n", encoding="utf-8")
    question = {"question": "When does the staff ferry to the Askvoll depot leave?"}
    with rag_server.client(rag_server.token("reader")) as client:
        assert client.post("/ask", json=question).status_code == 200  # the server's view is open
        ingested = run_cli("-m", "ingest", str(docs), env=rag_server.env)
        assert ingested.returncode == 0, ingested.stderr
        answer = client.post("/ask", json=question)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert not body["abstained"] and body["citations"][0]["source"] == "ferry-timetable.md", body
    assert "07:15" in body["citations"][0]["quote"]


def test_concurrent_asks_are_all_answered_and_the_server_stays_responsive(rag_server):
    token = rag_server.token("reader")
    health_seconds: list[float] = []
    stop = threading.Event()

    def ask(question: str) -> dict:
        with rag_server.client(token) as client:
            response = client.post("/ask", json={"question": question})
        assert response.status_code == 200, response.text
        return response.json()

    def probe() -> None:
        with rag_server.client() as client:
            while not stop.is_set():
                started = time.perf_counter()
                assert client.get("/health").status_code == 200
                health_seconds.append(time.perf_counter() - started)
                stop.wait(1.0)

    prober = threading.Thread(target=probe)
    prober.start()
    started = time.perf_counter()
    try:
        with ThreadPoolExecutor(len(QUESTIONS)) as pool:
            answers = list(pool.map(ask, QUESTIONS))
    finally:
        stop.set()
        prober.join()
    seconds = time.perf_counter() - started
    assert [a["question"] for a in answers] == QUESTIONS
    assert "27" in answers[0]["answer"] and "14" in answers[1]["answer"] and answers[3]["abstained"]
    assert max(health_seconds) < 2.0, health_seconds  # the event loop is not blocked by the models
    print(f"{len(QUESTIONS)} concurrent asks: {seconds:.1f} s in all; /health at most {max(health_seconds):.3f} s")
    asked = [e for e in audit_entries(rag_server) if e["action"] == "ask" and e["user"] == "api:test-reader"]
    assert {e["details"]["question"] for e in asked} >= set(QUESTIONS)


def test_every_request_is_in_the_audit_log_with_user_action_outcome(rag_server):
    intruder = rag_server.add_token("audited", "reader")
    with rag_server.client(intruder) as client:
        client.get("/documents")
        client.post("/ingest", files={"file": ("a.md", b"# a")})
        client.post("/search", json={"query": "password length"})
    with rag_server.client() as anonymous:
        anonymous.get("/documents")
    entries = audit_entries(rag_server)
    seen = {(e["user"], e["action"], e["outcome"]) for e in entries[-20:]}
    assert {("api:audited", "documents", "ok"), ("api:audited", "upload", "forbidden"),
            ("api:audited", "search", "ok"), ("api:-", "documents", "unauthorized")} <= seen
    search = [e for e in entries if e["user"] == "api:audited" and e["action"] == "search"][-1]
    assert search["details"] == {"query": "password length"}
    assert "password length" not in (Path(rag_server.store) / "audit.log").read_text()  # sealed, not in clear
    verified = run_cli("-m", "rag.audit", "verify", env=rag_server.env)
    assert verified.returncode == 0, verified.stdout


def test_errors_are_json_without_traces(rag_server):
    with rag_server.client(rag_server.token("reader")) as client:
        responses = {
            "bad json": client.post("/ask", content=b"{not json", headers={"content-type": "application/json"}),
            "too long": client.post("/ask", json={"question": "x" * 5000}),
            "bad k": client.post("/ask", json={"question": LEAVE, "k": 0}),
            "no such": client.get("/nowhere"),
            "method": client.get("/ask"),
        }
    for what, response in responses.items():
        assert 400 <= response.status_code < 500, (what, response.text)
        assert set(response.json()) == {"error"} and "Traceback" not in response.text, what


def test_rate_limit_per_client_address(rag_server):
    # Another loopback source address: its own bucket, so the other tests keep theirs.
    transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=rag_server.tls())
    with httpx.Client(base_url=rag_server.url, transport=transport, timeout=30) as client:
        statuses = []
        for _ in range(RATE_BURST + 500):
            statuses.append(client.get("/documents").status_code)
            if statuses[-1] == 429:
                break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {401}
    with rag_server.client() as other:
        assert other.get("/health").status_code == 200


def test_totp_second_factor(rag_server):
    import pyotp

    made = rag_server.cli("token", "add", "two-factor", "--role", "reader", "--totp")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    secret = next(line.split(": ")[1] for line in made.stdout.splitlines() if line.startswith("TOTP secret"))
    assert "otpauth://totp/" in made.stdout
    with rag_server.client() as client:
        assert client.get("/documents", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert client.post("/login", json={"token": token}).status_code == 401
        assert client.post("/login", json={"token": token, "code": "000000"}).status_code == 401
        code = pyotp.TOTP(secret).now()
        login = client.post("/login", json={"token": token, "code": code})
        assert login.status_code == 200, login.text
        assert client.post("/login", json={"token": token, "code": code}).status_code == 401  # no replay
        session = {"Authorization": f"Bearer {login.json()['session']}"}
        assert client.get("/documents", headers=session).status_code == 200
        assert client.post("/logout", headers=session).status_code == 204
        assert client.get("/documents", headers=session).status_code == 401


def test_token_cli_stores_only_keyed_hashes(rag_server):
    token = rag_server.token("reader")
    stored = Path(rag_server.store) / "api-tokens.json"
    assert token not in stored.read_text() and stat.S_IMODE(stored.stat().st_mode) == 0o600
    listed = rag_server.cli("token", "list")
    assert "test-reader" in listed.stdout and token not in listed.stdout
    again = rag_server.cli("token", "add", "test-reader", "--role", "admin")
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr
    wrong_key = run_cli("-m", "rag.serve", "token", "list", env={**rag_server.env, "RAG_KEY_FILE": "/nonexistent"})
    assert wrong_key.returncode == 2


def test_init_tls_writes_a_private_key_and_a_cert_for_loopback(rag_server, tmp_path):
    result = run_cli("-m", "rag.serve", "init-tls", "--out", str(tmp_path / "tls"), "--name", "rag.internal")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE((tmp_path / "tls" / "key.pem").stat().st_mode) == 0o600
    ssl.create_default_context(cafile=str(tmp_path / "tls" / "cert.pem"))  # a loadable trust anchor
    again = run_cli("-m", "rag.serve", "init-tls", "--out", str(tmp_path / "tls"))
    assert again.returncode == 2 and "exists" in again.stderr


def test_rate_limiter_refills_and_reports_the_first_refusal_only():
    from rag.serve.app import RateLimiter

    now = [0.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(4)] == [(True, False), (True, False), (False, True), (False, False)]
    assert limiter.check("b") == (True, False)
    now[0] += 1.0
    assert limiter.check("a") == (True, False)


def test_help_is_instant():
    started = time.perf_counter()
    result = run_cli("-m", "rag.serve", "--help")
    assert result.returncode == 0 and "--allow-remote" in result.stdout
    assert time.perf_counter() - started < 5


def test_parse_worker_replies_that_arrive_together_are_both_read(tmp_path, monkeypatch):
    """Found through the upload test: two replies read in one buffered read left `select` waiting out
    the timeout, and the second file was reported as hung."""
    from rag.embed import default_embedder_dir
    from rag.ingest import worker as worker_module

    monkeypatch.setattr(worker_module, "TIMEOUT_SECONDS", 20.0)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n not a PDF")
    (tmp_path / "note.md").write_text("# Note\n\nThe note is short.\n")
    worker = worker_module.ParseWorker(str(default_embedder_dir()), 256)
    try:
        worker.submit(str(tmp_path / "broken.pdf"))
        worker.submit(str(tmp_path / "note.md"))
        time.sleep(5)  # both replies are in the pipe before the first is read
        started = time.monotonic()
        first, second = worker.next_result(), worker.next_result()
    finally:
        worker.close()
    assert first.error and second.error is None and time.monotonic() - started < 10
