"""Every test gets its own store and key folder; models load once per session."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import rag.offline  # noqa: F401

# Each test asks in the process it starts; tests/test_warm.py turns the warm assistant on where it tests it.
os.environ["RAG_WARM"] = "off"

ROOT = Path(__file__).resolve().parents[1]
DEMO_DOCS = ROOT / "data" / "docs"
SHARED = ROOT.parent / "shared"
CANARIES = ["Quillfeather Lagoon", "Operation Bluefin Harbor", "Saffron Kestrel", "Vantablue ledger",
            "27 days of paid annual leave"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Point store and key at a temporary folder: no test can touch a real store or key."""
    monkeypatch.setenv("RAG_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("RAG_KEY_FILE", str(tmp_path / "keys" / "key"))
    for name in ("RAG_PASSPHRASE", "RAG_EMBEDDER", "RAG_LLM", "RAG_K", "RAG_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def embedder():
    from rag.embed import load_embedder
    from rag.settings import Settings

    # The same route (int8 or torch) the CLIs take on this machine.
    model = load_embedder("default", "auto", Settings.from_env().cache_dir)
    assert model.dim == 384  # loads the weights once for the session
    return model


@pytest.fixture(scope="session")
def generator():
    from rag.generate import load_generator
    from rag.settings import Settings

    return load_generator("default", Settings.from_env().cache_dir)


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, embedder):
    """The demo documents ingested once into a session store; returns its settings."""
    from rag.ingest import run_ingest
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("demo")
    settings = Settings(store=str(base / "store"), key_file=base / "keys" / "key")
    summary = run_ingest([DEMO_DOCS], settings, embedder=embedder)
    assert summary.exit_code == 0, summary.failed
    return settings


@pytest.fixture(scope="session")
def assistant(demo_store, embedder, generator):
    from rag.api import Assistant
    from rag.store.vault import open_collections
    from rag.store.keyring import open_keyring

    keyring = open_keyring(demo_store, Path(demo_store.store), create=False)
    return Assistant(demo_store, keyring, open_collections(demo_store, keyring, embedder), embedder, generator)


@pytest.fixture(scope="session")
def rag_server(tmp_path_factory, demo_store):
    """`python -m rag.serve` over HTTPS on loopback (a copy of the demo store), shared by the API and web tests."""
    from serve_helpers import start_server

    server = start_server(tmp_path_factory.mktemp("serve"), demo_store)
    yield server
    server.stop()


@contextlib.contextmanager
def llama_server(gguf: Path):
    """llama.cpp's server for a GGUF model on a free loopback port, for one module's tests."""
    from rag.llama_server import running

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with running(gguf, port) as url:
        yield url


# Commands whose checks are about behaviour run in this process (models loaded once, not per command);
# `process=True`, a prefix or the server keep a real process where the boundary itself is tested.
_IN_PROCESS = {"ingest": "rag.ingest.__main__", "rag.ask": "rag.ask", "rag.audit": "rag.audit",
               "rag.calibrate": "rag.calibrate", "rag.collections": "rag.collections", "rag.keys": "rag.keys"}
_MODELS: dict = {}  # (loader, its arguments) -> the loaded model, shared by every in-process command


def run_cli(*args: str, env: dict | None = None, prefix: tuple[str, ...] = (),
            process: bool = False) -> subprocess.CompletedProcess:
    """Run `python -m ...` as a user would, with the test's store and key from the environment: its exit
    code, stdout and stderr."""
    if process or prefix or args[:1] != ("-m",) or args[1] not in _IN_PROCESS:
        return subprocess.run([*prefix, sys.executable, *args], capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, **(env or {})}, timeout=900)
    return _run_in_process(args[1], list(args[2:]), env or {})


def _run_in_process(module: str, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    import importlib
    import io
    import logging
    import warnings

    from rag import embed, generate
    from rag.cli import run_main

    main = importlib.import_module(_IN_PROCESS[module]).main
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_loaders = embed.load_embedder, generate.load_generator
    saved_logging = logging.root.handlers[:], logging.root.level
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    code = 0
    try:
        os.environ.update(env)
        os.chdir(ROOT)
        embed.load_embedder = _loaded_once(saved_loaders[0])
        generate.load_generator = _loaded_once(saved_loaders[1])
        logging.root.handlers = [handler]
        logging.root.setLevel(os.environ.get("RAG_LOG_LEVEL", "WARNING").upper())
        # A fresh warnings state per command, as a new process has: "shown once" must show again.
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.simplefilter("default")
            try:
                run_main(lambda: main(argv))
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        embed.load_embedder, generate.load_generator = saved_loaders
        logging.root.handlers = saved_logging[0]
        logging.root.setLevel(saved_logging[1])
    return subprocess.CompletedProcess(["python", "-m", module, *argv], code, out.getvalue(), err.getvalue())


def _loaded_once(loader):
    def load(*args, **kwargs):
        key = (loader.__qualname__, args, tuple(sorted(kwargs.items())))
        if key not in _MODELS:
            _MODELS[key] = loader(*args, **kwargs)
        return _MODELS[key]
    return load


def store_bytes(store: Path) -> bytes:
    """Every byte under the store directory: SQLite, its WAL, HNSW files, keyring, manifest."""
    return b"".join(p.read_bytes() for p in sorted(Path(store).rglob("*")) if p.is_file())


def files_holding(store: Path, needle: bytes) -> list[str]:
    """Which files under the store hold these bytes: what a failed "really gone" check must say."""
    return [str(p.relative_to(store)) for p in sorted(Path(store).rglob("*")) if p.is_file() and needle in p.read_bytes()]


def records_of(source: str) -> list:
    """The records (id, sealed text, vector) of one ingested file of the store in RAG_STORE."""
    import numpy as np

    from rag.api import Assistant

    assistant = Assistant.open()
    records = [(i, s, np.asarray(v, dtype=np.float32)) for i, s, _, v in assistant.store.scan(include_vectors=True)
               if assistant.retriever.open_record(i, s).source == source]
    assistant.close()
    return records


def copy_docs(target: Path) -> Path:
    shutil.copytree(DEMO_DOCS, target)
    return target


def network_namespace_available() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode == 0
