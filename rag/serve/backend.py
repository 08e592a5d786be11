"""The open store and its models behind the server.

The models are not thread-safe, so one worker thread runs everything that touches them, in
arrival order; request handlers await it, and the event loop stays free for other requests.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from rag.settings import Settings


class Backend:
    def __init__(self, assistant):
        self.assistant = assistant
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-model")

    @classmethod
    def open(cls, settings: Settings) -> Backend:
        from rag.api import Assistant

        assistant = Assistant.open(settings=settings)
        _ = assistant.pipeline  # loads the generator now, so the first question does not pay for it
        return cls(assistant)

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._worker, partial(fn, *args, **kwargs))

    async def ask(self, question: str, k: int | None, user: str):
        return await self._run(lambda: self.assistant.ask(question, k, user=user))

    async def search(self, query: str, k: int | None):
        return await self._run(lambda: self.assistant.search(query, k))

    async def documents(self):
        return await self._run(lambda: self.assistant.documents())

    async def ingest(self, folder: Path):
        return await self._run(self._ingest, folder)

    def _ingest(self, folder: Path):
        from rag.api import Assistant
        from rag.ingest.job import run_ingest
        from rag.store.vault import open_collections

        old = self.assistant
        summary = run_ingest([folder], old.settings, embedder=old.embedder)
        if summary.ingested:
            # A fresh view: compaction may have replaced the collection, and the in-memory lexical
            # index must not keep serving the text of replaced chunks.
            self.assistant = Assistant(old.settings, old.keyring, open_collections(old.settings, old.keyring, old.embedder),
                                       old.embedder, old.generator)
            old.close()
        return summary

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        self.assistant.close()
