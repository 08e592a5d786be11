"""The open store and its models behind the server.

The models are not thread-safe, so one worker thread runs everything that touches them, in
arrival order; request handlers await it, and the event loop stays free for other requests.
Each set of collections a request names gets its own view (its own in-memory index), opened on first
use and kept: a request reads and decrypts only the collections it names.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

from rag.settings import Settings
from rag.store.chroma import state_dir_for
from rag.store.keyring import keyring_path, open_keyring


class Backend:
    def __init__(self, settings: Settings, keyring, embedder, generator):
        self.settings, self.keyring, self.embedder, self.generator = settings, keyring, embedder, generator
        self._views: dict[tuple[str, ...], object] = {}
        self._keyring_stamp: tuple[int, int] | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-model")

    @classmethod
    def open(cls, settings: Settings) -> Backend:
        from rag.api import load_generator_for
        from rag.embed import load_embedder

        keyring = open_keyring(settings, state_dir_for(settings), create=False)
        embedder = load_embedder(settings.embedder, settings.precision, settings.cache_dir,
                                 settings.query_prompt, settings.passage_prompt)
        # The generator loads now, so the first question does not pay for it.
        return cls(settings, keyring, embedder, load_generator_for(settings))

    def collections(self) -> list[str]:
        """The collections the store holds now: the keyring is read again when it changed on disk (another
        process made or deleted a collection)."""
        path = keyring_path(state_dir_for(self.settings))
        stamp = (path.stat().st_ino, path.stat().st_mtime_ns)
        if stamp != self._keyring_stamp:
            self.keyring = open_keyring(self.settings, state_dir_for(self.settings), create=False)
            self._keyring_stamp = stamp
            self._views = {names: view for names, view in self._views.items()
                           if set(names) <= set(self.keyring.collections)}
        return sorted(self.keyring.collections)

    def assistant(self, names: list[str]):
        from rag.api import Assistant
        from rag.store.vault import open_collections

        key = tuple(sorted(names))
        if key not in self._views:
            scoped = replace(self.settings, collection=",".join(key))
            self._views[key] = Assistant(scoped, self.keyring, open_collections(scoped, self.keyring, self.embedder),
                                         self.embedder, self.generator)
        return self._views[key]

    async def _run(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._worker, partial(fn, *args, **kwargs))

    def _asker(self, names: list[str], turns: list | None, new: bool):
        """The assistant of these collections, or a conversation of it kept in `turns` (`new`: started anew), on the
        worker thread: a turn is added only there."""
        assistant = self.assistant(names)
        if turns is None:
            return assistant
        conversation = assistant.conversation(turns)
        if new:
            conversation.reset()
        return conversation

    async def ask(self, names: list[str], question: str, k: int | None, user: str, within: list[str],
                  lang: str | None = None, mode: str | None = None, turns: list | None = None, new: bool = False):
        """`turns`: a session's conversation, or None for a question that stands alone."""
        return await self._run(lambda: self._asker(names, turns, new).ask(question, k, user=user, within=within,
                                                                          lang=lang, mode=mode))

    async def stream(self, names: list[str], question: str, k: int | None, user: str, within: list[str],
                     lang: str | None = None, mode: str | None = None, turns: list | None = None, new: bool = False):
        """`Assistant.stream`'s events as they come, made on the model's worker thread."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        done = object()

        def work():
            try:
                for event in self._asker(names, turns, new).stream(question, k, user=user, within=within,
                                                                   lang=lang, mode=mode):
                    loop.call_soon_threadsafe(queue.put_nowait, event)
            except Exception as exc:  # raised again on the event loop, where the response is written
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, done)

        self._worker.submit(work)
        while (item := await queue.get()) is not done:
            if isinstance(item, Exception):
                raise item
            yield item

    async def search(self, names: list[str], query: str, k: int | None, within: list[str], lang: str | None = None):
        return await self._run(lambda: self.assistant(names).search(query, k, within=within, lang=lang))

    async def documents(self, names: list[str]):
        return await self._run(lambda: self.assistant(names).documents())

    async def ingest(self, name: str, folder: Path):
        return await self._run(self._ingest, name, folder)

    def _ingest(self, name: str, folder: Path):
        from rag.ingest.job import run_ingest

        # Each view opens the store again on its next request when this changed it (`Assistant._follow_store`).
        return run_ingest([folder], replace(self.settings, collection=name), embedder=self.embedder)

    def close(self) -> None:
        self._worker.shutdown(wait=True)
        for view in self._views.values():
            view.close()
