"""A real `python -m rag.serve` process for the tests: HTTPS on loopback, a copy of the demo store."""
from __future__ import annotations

import os
import select
import shutil
import signal
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from conftest import ROOT, run_cli

START_SECONDS = 300  # model loads on a busy 2-core machine
MAX_UPLOAD_MB = 1
RATE_PER_MINUTE = 600
RATE_BURST = 300


@dataclass
class Server:
    url: str
    port: int
    store: Path
    cert: Path
    env: dict
    process: subprocess.Popen
    stderr: Path
    _tokens: dict = field(default_factory=dict)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return run_cli("-m", "rag.serve", *args, env=self.env)

    def add_token(self, name: str, role: str, *flags: str) -> str:
        result = self.cli("token", "add", name, "--role", role, *flags)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()[-1]

    def token(self, role: str) -> str:
        """One token per role for the session."""
        if role not in self._tokens:
            self._tokens[role] = self.add_token(f"test-{role}", role)
        return self._tokens[role]

    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def client(self, token: str | None = None, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, verify=self.tls(), headers=headers, timeout=300, **kwargs)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


def start_server(base: Path, demo_store, llm: str | None = None) -> Server:
    # A copy: uploads in these tests must not change the session's demo store that other tests read.
    store = base / "store"
    shutil.copytree(demo_store.store, store)
    env = {**os.environ, "RAG_STORE": str(store), "RAG_KEY_FILE": str(demo_store.key_file),
           **({"RAG_LLM": llm} if llm else {})}
    made = run_cli("-m", "rag.serve", "init-tls", "--out", str(base / "tls"), env=env)
    assert made.returncode == 0, made.stderr
    stderr = base / "server.err"
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.serve", "--port", "0", "--cert", str(base / "tls" / "cert.pem"),
         "--key", str(base / "tls" / "key.pem"), "--max-upload-mb", str(MAX_UPLOAD_MB),
         # One shared server for every test: at full speed they would drain the default burst of 30.
         "--rate-limit", str(RATE_PER_MINUTE), "--rate-burst", str(RATE_BURST)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(stderr, "wb"), text=True)
    deadline = time.monotonic() + START_SECONDS
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        ready, _, _ = select.select([process.stdout], [], [], 1.0)
        if ready:
            line = process.stdout.readline()
            if line.startswith("listening on "):
                break
    else:
        process.kill()
        raise AssertionError(f"the server did not start: {line!r} {stderr.read_text()[-2000:]}")
    url = line.split()[2]
    return Server(url, int(url.rstrip("/").rsplit(":", 1)[1]), store, base / "tls" / "cert.pem", env, process, stderr)
