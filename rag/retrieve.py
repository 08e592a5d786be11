"""Retrieve: dense (Chroma) and lexical (BM25 over each collection's sealed on-disk index), fused by reciprocal rank.

The lexical index (`rag.store.lexicon`) is written by each ingest, prune and deletion, sealed under the
collection's key, and read at open without touching a record: opening a store no longer decrypts every chunk.
Each chunk is analysed in its own document's language and a question in its own, so a mixed store serves both.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Sequence

import numpy as np
from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from rag import language as languages
from rag.acronyms import expand
from rag.language import Language
from rag.store.lexicon import LexiconSet, memory_lexicon
from rag.store.records import MissingKey
from rag.store.vault import CollectionSet, is_within

PLAUSIBLE_SOURCES_K = 4  # an acronym's long form must come from the documents of this many first passages
HOLDING_CANDIDATES = 200
RRF_K = 5  # chosen on SQuAD train (hit@3 0.907 at the usual 60, 0.928 at 5): trusts the top ranks of each retriever
PASSAGE_CACHE = 4096  # decrypted passages kept for the verbatim phrase check and lexical-only hits


@dataclass
class Passage:
    id: str
    text: str
    source: str
    page: int | None
    start: int
    end: int
    headings: list[str] = field(default_factory=list)
    score: float = 0.0  # dense cosine similarity to the question
    lexical: float = 0.0  # BM25 score (0 when the lexical retriever did not find it)
    ocr: bool = False  # the text was read from an image by OCR
    language: str = languages.DEFAULT  # its document's language, as detected at ingest (or set by --lang)

    def to_document(self) -> Document:
        return Document(page_content=self.text, metadata={
            "id": self.id, "source": self.source, "page": self.page, "start": self.start, "end": self.end,
            "headings": " > ".join(self.headings), "score": self.score, "ocr": self.ocr,
            "language": self.language})


def _passage(record_id: str, payload: dict) -> Passage:
    return Passage(record_id, payload["text"], payload["source"], payload["page"], payload["start"],
                   payload["end"], payload.get("headings") or [], ocr=payload.get("ocr", False),
                   language=payload.get("lang", languages.DEFAULT))


class LexicalIndex:
    """BM25 over the given passages, each analysed by its own language's `terms`, built in memory: the same
    index and scores as a store's persistent one (`rag.store.lexicon`), for passages that are in no store."""

    def __init__(self, passages: dict[str, Passage]):
        self.ids = list(passages)
        self.index = memory_lexicon((i, p.source, p.source, p.text, p.language) for i, p in passages.items())

    def rarity(self, word: str, language: Language) -> float:
        """The word's inverse document frequency over the chunks: "compliance" outweighs "officer"."""
        terms = language.terms(word)
        return self.index.rarity(terms[0] if terms else None)

    def search(self, query: str, k: int, language: Language) -> list[tuple[str, float]]:
        return [(h.id, h.score) for h in self.index.search(language.terms(query), k)]


class _Shared:
    """What a retriever and its scoped views share: the open lexical index and the decrypted-passage cache."""

    def __init__(self):
        self.lexicon: LexiconSet | None = None
        self.passages: OrderedDict[str, Passage] = OrderedDict()


class Retriever:
    """Hybrid search over one encrypted store. Every record it returns has passed its AEAD check."""

    def __init__(self, store: CollectionSet, embedder, lexical: bool = True):
        self.store, self.embedder = store, embedder
        self.within: tuple[str, ...] = ()  # folders or files (`--in`) that bound every search; empty: all
        self.lexical_enabled = lexical
        self._shared = _Shared()

    def scoped(self, within: Sequence[str]) -> "Retriever":
        """The same retriever (and its index) searching only under the folders or files `within`."""
        view = copy.copy(self)
        view.within = tuple(within)
        return view

    def open_record(self, record_id: str, sealed: str) -> Passage:
        """Decrypt one record (AEAD-checked) into a passage."""
        return _passage(record_id, self.store.open(record_id, sealed))

    @property
    def _lexical(self) -> LexiconSet | None:
        return self._shared.lexicon if self._shared.lexicon is not None and len(self._shared.lexicon) else None

    def _refresh_lexical(self, seen: Sequence[str] = (), force: bool = False) -> None:
        """Open the collections' indexes, or follow them: a few `stat` calls per question tell whether an
        ingest, prune or deletion changed the index or the manifest since (and a store made before the index
        gets it built here, once). A dense hit the index does not hold changes nothing: it is a chunk of no
        recorded document (a kill before its manifest was written), which never opens."""
        shared = self._shared
        if shared.lexicon is None:
            shared.lexicon = LexiconSet.of(self.store.members)
        if shared.lexicon.refresh() or force:
            shared.passages.clear()

    def rarity(self, word: str, language: Language) -> float:
        """How rare `word` is in the store's chunks (see `LexicalIndex.rarity`); 1.0 for every word
        without the lexical index."""
        if not self.lexical_enabled:
            return 1.0
        self._refresh_lexical()
        if not self._lexical:
            return 1.0
        terms = language.terms(word)
        return self._lexical.rarity(terms[0] if terms else None)

    def read_acronyms(self, question: str, language: Language | None = None) -> dict[str, str]:
        """The question's acronyms the store's documents spell out, with those long forms (see
        `rag.acronyms`). Needs the lexical index: without it, none."""
        if not self.lexical_enabled:
            return {}
        self._refresh_lexical()
        if not self._lexical:
            return {}
        language = language or languages.of(question)
        sources: set[str] = set()

        def plausible(long_form: str) -> bool:
            # A long form that merely shares the initials lives in documents about something else ("IP" in
            # a question on complexity classes, "Iberian Peninsula" in a history text): it must come from a
            # document that the question as asked already draws one of its first passages from.
            if not sources:
                sources.update(p.source for p in self.search(question, PLAUSIBLE_SOURCES_K, language=language))
            return any(self._passage(i).source in sources for i in self._holding([long_form], {}, language))

        return self._lexical.acronyms().read(question, plausible)

    def interpret(self, question: str, language: Language | None = None) -> tuple[str, dict[str, str]]:
        """The question as searched (acronyms followed by their long forms) and what was read how."""
        read_as = self.read_acronyms(question, language)
        return expand(question, read_as), read_as

    def search(self, query: str, k: int, candidates: int = 20, phrases: Sequence[str] = (),
               language: Language | None = None) -> list[Passage]:
        vector = self.embedder.encode_queries([query])[0]
        return self.search_vector(query, vector, k, candidates, phrases, language)

    def search_vector(self, query: str, vector: np.ndarray, k: int, candidates: int = 20,
                      phrases: Sequence[str] = (), language: Language | None = None,
                      _retried: bool = False) -> list[Passage]:
        """`phrases` (an acronym's long form) rank the passages that hold one of them verbatim as a
        third list in the fusion: a handbook's one mention of "the Chief Executive Officer" at the end
        of a chunk about training budgets is close to "Who is the CEO?" for neither retriever.
        `language`: the query's, which its words are analysed in (detected when not given)."""
        language = language or languages.of(query)
        dense = self.store.query(vector, max(k, candidates), self.within)
        cosine = {h.id: h.score for h in dense}
        fused = {h.id: 1.0 / (RRF_K + rank) for rank, h in enumerate(dense, start=1)}
        bm25: dict[str, float] = {}
        if self.lexical_enabled:
            self._refresh_lexical([h.id for h in dense])
            if self._lexical:
                found = self._lexical_search(query, max(k, candidates), language)
                for rank, (record_id, score) in enumerate(found, start=1):
                    bm25[record_id] = score
                    fused[record_id] = fused.get(record_id, 0.0) + 1.0 / (RRF_K + rank)
                holding = self._holding(phrases, bm25, language)[:max(k, candidates)]
                for rank, record_id in enumerate(holding, start=1):
                    fused[record_id] = fused.get(record_id, 0.0) + 1.0 / (RRF_K + rank)
        shortlist = sorted(fused, key=fused.get, reverse=True)[:max(2 * k, k + 4)]
        missing_cosine = [i for i in shortlist if i not in cosine]
        sealed = {h.id: h.sealed for h in dense}
        if missing_cosine:  # lexical-only hits: score them densely too, so scores are comparable
            fetched = self.store.get_with_vectors(missing_cosine)
            cosine.update({i: float(np.dot(v, vector)) for i, (_, v) in fetched.items()})
            sealed.update({i: blob for i, (blob, _) in fetched.items()})
            gone = [i for i in missing_cosine if i not in cosine]
            if gone:
                # The index holds chunks the store has deleted (an ingest killed between the two): never
                # serve them, in this process or, once `ingest --check` or the next ingest ran, any other.
                self._refresh_lexical(force=True)
                self._shared.lexicon.forget(gone)
                if not _retried:
                    return self.search_vector(query, vector, k, candidates, phrases, language, _retried=True)
                shortlist = [i for i in shortlist if i not in gone]
        # Ties in fused rank (one retriever's first against the other's first) go to the closer meaning.
        best = sorted(shortlist, key=lambda i: (fused[i], cosine.get(i, 0.0)), reverse=True)[:k]
        passages = []
        for record_id in best:
            if record_id not in sealed:
                continue
            try:
                passage = self.open_record(record_id, sealed[record_id])
            except MissingKey:
                continue
            passages.append(replace(passage, score=cosine.get(record_id, 0.0), lexical=bm25.get(record_id, 0.0)))
        return passages

    def _passages(self, ids: Sequence[str]) -> dict[str, Passage]:
        """Decrypted passages of these ids (a bounded cache first, then the store in one request); an id the
        store no longer holds, or whose key is gone, is left out."""
        cache = self._shared.passages
        found = {i: cache[i] for i in ids if i in cache}
        wanted = [i for i in ids if i not in found]
        if wanted:
            for record_id, sealed in self.store.get(wanted).items():
                try:
                    found[record_id] = cache[record_id] = self.open_record(record_id, sealed)
                except MissingKey:
                    continue
            while len(cache) > PASSAGE_CACHE:
                cache.popitem(last=False)
        return found

    def _passage(self, record_id: str) -> Passage:
        return self._passages([record_id]).get(record_id) or Passage(record_id, "", "", None, 0, 0)

    def _holding(self, phrases: Sequence[str], bm25: dict[str, float], language: Language) -> list[str]:
        """Passages holding one of `phrases` verbatim (line breaks and case aside), best BM25 first."""
        wanted = [" ".join(p.lower().split()) for p in phrases]
        if not wanted or not self._lexical:
            return []
        # BM25 narrows a large store down to the passages with the phrases' words; then the verbatim check.
        found = list(dict.fromkeys(i for phrase in phrases
                                   for i, _ in self._lexical_search(phrase, HOLDING_CANDIDATES, language)))
        texts = self._passages(found)
        holding = [i for i in found if i in texts
                   and any(w in " ".join(texts[i].text.lower().split()) for w in wanted)]
        return sorted(holding, key=lambda i: -bm25.get(i, 0.0))

    def _lexical_search(self, query: str, k: int, language: Language) -> list[tuple[str, float]]:
        terms = language.terms(query)
        if not self.within:
            return [(h.id, h.score) for h in self._lexical.search(terms, k)]
        # Within a scope the index is asked for more, since it ranks the whole collection.
        found = self._lexical.search(terms, max(k, HOLDING_CANDIDATES))
        return [(h.id, h.score) for h in found if is_within(h.name, self.within)][:k]


class EncryptedStoreRetriever(BaseRetriever):
    """LangChain face of `Retriever`: decrypted `Document`s with source, page and score metadata."""

    retriever: Retriever
    k: int = 4

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                k: int | None = None, **kwargs: object) -> list[Document]:
        """`invoke(query, k=1)`: this call's number of documents; the constructor's `k` otherwise.

        A `k` in its signature makes `BaseRetriever.invoke` pass every keyword argument of `invoke` on to
        here: `verbose` is the callback manager's, anything else (`top_k=1`) a mistake that must not pass
        silently as the default number of documents."""
        unknown = sorted(set(kwargs) - {"verbose"})
        if unknown:
            raise TypeError(f"{type(self).__name__}.invoke() got unexpected keyword arguments: {', '.join(unknown)}")
        k = self.k if k is None else k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, not {k!r}")
        language = languages.of(query)
        interpreted, read_as = self.retriever.interpret(query, language)
        return [p.to_document() for p in self.retriever.search(interpreted, k, phrases=list(read_as.values()),
                                                               language=language)]

    async def _aget_relevant_documents(self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun,
                                       k: int | None = None, **kwargs: object) -> list[Document]:
        """`ainvoke(query, k=1)` alike: the base class's default takes no `k`, so the same search in a thread."""
        from langchain_core.runnables.config import run_in_executor

        return await run_in_executor(None, self._get_relevant_documents, query,
                                     run_manager=run_manager.get_sync(), k=k, **kwargs)
