"""The audit log: every action recorded, questions sealed, any tampering found by `verify`."""
from __future__ import annotations

import json
import socket

import pytest
from conftest import copy_docs, run_cli


@pytest.fixture
def logged_store(isolated, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings

    settings = Settings.from_env()
    run_ingest([copy_docs(isolated / "docs") / "procedures"], settings, embedder=embedder)
    return settings


def _log_lines(isolated):
    return (isolated / "store" / "audit.log").read_text().splitlines()


def test_actions_are_recorded_and_questions_sealed(logged_store, isolated, generator):
    from rag.api import Assistant

    with Assistant.open(settings=logged_store) as assistant:
        assistant._generator = generator
        assistant.ask("Which ledger records the Vantablue claim payments?")
    wrong = isolated / "wrong-key"
    wrong.write_text("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n")
    wrong.chmod(0o600)
    assert run_cli("-m", "rag.audit", "show", "--key-file", str(wrong)).returncode == 2
    shown = run_cli("-m", "rag.audit", "show")
    assert shown.returncode == 0, shown.stderr
    actions = [line.split()[3] for line in shown.stdout.splitlines() if line[:5].strip().isdigit()]
    assert actions == ["ingest", "ask", "open-store"]
    assert "recorded late" in shown.stdout and "Vantablue" in shown.stdout  # the key holder sees the question
    raw = (isolated / "store" / "audit.log").read_text()
    assert "Vantablue" not in raw and "ledger" not in raw  # nobody else does
    verified = run_cli("-m", "rag.audit", "verify")
    assert verified.returncode == 0 and "intact: 3 entries" in verified.stdout


@pytest.mark.parametrize("tamper", ["edit", "delete", "insert", "reorder", "truncate"])
def test_verify_finds_every_kind_of_tampering(logged_store, isolated, tamper):
    from rag.audit import open_log

    log = open_log(logged_store)
    for n in range(4):
        log.append("ask", "answered", {"citations": n})
    lines = _log_lines(isolated)
    if tamper == "edit":
        entry = json.loads(lines[2])
        entry["outcome"] = "abstained"
        lines[2] = json.dumps(entry, separators=(",", ":"))
    elif tamper == "delete":
        del lines[2]
    elif tamper == "insert":
        lines.insert(2, lines[1])
    elif tamper == "reorder":
        lines[1], lines[2] = lines[2], lines[1]
    else:
        lines = lines[:-1]
    (isolated / "store" / "audit.log").write_text("\n".join(lines) + "\n")
    result = run_cli("-m", "rag.audit", "verify")
    assert result.returncode == 1
    assert "audit log line" in result.stdout
    if tamper == "truncate":
        assert "tail was cut" in result.stdout


def test_tripwire_refuses_and_records_an_outbound_connection(logged_store, isolated):
    from rag.api import Assistant
    from rag.audit import open_log
    from rag.offline import EgressBlocked

    with Assistant.open(settings=logged_store):
        with pytest.raises(EgressBlocked, match="203.0.113.9:443"):
            socket.create_connection(("203.0.113.9", 443), timeout=1)
    log = open_log(logged_store)
    blocked = [e for e in log.entries() if e["action"] == "egress-blocked"]
    assert len(blocked) == 1 and "203.0.113.9" in log.reveal(blocked[0])["detail"]
