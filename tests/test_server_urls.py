"""Server URLs that cannot work: one clear line on stderr, exit 2, nothing written."""
from __future__ import annotations

import socket

import pytest
from conftest import DEMO_DOCS, run_cli


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


PORT = _closed_port()
QUESTION = "How many days of paid annual leave do employees get?"


@pytest.mark.parametrize("args, message", [
    (("-m", "ingest", str(DEMO_DOCS), "--store", f"redis://127.0.0.1:{PORT}"), "unknown store scheme 'redis://'"),
    (("-m", "ingest", str(DEMO_DOCS), "--store", f"chroma+http://127.0.0.1:{PORT}"), "cannot reach the Chroma server"),
    (("-m", "rag.ask", QUESTION, "--store", f"chroma+http://127.0.0.1:{PORT}"), "cannot reach the Chroma server"),
    (("-m", "rag.ask", QUESTION, "--llm", f"ollama://127.0.0.1:{PORT}"), "unknown scheme 'ollama://'"),
    (("-m", "rag.ask", QUESTION, "--llm", f"openai+http://127.0.0.1:{PORT}/v1"), "cannot reach the inference server"),
    (("-m", "rag.ask", QUESTION, "--llm", "openai+https://8.8.8.8/v1"), "pass --allow-remote-llm"),
], ids=["store-scheme", "store-unreachable-ingest", "store-unreachable-ask", "llm-scheme", "llm-unreachable",
        "llm-public-without-flag"])
def test_a_server_url_that_cannot_work_is_one_line_and_exit_2(isolated, args, message):
    result = run_cli(*args, env={"XDG_DATA_HOME": str(isolated / "xdg")})
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr
    assert sorted(p.name for p in isolated.iterdir()) == [], "something was written"
