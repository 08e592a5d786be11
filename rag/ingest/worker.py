"""Parsing and chunking in a separate process, with a memory limit and a timeout.

A PDF that crashes the parser, loops forever or inflates into gigabytes takes down only this
worker: the file is reported as failed, a fresh worker starts, and the batch goes on. It also
lets parsing of the next files overlap with embedding in the main process.
"""
from __future__ import annotations

import logging
import os
import pickle
import select
import struct
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rag.errors import FileFailed

MEMORY_LIMIT = int(os.environ.get("RAG_PARSE_MEMORY_MB", "2048")) * 2**20
TIMEOUT_SECONDS = float(os.environ.get("RAG_PARSE_TIMEOUT", "120"))
AHEAD = 4  # files queued in the worker while the main process embeds


@dataclass
class Parsed:
    path: str
    chunks: list | None = None  # list[ingest.chunk.Chunk]
    pages: int = 0
    error: str | None = None
    warnings: list[str] | None = None  # parts of the file that were not read (an unsupported attachment)
    read_again: bool = False  # not complete: the next run parses the file again (a scan, once OCR is installed)


HEARTBEAT = "heartbeat"  # sent while a long file (OCR) is still being read, so its time limit restarts


def _send(stream, obj) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">Q", len(data)) + data)
    stream.flush()


def _read_exact(stream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        block = stream.read(size - len(data))  # an unbuffered pipe may return less
        if not block:
            raise EOFError
        data += block
    return bytes(data)


def _receive(stream):
    (size,) = struct.unpack(">Q", _read_exact(stream, 8))
    return pickle.loads(_read_exact(stream, size))


def _serve(tokenizer_dir: str, max_tokens: int) -> None:
    """The worker's loop: paths in on stdin, `Parsed` results out on stdout."""
    import resource

    import rag.offline  # noqa: F401  the worker is an entry point too

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass
    from rag.ingest.chunk import TokenCounter, chunk_units, make_splitter
    from rag.ingest.load import Context, load_file

    # pypdf logs each repair ("EOF marker not found") to stderr; the file's one-line verdict is enough.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    counter = TokenCounter(tokenizer_dir)
    splitter = make_splitter(counter)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a chatty library must not corrupt the reply stream
    while True:
        try:
            path = _receive(requests)
        except EOFError:
            return
        context = Context(Path(path).name, heartbeat=lambda: _send(replies, HEARTBEAT))
        try:
            units = load_file(path, context)
            chunks = chunk_units(units, splitter, counter, max_tokens)
            pages = len({(u.part, u.page) for u in units})
            reply = Parsed(path, chunks, pages, warnings=context.warnings, read_again=context.read_again)
        except FileFailed as exc:
            reply = Parsed(path, error=str(exc))
        except MemoryError:
            reply = Parsed(path, error=f"parsing needed more than {MEMORY_LIMIT >> 20} MB (a decompression bomb?)")
        except OSError as exc:
            reply = Parsed(path, error=f"cannot read the file ({exc.strerror or exc})")
        except Exception as exc:  # any other parser bug is this file's failure, not the batch's
            reply = Parsed(path, error=f"parser error ({type(exc).__name__}: {str(exc)[:160]})")
        _send(replies, reply)


class ParseWorker:
    """Feed paths in, get `Parsed` results out in the same order.

    A plain subprocess (`python -m ingest.worker`), not multiprocessing: it never re-imports the
    caller's __main__, so scripts and notebooks without a main guard work too.
    """

    def __init__(self, tokenizer_dir: str, max_tokens: int):
        self._args = [tokenizer_dir, str(max_tokens)]
        self._pending: deque[str] = deque()
        self._waiting: deque[str] = deque()
        self._start()

    def _start(self) -> None:
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # Unbuffered: a buffered reader could swallow two replies in one read, and `select` on the pipe
        # would then wait out the timeout for a reply that is already in memory.
        self._process = subprocess.Popen([sys.executable, "-m", "rag.ingest.worker", *self._args],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0)

    def _restart(self) -> None:
        self._process.kill()
        self._process.wait()
        self._start()
        for path in self._pending:
            self._write(path)

    def _write(self, path: str) -> None:
        try:
            _send(self._process.stdin, path)
        except (BrokenPipeError, OSError):
            pass  # the worker died; next_result notices and restarts it

    def submit(self, path: str) -> None:
        self._waiting.append(path)
        self._fill()

    def _fill(self) -> None:
        while self._waiting and len(self._pending) < AHEAD:
            path = self._waiting.popleft()
            self._pending.append(path)
            self._write(path)

    def __len__(self) -> int:
        return len(self._pending) + len(self._waiting)

    def next_result(self) -> Parsed:
        path = self._pending[0]
        while True:
            ready, _, _ = select.select([self._process.stdout], [], [], TIMEOUT_SECONDS)
            if not ready:
                reason = f"parsing took longer than {TIMEOUT_SECONDS:.0f} s (a hostile or broken file?)"
                break
            try:
                result = _receive(self._process.stdout)
            except (EOFError, pickle.UnpicklingError):
                self._process.wait()
                reason = f"the parser crashed on this file (exit code {self._process.returncode})"
                break
            if result != HEARTBEAT:
                self._pending.popleft()
                self._fill()
                return result
        self._pending.popleft()
        self._restart()
        self._fill()
        return Parsed(path, error=reason)

    def close(self) -> None:
        try:
            self._process.stdin.close()
            self._process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self._process.kill()
            self._process.wait()


if __name__ == "__main__":
    from rag.ingest import worker  # results must pickle as ingest.worker.Parsed, not __main__.Parsed

    worker._serve(sys.argv[1], int(sys.argv[2]))
