"""The persistent, sealed lexical index (rag/store/lexicon.py): the same top passages as a freshly built
in-memory BM25, following every change of the store, never a document word in clear on disk."""
from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED, copy_docs, files_holding, run_cli

from rag import language as languages

MANUALS = SHARED / "corpora" / "r-manuals"
QUESTIONS = Path(__file__).resolve().parents[1] / "bench" / "data" / "rmanuals_design.json"
# Document words of the demo documents (their canaries), as written and as the English analysis keeps them.
CANARY_WORDS = ["quillfeather", "bluefin", "saffron", "kestrel", "vantablue", "vantablu"]


def _fresh_bm25(passages: list[tuple[str, str, str]]):
    """bm25s over (id, text, language) exactly as the index was built before it persisted: the reference."""
    import bm25s

    index = bm25s.BM25()
    index.index([languages.get(lang).terms(text) for _, text, lang in passages], show_progress=False)
    ids = [i for i, _, _ in passages]

    def search(query: str, language) -> dict[str, float]:
        terms = [t for t in language.terms(query) if t in index.vocab_dict]
        if not terms:
            return {}
        docs, scores = index.retrieve([terms], k=len(ids), show_progress=False)
        return {ids[d]: float(s) for d, s in zip(docs[0], scores[0]) if s > 0}

    return search


def _assert_same_top(reference: dict[str, float], hits: list[tuple[str, float]], k: int, query: str) -> None:
    """The same top-k scores, and every passage returned scored as the reference scores it: passages tied at
    the cut may come in either order, nothing else may differ."""
    expected = sorted(reference.values(), reverse=True)[:k]
    assert np.allclose([s for _, s in hits], expected, rtol=1e-6, atol=1e-7), query
    for record_id, score in hits:
        assert record_id in reference and abs(reference[record_id] - score) <= 1e-6 * max(1.0, score), query


def _queries(passages: list[tuple[str, str, str]], extra: list[str], every: int = 1) -> list[str]:
    """Each passage's opening words (a query its own words answer) and the given questions."""
    return extra + [" ".join(text.split()[:8]) for _, text, _ in passages[::every]]


def _records(retriever) -> list[tuple[str, str, str]]:
    passages = [retriever.open_record(i, s) for i, s, _, _ in retriever.store.scan()]
    return [(p.id, p.text, p.language) for p in passages]


def _retriever(settings, embedder):
    from rag.retrieve import Retriever
    from rag.store.keyring import open_keyring
    from rag.store.vault import open_collections

    from rag.store.chroma import state_dir_for

    keyring = open_keyring(settings, state_dir_for(settings), create=False)
    return Retriever(open_collections(settings, keyring, embedder), embedder)


def test_the_same_top_passages_as_a_fresh_in_memory_bm25_on_the_demo_documents(demo_store, embedder):
    retriever = _retriever(demo_store, embedder)
    retriever._refresh_lexical()
    records = _records(retriever)
    reference = _fresh_bm25(records)
    english = languages.get("en")
    questions = ["How many days of paid annual leave do employees get?", "Which ledger records claim payments?",
                 "Who is the CEO?", "What is the budget of the Saffron Kestrel project?", "the and of"]
    for query in _queries(records, questions):
        language = languages.of(query)
        hits = [(h.id, h.score) for h in retriever._lexical.search(language.terms(query), 10)]
        _assert_same_top(reference(query, language), hits, 10, query)
    # Rarity and acronyms as the in-memory index read them.
    assert retriever.rarity("ledger", english) > retriever.rarity("claim", english)
    assert retriever.read_acronyms("What does the CEO approve?", english) == {"CEO": "Chief Executive Officer"}


def _manual_chunks(embedder) -> list[tuple[str, str, str, str, str]]:
    """The R manuals parsed and chunked as `python -m ingest` does (no embedding): (id, source, name, text, lang)."""
    from rag.ingest.job import _document_name, _languages, SourceFile
    from rag.ingest.worker import ParseWorker

    worker = ParseWorker(str(embedder.model_dir), embedder.max_tokens)
    chunks = []
    try:
        for path in sorted(MANUALS.glob("*.pdf")):
            worker.submit(str(path))
        while len(worker):
            parsed = worker.next_result()
            assert not parsed.error, parsed.error
            source = SourceFile(Path(parsed.path), MANUALS)
            language = _languages(parsed.chunks, "auto")
            chunks += [(f"{source.relative}#{n:05d}", source.relative, _document_name(source, c), c.text,
                        language[c.part]) for n, c in enumerate(parsed.chunks)]
    finally:
        worker.close()
    return chunks


@pytest.mark.slow
@pytest.mark.skipif(not MANUALS.exists(), reason=f"{MANUALS} not found")
def test_the_same_top_passages_as_a_fresh_in_memory_bm25_on_the_r_manuals(tmp_path, embedder, monkeypatch):
    from rag.store import lexicon
    from rag.store.keyring import CollectionKeys

    chunks = _manual_chunks(embedder)
    assert len(chunks) > 2000
    # Small segments and merges of three: the index that answers has been written, merged and purged.
    monkeypatch.setattr(lexicon, "SEGMENT_DOCS", 400)
    monkeypatch.setattr(lexicon, "MERGE_FACTOR", 3)
    keys = CollectionKeys.new()
    writer = lexicon.LexiconWriter.open(tmp_path, keys)
    by_source: dict[str, list] = {}
    for record_id, source, name, text, lang in chunks:
        by_source.setdefault(source, []).append((record_id, text, lang, name))
    for source, found in by_source.items():
        writer.add(source, "v1", found)
        writer.commit()
    writer.add("R-FAQ.pdf", "v2", by_source["R-FAQ.pdf"])  # re-ingested: its old chunks become tombstones
    writer.remove(["R-data.pdf"])  # pruned
    writer.commit()
    writer.close()
    live = [c for c in chunks if c[1] != "R-data.pdf"]

    class Reader(lexicon.Lexicon):
        def _lags(self, _):
            return False

    vault = type("V", (), {"state_dir": tmp_path, "keys": keys})()
    persisted = lexicon.LexiconSet([Reader(vault, None)])
    persisted.refresh()
    assert len(persisted) == len(live)
    reference = _fresh_bm25([(i, text, lang) for i, _, _, text, lang in live])
    questions = [q["question"] for q in json.loads(QUESTIONS.read_text())["questions"]]
    for query in _queries([(i, t, g) for i, _, _, t, g in live], questions, every=25):
        language = languages.of(query)
        hits = [(h.id, h.score) for h in persisted.search(language.terms(query), 10)]
        _assert_same_top(reference(query, language), hits, 10, query)
    # Nothing of the pruned manual is left on disk once its segments are purged.
    writer = lexicon.LexiconWriter.open(tmp_path, keys)
    writer.purge()
    assert not writer.state.tombstones
    names = {n for s in writer.segments.values() for n in s.table("names")}
    assert "R-data.pdf" not in names and len(writer.segments) >= 1
    writer.close()


def _lexical_ids(retriever, query: str) -> set[str]:
    retriever._refresh_lexical()
    english = languages.get("en")
    return {h.id for h in retriever._lexical.search(english.terms(query), 50)} if retriever._lexical else set()


def _sources(retriever, query: str) -> set[str]:
    return {p.source for p in retriever._passages(sorted(_lexical_ids(retriever, query))).values()}


def test_it_follows_reingest_prune_and_collection_deletion_and_a_deleted_chunk_never_comes_back(isolated, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings
    from rag.store.collections import delete_collection
    from rag.store.keyring import open_keyring
    from rag.store.lexicon import LexiconWriter, lexicon_dir

    settings = Settings.from_env()
    docs = copy_docs(isolated / "docs")
    run_ingest([docs], settings, embedder=embedder)
    reader = _retriever(settings, embedder)  # a long-lived reader (the API server) follows every change
    assert _sources(reader, "Vantablue ledger") == {"procedures/claims-procedure.txt"}
    old_ids = _lexical_ids(reader, "Vantablue")
    target = docs / "procedures" / "claims-procedure.txt"
    target.write_text(target.read_text().replace("Vantablue", "Zorblaxian"))
    run_ingest([docs], settings, embedder=embedder)
    assert _lexical_ids(reader, "Vantablue") == set()
    assert _sources(reader, "Zorblaxian ledger") == {"procedures/claims-procedure.txt"}
    assert not (old_ids & _lexical_ids(reader, "ledger"))  # the replaced chunks are gone, not just outranked
    assert _lexical_ids(_retriever(settings, embedder), "Vantablue") == set()  # nor do they come back elsewhere
    target.unlink()
    run_ingest([docs], settings, embedder=embedder, prune=True)
    assert _lexical_ids(reader, "Zorblaxian") == set()
    assert _lexical_ids(_retriever(settings, embedder), "Zorblaxian ledger") & old_ids == set()
    # The deletion purged the index: no segment on disk holds a chunk of the deleted document any more.
    keys = open_keyring(settings, isolated / "store", create=False).collection("default")
    writer = LexiconWriter.open(isolated / "store", keys)
    assert not writer.state.tombstones
    assert all("procedures/claims-procedure.txt" not in s.table("names") for s in writer.segments.values())
    writer.close()
    assert files_holding(isolated / "store", b"Zorblaxian") == files_holding(isolated / "store", b"zorblaxian") == []
    # A second collection; deleting it takes its index along (its key is destroyed in the same step).
    hr = replace(settings, collection="hr")
    run_ingest([docs / "meetings"], hr, embedder=embedder)
    hr_keys = open_keyring(hr, isolated / "store", create=False).collection("hr")
    assert lexicon_dir(isolated / "store", hr_keys).exists()
    both = _retriever(replace(settings, collection="default,hr"), embedder)
    assert _sources(both, "Saffron Kestrel") == {"meetings/2026-03-board-meeting.md", "2026-03-board-meeting.md"}
    delete_collection(hr, "hr")
    assert not lexicon_dir(isolated / "store", hr_keys).exists()


def test_no_document_word_is_readable_in_any_file_under_the_store(isolated, embedder):
    from conftest import CANARIES

    assert run_cli("-m", "ingest", str(copy_docs(isolated / "docs"))).returncode == 0
    result = run_cli("-m", "rag.ask", "Which ledger records large claim payments?", "--json")
    assert result.returncode == 0, result.stderr
    for needle in CANARIES + CANARY_WORDS:
        for form in {needle, needle.lower(), needle.upper(), needle.title()}:
            assert files_holding(isolated / "store", form.encode()) == [], form


def test_a_store_made_before_the_index_gets_it_built_once_on_first_open(isolated, embedder, monkeypatch):
    from rag.ingest import run_ingest
    from rag.settings import Settings
    from rag.store import lexicon

    settings = Settings.from_env()
    run_ingest([copy_docs(isolated / "docs")], settings, embedder=embedder)
    for folder in (isolated / "store").glob("lexicon-*"):
        shutil.rmtree(folder)  # as a store written by the release before this index
    builds = []
    real_sync = lexicon.LexiconWriter.sync
    monkeypatch.setattr(lexicon.LexiconWriter, "sync", lambda self, *a, **k: builds.append(real_sync(self, *a, **k))
                        or builds[-1])
    first = _retriever(settings, embedder)
    assert first.search("Which ledger records claim payments?", 3)[0].source == "procedures/claims-procedure.txt"
    assert builds == [34] and list((isolated / "store").glob("lexicon-*/seg-*.lex"))
    second = _retriever(settings, embedder)
    second.search("Which ledger records claim payments?", 3)
    assert builds == [34]  # never again


def test_a_reader_during_an_ingest_catches_up_in_memory_and_writes_nothing(isolated, embedder):
    from filelock import FileLock

    from rag.ingest import run_ingest
    from rag.settings import Settings

    settings = Settings.from_env()
    run_ingest([copy_docs(isolated / "docs")], settings, embedder=embedder)
    for folder in (isolated / "store").glob("lexicon-*"):
        shutil.rmtree(folder)
    with FileLock(str(isolated / "store" / ".ingest.lock")):  # an ingest holds the store
        retriever = _retriever(settings, embedder)
        assert _sources(retriever, "Vantablue ledger") == {"procedures/claims-procedure.txt"}
    assert not list((isolated / "store").glob("lexicon-*"))


def test_key_rotation_reseals_the_index_under_the_new_data_key(isolated, embedder):
    import struct

    from rag.ingest import run_ingest
    from rag.keys import rotate
    from rag.settings import Settings
    from rag.store.keyring import open_keyring

    settings = Settings.from_env()
    run_ingest([copy_docs(isolated / "docs")], settings, embedder=embedder)
    rotate(settings, reencrypt=True)
    keys = open_keyring(settings, isolated / "store", create=False).collection("default")
    assert list(keys.data_keys) == [2]
    for path in (isolated / "store").glob("lexicon-*/*"):
        assert struct.unpack_from(">4sBI", path.read_bytes())[2] == 2, path.name
    assert _sources(_retriever(settings, embedder), "Vantablue ledger") == {"procedures/claims-procedure.txt"}


def test_the_in_memory_index_and_the_persistent_one_agree_on_an_acronym_spelt_out():
    from rag.retrieve import LexicalIndex, Passage

    texts = {"a": "The Chief Executive Officer, Magnus Dahl, approves budgets.",
             "b": "Halvorsen Maritime Insurance (HMI) pays pensions. HMI is large.",
             "c": "The CEO met the Chief Executive Officer of Halvorsen Maritime Insurance."}
    index = LexicalIndex({i: Passage(i, t, "a.txt", None, 0, len(t)) for i, t in texts.items()})
    from rag.acronyms import AcronymIndex

    reference = AcronymIndex(texts.values())
    stored = index.index.acronyms()
    for acronym in ("CEO", "HMI", "XYZ"):
        assert stored.long_form(acronym) == reference.long_form(acronym), acronym
