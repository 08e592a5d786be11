"""The Python API: `Assistant.open(...)`, then `ask`, `conversation`, `search`, `documents`. The CLIs call these."""
from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from rag import language as languages
from rag.answer import Answer, AskPipeline, Calibration, checked_question
from rag.errors import StoreProblem
from rag.offline import off_block, on_block
from rag.retrieve import Passage, Retriever
from rag.settings import Settings
from rag.store.audit import AuditLog
from rag.store.chroma import make_client, state_dir_for, store_stamp
from rag.store.keyring import Keyring, open_keyring
from rag.store.vault import CollectionSet, open_collections

if TYPE_CHECKING:
    import numpy as np

    from rag.conversation import Conversation



@dataclass
class DocumentInfo:
    source: str
    pages: int
    chunks: int
    ingested_at: str
    collection: str = "default"


class Assistant:
    """An open, decrypted view of one or more collections of a store, with models loaded once for many
    questions. Only the named collections' records are ever read or decrypted."""

    def __init__(self, settings: Settings, keyring: Keyring, store: CollectionSet, embedder, generator=None):
        self.settings, self.keyring, self.store, self.embedder = settings, keyring, store, embedder
        self._generator = generator
        self.retriever = Retriever(store, embedder)
        self._pipeline: AskPipeline | None = None
        self.audit = AuditLog(state_dir_for(settings), keyring)
        self._stamp = store_stamp(state_dir_for(settings))
        # Anything in this process that tries to reach the network is refused and recorded.
        self._record_block = lambda message: self.audit.append("egress-blocked", "refused", secret={"detail": message})
        on_block(self._record_block)

    @classmethod
    def open(cls, store: str | Path | None = None, *, key_file: str | Path | None = None,
             passphrase: str | None = None, llm: str | None = None, embedder: str | None = None,
             collection: str | Sequence[str] | None = None, settings: Settings | None = None) -> "Assistant":
        """Open collections of a store for asking (`collection="hr"` or `["hr", "legal"]`; default: the
        `default` collection). Unset arguments come from `RAG_*` variables, then defaults."""
        from rag.embed import load_embedder

        settings = settings or Settings.from_env()
        settings = replace(settings, **{k: v for k, v in {
            "store": str(store) if store is not None else None,
            "key_file": Path(key_file) if key_file is not None else None,
            "passphrase": passphrase, "llm": llm, "embedder": embedder,
            "collection": collection if isinstance(collection, str) or collection is None else ",".join(collection),
        }.items() if v is not None})
        _chosen(settings.lang)  # an unknown language code is the news, before any store is opened
        # Connecting is cheap: a wrong, unreachable or refused server URL fails before anything is opened.
        generator = load_generator_for(settings) if settings.llm_is_url else None
        state_dir = state_dir_for(settings)
        if settings.store_is_url:
            make_client(settings, create=False)  # an unreachable server, not a missing keyring, is the news
        elif not (state_dir / "chroma").exists():
            raise StoreProblem(f"no store at {state_dir}; ingest documents first: python -m ingest FOLDER "
                               f"--store {state_dir}")
        keyring = open_keyring(settings, state_dir, create=False)
        model = load_embedder(settings.embedder, settings.precision, settings.cache_dir,
                              settings.query_prompt, settings.passage_prompt)
        chroma = open_collections(settings, keyring, model)
        if chroma.count() == 0:
            raise StoreProblem(f"the store at {settings.store} is empty; ingest documents first: "
                               "python -m ingest FOLDER")
        return cls(settings, keyring, chroma, model, generator)

    def _follow_store(self) -> None:
        """Open the store again, models kept, when another process changed it on disk (an ingest, a key rotation,
        a calibration): this process's Chroma view of an embedded store would not see it (queries then fail with
        "Error finding id"), and its keys or lexical index could be stale. What a fresh process would answer."""
        stamp = store_stamp(state_dir_for(self.settings))
        if stamp == self._stamp:
            return
        self.store.close()
        self.keyring = open_keyring(self.settings, state_dir_for(self.settings), create=False)
        self.store = open_collections(self.settings, self.keyring, self.embedder)
        self.retriever = Retriever(self.store, self.embedder)
        self.audit = AuditLog(state_dir_for(self.settings), self.keyring)
        self._pipeline, self._stamp = None, stamp

    @property
    def generator(self):
        if self._generator is None:
            self._generator = load_generator_for(self.settings)
        return self._generator

    @property
    def model_names(self) -> dict[str, str]:
        """What made the vectors and what picks the spans: a calibration holds only for these."""
        return {"embedder": self.embedder.name, "llm": getattr(self.generator, "name", self.settings.llm)}

    @property
    def calibration(self) -> Calibration:
        """The store's own fit (`python -m rag.calibrate`) if there is one, else the packaged one."""
        from rag.fitted import load_for_store

        own = load_for_store(state_dir_for(self.settings), self.keyring, self.model_names)
        if own:
            return own
        packaged = Calibration.load()
        changed = {role: name for role, name in self.model_names.items() if packaged.models.get(role) != name}
        if packaged.models and changed:
            # Another model's scores sit elsewhere: the packaged threshold could answer far too much or too little.
            warnings.warn(f"the packaged abstention threshold was fitted with "
                          f"{', '.join(str(packaged.models.get(role)) for role in changed)}, not "
                          f"{', '.join(changed.values())}: fit one for this store with python -m rag.calibrate "
                          "QUESTIONS", stacklevel=2)
        return packaged

    @property
    def pipeline(self) -> AskPipeline:
        if self._pipeline is None:
            self._pipeline = AskPipeline(self.retriever, self.generator, k=self.settings.k,
                                         calibration=self.calibration, max_new_tokens=self.settings.max_new_tokens,
                                         language=_chosen(self.settings.lang), mode=self.settings.mode)
        return self._pipeline

    def _pipeline_for(self, k: int | None, within: Sequence[str], lang: str | None) -> AskPipeline:
        pipeline = self.pipeline
        language = _chosen(lang) or pipeline.language
        if (k is not None and k != pipeline.k) or within or language is not pipeline.language:
            pipeline = AskPipeline(self.retriever.scoped(within), self.generator, k=k or pipeline.k,
                                   calibration=pipeline.calibration, max_new_tokens=self.settings.max_new_tokens,
                                   language=language, mode=self.settings.mode)
        return pipeline

    def ask(self, question: str, k: int | None = None, user: str | None = None,
            within: Sequence[str] = (), lang: str | None = None, mode: str | None = None) -> Answer:
        """Answer from the documents with verbatim quotes, or abstain. `user` is who the audit log names
        (default: this process's account; the HTTPS server passes the token's name); `within` limits the
        answer to documents under those folders or files of the collections (`--in`); `lang` is the
        question's language code (default: the settings', else detected); `mode` is "extractive", "written" or
        "auto" (default: the settings')."""
        self._follow_store()
        question = checked_question(question)
        answer = self._pipeline_for(k, within, lang).ask(question, mode)
        self._record(question, answer, user)
        return answer

    def stream(self, question: str, k: int | None = None, user: str | None = None,
               within: Sequence[str] = (), lang: str | None = None, mode: str | None = None) -> Iterator:
        """`ask`, as it happens: `rag.written.Event`s (`text` pieces as the model writes, `kept`/`dropped` for each
        sentence once verified), the last one `answer` with the Answer. Extractive mode gives only that one."""
        self._follow_store()
        question = checked_question(question)
        for event in self._pipeline_for(k, within, lang).stream(question, mode):
            if event.kind == "answer":
                self._record(question, event.data, user)
            yield event

    def conversation(self, turns: list | None = None) -> "Conversation":
        """Questions asked one after the other, a follow-up answered as the standalone question it means
        (`rag.conversation`): `c = a.conversation(); c.ask("How many days of leave?"); c.ask("And for part-time
        staff?")`. `turns`: a list the conversation keeps its turns in (in memory only; the server's per session)."""
        from rag.conversation import Conversation

        return Conversation(self, turns)

    def _record(self, question: str, answer: Answer, user: str | None, standalone: str | None = None) -> None:
        """One sealed audit entry per question; a conversation's turn also holds the standalone question answered."""
        secret = {"question": question, **({"standalone": standalone} if standalone is not None else {}),
                  "answer": answer.answer, "sources": [c.source for c in answer.citations]}
        self.audit.append("ask", "abstained" if answer.abstained else "answered",
                          {"citations": len(answer.citations)}, secret=secret, user=user, collection=self.store.name)

    def search(self, query: str, k: int | None = None, within: Sequence[str] = (),
               lang: str | None = None) -> list[Passage]:
        """The decrypted passages closest to `query`, best first, with their scores (`within`, `lang`: as in
        `ask`)."""
        self._follow_store()
        retriever = self.retriever.scoped(within)
        query = checked_question(query)
        language = _chosen(lang) or _chosen(self.settings.lang) or languages.of(query)
        interpreted, read_as = retriever.interpret(query, language)
        return retriever.search(interpreted, k or self.settings.k, phrases=list(read_as.values()), language=language)

    def documents(self) -> list[DocumentInfo]:
        """Every ingested source, decrypted from the manifest."""
        from rag.store.manifest import Manifest

        self._follow_store()
        documents = []
        for vault, _ in self.store.members:
            for entry in Manifest.load(vault.state_dir, vault.keys).entries.values():
                own_pages = entry.pages - sum(pages for pages, _ in entry.parts.values())
                own_chunks = entry.chunks - sum(chunks for _, chunks in entry.parts.values())
                documents.append(DocumentInfo(entry.path, own_pages, own_chunks, entry.ingested_at, vault.name))
                documents += [DocumentInfo(f"{entry.path}/{name}", pages, chunks, entry.ingested_at, vault.name)
                              for name, (pages, chunks) in entry.parts.items()]
        return sorted(documents, key=lambda d: (d.collection, d.source))

    def chunks(self) -> tuple[list[Passage], "np.ndarray"]:
        """Every chunk, decrypted, with its embedding vector (rows in the same order): for maps and audits."""
        import numpy as np

        passages, vectors = [], []
        for record_id, sealed, _, vector in self.store.scan(include_vectors=True):
            passages.append(self.retriever.open_record(record_id, sealed))
            vectors.append(vector)
        return passages, np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1)

    def close(self) -> None:
        off_block(self._record_block)
        self._generator = None
        self._pipeline = None

    def __enter__(self) -> "Assistant":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_generator_for(settings: Settings):
    from rag.generate import load_generator

    return load_generator(settings.llm, settings.cache_dir, settings.precision, settings.allow_remote_llm)


def _chosen(lang: str | None) -> "languages.Language | None":
    """The language a user chose (`--lang`, `RAG_LANG`, the API's `lang`); None for auto-detection."""
    return languages.get(lang) if lang and lang != "auto" else None
