"""The warm assistant (rag/warm.py): a one-shot `rag.ask` is answered by a process that holds the models already,
exactly as the asking process would answer, and only for this user's processes that hold the store's key."""
from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEMO_DOCS, ROOT, files_holding, records_of, run_cli, store_bytes

sys.path.insert(0, str(ROOT / "bench"))
from ask_bench import run_ask  # noqa: E402  (the bench's measure of an asking process)

LEAVE = "How many days of paid annual leave do employees get?"
UNANSWERED = "What is the parking fee at the Bergen office?"


@pytest.fixture(scope="module")
def warm_env(tmp_path_factory, embedder):
    """A store of its own (a test ingests into it) and a private runtime folder; the assistant stopped after."""
    from rag.ingest import run_ingest
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("warm")
    docs = base / "docs"
    shutil.copytree(DEMO_DOCS, docs)
    settings = Settings(store=str(base / "store"), key_file=base / "keys" / "key")
    assert run_ingest([docs], settings, embedder=embedder).exit_code == 0
    runtime = base / "run"
    runtime.mkdir(mode=0o700)
    env = {"RAG_STORE": settings.store, "RAG_KEY_FILE": str(settings.key_file), "RAG_WARM": "on",
           "RAG_WARM_IDLE": "300", "XDG_RUNTIME_DIR": str(runtime)}
    yield env, docs
    subprocess.run([sys.executable, "-m", "rag.warm", "stop"], cwd=ROOT, env={**os.environ, **env}, timeout=60)


def ask_measured(env: dict, *args: str) -> tuple[subprocess.CompletedProcess, float]:
    """`python -m rag.ask ...` as a fresh process: its result and its own peak RSS in MiB."""
    result, _, peak = run_ask(list(args), env)
    return result, peak


def same_answer(line: str, reference: str) -> bool:
    """Equal to the last digit of every confidence; only the timings differ."""
    answer, expected = json.loads(line), json.loads(reference)
    answer.pop("timings"), expected.pop("timings")
    return answer == expected


def assistants(env: dict) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "rag.warm", "status"], cwd=ROOT, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith("pid ")]


def test_a_one_shot_ask_reuses_the_warm_assistant_and_answers_as_the_asking_process_would(warm_env):
    env, _ = warm_env
    in_process = run_cli("-m", "rag.ask", LEAVE, "--json", env={**env, "RAG_WARM": "off"})
    assert in_process.returncode == 0, in_process.stderr

    first, _ = ask_measured(env, LEAVE, "--json")  # starts the assistant, which answers it
    second, peak = ask_measured(env, LEAVE, "--json")
    for result in (first, second):
        assert result.returncode == 0, result.stderr
        assert same_answer(result.stdout, in_process.stdout)
    assert "27 days" in json.loads(second.stdout)["answer"]
    # The second process loaded no model: a Python process with the models takes well over 1 GiB.
    assert peak < 200, f"the asking process peaked at {peak:.0f} MiB: it loaded the models itself"
    assert len(assistants(env)) == 1

    abstained = run_cli("-m", "rag.ask", UNANSWERED, env={**env, "RAG_WARM": "off"})
    warm, _ = ask_measured(env, UNANSWERED)
    assert (warm.returncode, warm.stdout) == (abstained.returncode, abstained.stdout)
    assert "could not find" in warm.stdout

    # Its socket is the user's alone.
    folder = Path(env["XDG_RUNTIME_DIR"]) / "private-rag"
    sockets = list(folder.glob("*.sock"))
    assert len(sockets) == 1
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_ISSOCK(sockets[0].stat().st_mode) and stat.S_IMODE(sockets[0].stat().st_mode) == 0o600


def test_warnings_reach_the_asker_as_they_would_in_process(warm_env):
    env, _ = warm_env
    long_question = LEAVE + " Please" * 300
    warm, _ = ask_measured(env, long_question)
    local = run_cli("-m", "rag.ask", long_question, env={**env, "RAG_WARM": "off"})
    assert "question truncated to its first 1000 characters" in warm.stderr
    assert (warm.returncode, warm.stdout) == (local.returncode, local.stdout)


def test_a_process_without_the_key_material_gets_no_answer(warm_env):
    from rag import warm
    from rag.settings import Settings

    env, _ = warm_env
    ask_measured(env, LEAVE)  # the assistant runs
    settings = warm.resolved(Settings(store=env["RAG_STORE"], key_file=Path(env["RAG_KEY_FILE"])))
    (path,) = (Path(env["XDG_RUNTIME_DIR"]) / "private-rag").glob("*.sock")

    def request(proof_with: Settings) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(120)
            sock.connect(str(path))
            hello = warm._receive(sock)
            warm._send(sock, {"op": "ask", "question": LEAVE, "within": [], "fingerprint": hello["fingerprint"],
                              "proof": warm._proof(proof_with, hello["nonce"], hello["fingerprint"])})
            return warm._receive(sock)

    stranger = Path(env["XDG_RUNTIME_DIR"]) / "other-key"
    stranger.write_bytes(os.urandom(32))
    refused = request(warm.resolved(Settings(store=env["RAG_STORE"], key_file=stranger)))
    assert "refused" in refused and "answer" not in refused
    assert "27 days" in request(settings)["answer"]["answer"]  # the same request with the key is answered


def test_the_warm_assistant_follows_an_ingest_made_by_another_process(warm_env):
    env, docs = warm_env
    ask_measured(env, LEAVE)
    (running,) = assistants(env)
    (docs / "canteen.md").write_text("# Canteen\n\nThe staff canteen on deck four serves lunch from 11:30 to "
                                     "14:00 and its daily special costs 68 kroner.\n", encoding="utf-8")
    ingested = run_cli("-m", "ingest", str(docs), env={**env, "RAG_WARM": "off"})
    assert ingested.returncode == 0, ingested.stderr

    result, _ = ask_measured(env, "How much does the daily special cost in the staff canteen?", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert not answer["abstained"] and answer["citations"][0]["source"] == "canteen.md"
    assert "68 kroner" in answer["citations"][0]["quote"]
    assert assistants(env) == [running]  # the same process, its store reopened


def test_a_store_that_cannot_be_opened_fails_the_same_way_warm_or_not(warm_env, tmp_path):
    env, _ = warm_env
    wrong_key = tmp_path / "wrong"
    wrong_key.mkdir(mode=0o700)
    (wrong_key / "key").write_bytes(os.urandom(32))
    os.chmod(wrong_key / "key", 0o600)
    settings = {**env, "RAG_KEY_FILE": str(wrong_key / "key")}
    warm, _ = ask_measured(settings, LEAVE)
    local = run_cli("-m", "rag.ask", LEAVE, env={**settings, "RAG_WARM": "off"})
    assert local.returncode != 0 and local.stderr.startswith("error: ")
    assert (warm.returncode, warm.stdout, warm.stderr) == (local.returncode, local.stdout, local.stderr)
    assert "Traceback" not in warm.stderr


def test_a_pruned_file_is_really_gone_while_an_assistant_holds_the_store_open(warm_env, monkeypatch):
    """The assistant keeps an embedded store open between questions; an ingest that deletes and compacts must
    still succeed, and neither its stale view nor its reopening may bring deleted bytes back to disk."""
    env, docs = warm_env
    ask_measured(env, LEAVE)
    monkeypatch.setenv("RAG_STORE", env["RAG_STORE"])
    monkeypatch.setenv("RAG_KEY_FILE", env["RAG_KEY_FILE"])
    doomed = records_of("procedures/claims-procedure.txt")
    assert len(doomed) >= 3
    (docs / "procedures" / "claims-procedure.txt").unlink()
    pruned = run_cli("-m", "ingest", str(docs), "--prune", env={**env, "RAG_WARM": "off"})
    assert pruned.returncode == 0, pruned.stderr
    asked, _ = ask_measured(env, LEAVE)
    assert asked.returncode == 0 and "27 days" in asked.stdout
    store = Path(env["RAG_STORE"])
    blob = store_bytes(store)
    for record_id, sealed, vector in doomed:
        for needle in (sealed[:48].encode(), record_id.encode(), vector[:8].tobytes()):
            assert needle not in blob, f"a pruned record's bytes are back in {files_holding(store, needle)}"
    assert len([p for p in (store / "chroma").iterdir() if p.is_dir()]) == 1


def test_it_stops_on_request_and_after_its_idle_time(warm_env):
    env, _ = warm_env
    ask_measured(env, LEAVE)
    stopped = subprocess.run([sys.executable, "-m", "rag.warm", "stop"], cwd=ROOT, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=60)
    assert stopped.stdout.strip() == "stopped 1 warm assistant(s)"
    folder = Path(env["XDG_RUNTIME_DIR"]) / "private-rag"
    assert not list(folder.glob("*.sock")) and assistants(env) == []

    idle = {**env, "RAG_WARM_IDLE": "2"}
    result, _ = ask_measured(idle, LEAVE)
    assert result.returncode == 0 and "27 days" in result.stdout
    deadline = time.monotonic() + 60
    while list(folder.glob("*.sock")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not list(folder.glob("*.sock")), "the assistant did not stop after its idle time"
    assert assistants(env) == []

