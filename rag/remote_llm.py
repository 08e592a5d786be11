"""A generator behind an OpenAI-compatible inference server (llama.cpp server, vLLM, TGI).

`--llm openai+http(s)://HOST:PORT/v1`. The server only decodes; this side keeps the honesty rules:
the answer must be a span of the evidence sentence (a GBNF grammar asks the server to decode only
such spans; a reply that ignored it is cut down to its longest evidence span), and the features the
abstention check needs (span log-probability, probability put on the evidence) come from the
server's logprobs. Citation and verification then run unchanged in `AskPipeline`.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import math
import os
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Iterator, Sequence
from urllib.parse import urlparse

from rag import offline
from rag.errors import ModelProblem, UsageError
from rag.extraction import Extraction

SCHEMES = ("openai+http", "openai+https")
TOP_LOGPROBS = 20  # vLLM's default cap; enough to hold nearly all of a small model's first-step mass
CONNECT_TIMEOUT = 5.0
ANSWER_TIMEOUT = 120.0
_PIECE = re.compile(r"\w+|[^\w\s]")

log = logging.getLogger("rag")


@dataclass(frozen=True)
class Endpoint:
    spec: str      # what the user wrote, for messages
    base: str      # http(s)://HOST:PORT/v1
    host: str
    port: int


def parse_endpoint(spec: str) -> Endpoint:
    url = urlparse(spec)
    if url.scheme not in SCHEMES or not url.hostname:
        raise UsageError(f"--llm '{spec}': expected openai+http(s)://HOST:PORT/v1")
    try:
        port = url.port or (443 if url.scheme.endswith("s") else 80)
    except ValueError:
        raise UsageError(f"--llm '{spec}': the port is not a number") from None
    scheme = url.scheme.split("+", 1)[1]
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return Endpoint(spec, f"{scheme}://{host}:{port}{url.path.rstrip('/') or '/v1'}", url.hostname, port)


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    return ip.is_loopback or ip.is_private or ip.is_link_local


def _addresses(endpoint: Endpoint) -> list[str]:
    """The host's addresses. Looking a name up tells the resolver only the name the user typed."""
    try:
        ipaddress.ip_address(endpoint.host)
        return [endpoint.host]
    except ValueError:
        pass
    known = offline.is_local(endpoint.host)
    offline.allow_host(endpoint.host)
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(endpoint.host, endpoint.port,
                                                                 proto=socket.IPPROTO_TCP)})
    except OSError as exc:
        raise ModelProblem(f"cannot reach the inference server at {endpoint.spec}: cannot resolve "
                           f"{endpoint.host} ({exc.strerror or exc}); fix --llm or start the server") from None
    finally:
        if not known:  # admitted only once the policy says so
            offline.revoke_host(endpoint.host)


def admit(endpoint: Endpoint, allow_remote: bool) -> None:
    """Let the tripwire pass this one server, if it is internal or the user said data may leave."""
    if not all(_is_internal(a) for a in _addresses(endpoint)) and not allow_remote:
        raise UsageError(f"--llm '{endpoint.spec}': {endpoint.host} is not a loopback or private address, so "
                         "questions and document passages would leave this machine; pass --allow-remote-llm "
                         "(or RAG_ALLOW_REMOTE_LLM=1) if that is intended")
    offline.allow_host(endpoint.host)


class RemoteGenerator:
    """Same interface as `LocalGenerator`; one request per question, no state between them."""

    # The prompt goes to /completions as plain text: the server applies no chat template, so the
    # pipeline uses its few-shot prompt, which instruct models follow as well.
    chat = False
    scores_answers = False  # a server decodes; the pipeline then uses `extract`, not `choose`/`score`
    remote = True  # written mode (rag/written.py) goes to /chat/completions: the server applies the chat template

    def __init__(self, endpoint: Endpoint, token: str | None = None):
        self.endpoint, self._token = endpoint, token
        self.grammar = True  # cleared when a server rejects the `grammar` field
        models = self._request("GET", "/models", timeout=CONNECT_TIMEOUT).get("data") or [{}]
        self.name = models[0].get("id") or endpoint.host

    def _request(self, method: str, path: str, body: dict | None = None, timeout: float = ANSWER_TIMEOUT) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace").strip()
            raise _ServerRefused(exc.code, f"the inference server at {self.endpoint.spec} answered "
                                 f"{exc.code} to {path}: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelProblem(f"cannot reach the inference server at {self.endpoint.spec}: {reason}; "
                               "start it or fix --llm") from None
        except ValueError:
            raise ModelProblem(f"the inference server at {self.endpoint.spec} did not answer JSON on {path}; "
                               "is it an OpenAI-compatible server?") from None

    def _complete(self, body: dict) -> dict:
        body = {"model": self.name, "temperature": 0, **body}
        return self._request("POST", "/completions", body)["choices"][0]

    def render(self, system: str, user: str) -> str:
        return f"{system}\n\n{user}"

    def complete(self, prompt: str, max_new_tokens: int = 64, stop: Sequence[str] | None = None) -> str:
        choice = self._complete({"prompt": prompt, "max_tokens": max_new_tokens, "stop": list(stop or []) or None})
        text = choice.get("text", "")
        for marker in stop or ():
            text = text.split(marker)[0]
        return text.strip()

    def write(self, system: str, user: str, max_new_tokens: int = 200) -> Iterator[str]:
        """Written mode: the server's greedy chat reply, streamed (server-sent events), piece by piece."""
        body = {"model": self.name, "temperature": 0, "max_tokens": max_new_tokens, "stream": True,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}]}
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        request = urllib.request.Request(self.endpoint.base + "/chat/completions", json.dumps(body).encode(),
                                         headers, method="POST")
        try:
            response = urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode(errors="replace").strip()
            raise _ServerRefused(exc.code, f"the inference server at {self.endpoint.spec} answered {exc.code} to "
                                 f"/chat/completions: {detail or exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ModelProblem(f"cannot reach the inference server at {self.endpoint.spec}: "
                               f"{getattr(exc, 'reason', exc)}; start it or fix --llm") from None
        with response:
            for line in response:
                line = line.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    break
                try:
                    choice = (json.loads(data).get("choices") or [{}])[0]
                except ValueError:
                    raise ModelProblem(f"the inference server at {self.endpoint.spec} streamed something other "
                                       "than JSON on /chat/completions") from None
                piece = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
                if piece:
                    yield piece

    def extract(self, prompt: str, evidence: Sequence[str], max_new_tokens: int = 24) -> Extraction:
        """The server's greedy reply, held to a span of `evidence`, with the features calibration reads."""
        body = {"prompt": prompt, "max_tokens": max_new_tokens, "stop": ["\n"], "logprobs": TOP_LOGPROBS}
        choice = None
        if self.grammar:
            try:
                choice = self._complete({**body, "grammar": span_grammar(evidence)})
            except _ServerRefused as exc:
                if exc.status not in (400, 422):
                    raise
                log.warning("the inference server refused a grammar; answers are cut to evidence spans instead")
                self.grammar = False
        if choice is None:
            choice = self._complete(body)
        logprobs = choice.get("logprobs") or {}
        if not logprobs.get("token_logprobs"):
            raise ModelProblem(f"the inference server at {self.endpoint.spec} returned no logprobs; the "
                               "abstention check needs them (llama.cpp server, vLLM and TGI provide them)")
        return extraction_from(choice.get("text", ""), logprobs, evidence)


class _ServerRefused(ModelProblem):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _grammar_literal(text: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\x{ord(c):02x}" if ord(c) < 256
                         else f"\\u{ord(c):04x}" for c in text) + '"'


def span_grammar(evidence: Sequence[str]) -> str:
    """GBNF for any contiguous run of word/punctuation pieces of the evidence: `tK` continues a span at
    piece K, so the grammar grows linearly with the evidence instead of listing every span."""
    rules, starts, offset = [], [], 0
    for text in evidence:
        pieces = list(_PIECE.finditer(text))
        for k, piece in enumerate(pieces):
            after = f" t{offset + k + 1}?" if k + 1 < len(pieces) else ""
            starts.append(f"{_grammar_literal(piece.group())}{after}")
            if k:  # a continuation keeps the evidence's spacing: "27 days" but "year."
                gap = " " if piece.start() > pieces[k - 1].end() else ""
                rules.append(f"t{offset + k} ::= {_grammar_literal(gap + piece.group())}{after}")
        offset += len(pieces)
    if not starts:
        return 'root ::= "\\x0a"'
    return "\n".join([f"root ::= \" \"? ({' | '.join(dict.fromkeys(starts))}) \"\\x0a\"?", *rules])


def _longest_run(reply: str, evidence: str) -> tuple[tuple[int, int], tuple[int, int], float]:
    """The longest run of pieces shared by reply and evidence: (reply chars, evidence chars, share of
    the reply's pieces it keeps)."""
    mine, theirs = list(_PIECE.finditer(reply)), list(_PIECE.finditer(evidence))
    best, at = 0, (0, 0)
    previous = [0] * (len(theirs) + 1)
    for i, a in enumerate(mine, start=1):
        current = [0] * (len(theirs) + 1)
        for j, b in enumerate(theirs, start=1):
            if a.group() == b.group():
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, at = current[j], (i, j)
        previous = current
    if not best:
        return (0, 0), (0, 0), 0.0
    (i, j) = at
    return ((mine[i - best].start(), mine[i - 1].end()), (theirs[j - best].start(), theirs[j - 1].end()),
            best / len(mine))


def extraction_from(reply: str, logprobs: dict, evidence: Sequence[str]) -> Extraction:
    """Span, mean log-probability of its tokens, and the first step's probability of starting a span.

    A reply that is not wholly a span (a server that ignored the grammar) keeps its longest evidence
    span, and its allowed mass is scaled by the share of the reply that survived."""
    best = max((_longest_run(reply, text) + (text,) for text in evidence), key=lambda r: r[2],
               default=((0, 0), (0, 0), 0.0, ""))
    (r_start, r_end), (e_start, e_end), kept, source = best
    text = " ".join(source[e_start:e_end].split())
    chosen, position = [], 0
    for token, value in zip(logprobs.get("tokens") or [], logprobs["token_logprobs"]):
        if position < r_end and position + len(token) > r_start and value is not None:
            chosen.append(value)
        position += len(token)
    mean = sum(chosen) / len(chosen) if chosen and text else -math.inf
    first = (logprobs.get("top_logprobs") or [None])[0] or {}
    return Extraction(text, mean, kept * _span_start_mass(first, evidence))


def _span_start_mass(top: dict, evidence: Sequence[str]) -> float:
    """Probability (within the server's top tokens) of a first token that begins some evidence piece run.
    A bare space counts: tokenizers that split digits (Gemma) start " 27" with one."""
    starts = [text[m.start():] for text in evidence for m in _PIECE.finditer(text)]
    mass = sum(math.exp(value) for token, value in top.items()
               if token == " " or (token.strip() and any(rest.startswith(token.lstrip()) for rest in starts)))
    return min(mass, 1.0)


def connect(spec: str, allow_remote: bool = False) -> RemoteGenerator:
    """Check the URL, admit the host through the offline tripwire, and make sure the server answers."""
    endpoint = parse_endpoint(spec)
    admit(endpoint, allow_remote)
    return RemoteGenerator(endpoint, os.environ.get("RAG_LLM_TOKEN") or None)
