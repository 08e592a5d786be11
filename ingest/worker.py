"""Parsing and chunking in a separate process, with a memory limit and a timeout.

A PDF that crashes the parser, loops forever or inflates into gigabytes takes down only this
worker: the file is reported as failed, a fresh worker starts, and the batch goes on. It also
lets parsing of the next files overlap with embedding in the main process.
"""
from __future__ import annotations

import multiprocessing as mp
import os
from collections import deque
from dataclasses import dataclass

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


def _serve(conn, tokenizer_dir: str, max_tokens: int) -> None:
    import resource

    import rag.offline  # noqa: F401  the worker is an entry point too

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass
    from ingest.chunk import TokenCounter, chunk_units, make_splitter
    from ingest.load import load_file

    counter = TokenCounter(tokenizer_dir)
    splitter = make_splitter(counter)
    while True:
        path = conn.recv()
        if path is None:
            return
        try:
            units = load_file(path)
            chunks = chunk_units(units, splitter, counter, max_tokens)
            pages = len({u.page for u in units}) if units[0].page else 1
            conn.send(Parsed(path, chunks, pages))
        except FileFailed as exc:
            conn.send(Parsed(path, error=str(exc)))
        except MemoryError:
            conn.send(Parsed(path, error=f"parsing needed more than {MEMORY_LIMIT >> 20} MB (a decompression bomb?)"))
        except OSError as exc:
            conn.send(Parsed(path, error=f"cannot read the file ({exc.strerror or exc})"))
        except Exception as exc:  # any other parser bug is this file's failure, not the batch's
            conn.send(Parsed(path, error=f"parser error ({type(exc).__name__}: {str(exc)[:160]})"))


class ParseWorker:
    """Feed paths in, get `Parsed` results out in the same order."""

    def __init__(self, tokenizer_dir: str, max_tokens: int):
        self._args = (tokenizer_dir, max_tokens)
        self._pending: deque[str] = deque()
        self._waiting: deque[str] = deque()
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, *self._args), daemon=True)
        self._process.start()
        child.close()

    def _restart(self) -> None:
        self._process.kill()
        self._process.join()
        self._conn.close()
        self._start()
        for path in self._pending:
            self._conn.send(path)

    def submit(self, path: str) -> None:
        self._waiting.append(path)
        self._fill()

    def _fill(self) -> None:
        while self._waiting and len(self._pending) < AHEAD:
            path = self._waiting.popleft()
            self._pending.append(path)
            self._conn.send(path)

    def __len__(self) -> int:
        return len(self._pending) + len(self._waiting)

    def next_result(self) -> Parsed:
        path = self._pending[0]
        try:
            if self._conn.poll(TIMEOUT_SECONDS):
                result = self._conn.recv()
                self._pending.popleft()
                self._fill()
                return result
            reason = f"parsing took longer than {TIMEOUT_SECONDS:.0f} s (a hostile or broken file?)"
        except (EOFError, ConnectionError, OSError):
            reason = f"the parser crashed on this file (exit code {self._process.exitcode})"
        self._pending.popleft()
        self._restart()
        self._fill()
        return Parsed(path, error=reason)

    def close(self) -> None:
        try:
            self._conn.send(None)
            self._process.join(timeout=2)
        except (OSError, ValueError):
            pass
        if self._process.is_alive():
            self._process.kill()
