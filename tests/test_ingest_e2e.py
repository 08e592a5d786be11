"""End to end: the batch job on the real demo documents, with the real embedder."""
from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import (CANARIES, copy_docs, files_holding, network_namespace_available, records_of, run_cli,
                      store_bytes)


def _summary_line(out: str) -> str:
    return out.strip().splitlines()[-1]


def test_ingest_leaves_no_readable_byte_even_after_reingest_and_prune(isolated):
    docs = copy_docs(isolated / "docs")
    store = isolated / "store"
    first = run_cli("-m", "ingest", str(docs))
    assert first.returncode == 0, first.stderr
    assert "ingested 4" in _summary_line(first.stdout)
    blob = store_bytes(store)
    assert len(blob) > 100_000  # the store really holds the vectors and records
    for phrase in CANARIES + ["hr-policy", "claims-procedure", "Ingrid Solberg"]:
        assert phrase.encode() not in blob, f"{phrase!r} readable in the store"
        assert phrase.encode("utf-16-le") not in blob

    again = run_cli("-m", "ingest", str(docs))
    assert again.returncode == 0
    assert "ingested 0, unchanged 4" in _summary_line(again.stdout)
    assert "0 chunks" in _summary_line(again.stdout)

    doomed = records_of("procedures/claims-procedure.txt")
    assert len(doomed) >= 3
    (docs / "procedures" / "claims-procedure.txt").unlink()
    pruned = run_cli("-m", "ingest", str(docs), "--prune")
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 1" in _summary_line(pruned.stdout)
    blob = store_bytes(store)
    for phrase in CANARIES:
        assert phrase.encode() not in blob
    for record_id, sealed, vector in doomed:  # really gone: no ciphertext, id or vector of the file
        for needle in (sealed[:48].encode(), record_id.encode(), vector[:8].tobytes()):
            assert needle not in blob, f"a pruned record's bytes are still in {files_holding(store, needle)}"
    # Only the live collection's vector folder is left: a dropped one would hold the pruned vectors.
    assert len([p for p in (store / "chroma").iterdir() if p.is_dir()]) == 1


def test_vector_files_hold_nothing_past_their_records_and_readers_leave_them_alone(isolated):
    """Chroma writes an HNSW index's unused capacity from uninitialised memory (chroma-core/chroma#7688):
    past the live elements only zeros may be left, and asking must not write the files again."""
    import struct

    docs = copy_docs(isolated / "docs")
    assert run_cli("-m", "ingest", str(docs)).returncode == 0
    claims = docs / "procedures" / "claims-procedure.txt"
    claims.write_text(claims.read_text() + "\nFrom 2027, claims above 500 EUR need a second approver.\n")
    assert run_cli("-m", "ingest", str(docs)).returncode == 0  # a changed file: stale records go, compaction
    headers = list((isolated / "store" / "chroma").glob("*/header.bin"))
    assert len(headers) == 1
    _, _, _, live, per_element = struct.unpack_from("<IQQQQ", headers[0].read_bytes())
    assert live >= 10  # the records are in the index itself, not only in Chroma's log
    folder = headers[0].parent
    assert not (folder / "data_level0.bin").read_bytes()[live * per_element:].strip(b"\0")
    assert not (folder / "length.bin").read_bytes()[live * 4:].strip(b"\0")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    asked = run_cli("-m", "rag.ask", "Which claims need a second approver?", "--json")
    assert asked.returncode == 0, asked.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_rerun_over_unchanged_files_parses_and_embeds_nothing(isolated, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings

    class CountingEmbedder:
        """The real embedder, counting how many texts it is asked to embed."""

        def __init__(self, inner):
            self.inner, self.texts = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def encode(self, texts):
            self.texts += len(texts)
            return self.inner.encode(texts)

    settings = Settings.from_env()
    counting = CountingEmbedder(embedder)
    first = run_ingest([copy_docs(isolated / "docs")], settings, embedder=counting)
    assert counting.texts == first.chunks > 20
    counting.texts = 0
    second = run_ingest([isolated / "docs"], settings, embedder=counting)
    assert counting.texts == 0
    assert second.pages == 0 and second.chunks == 0
    assert sorted(second.unchanged) == sorted(first.ingested)


def test_changed_file_replaces_its_chunks(isolated, embedder):
    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings

    docs = copy_docs(isolated / "docs")
    settings = Settings.from_env()
    run_ingest([docs], settings, embedder=embedder)
    note = docs / "procedures" / "claims-procedure.txt"
    note.write_text("Claims procedure, revised.\n\nEvery claim is now approved by the Brightwater committee "
                    "within ten working days.\n")
    summary = run_ingest([docs], settings, embedder=embedder)
    assert summary.ingested == ["procedures/claims-procedure.txt"]
    assistant = Assistant.open(settings=settings)
    texts = [p.text for p in assistant.search("Vantablue ledger claim payments", k=10)
             if p.source == "procedures/claims-procedure.txt"]
    assert texts and all("Vantablue" not in t for t in texts)
    assert any("Brightwater" in t for t in texts)
    docs_info = {d.source: d for d in assistant.documents()}
    assert docs_info["procedures/claims-procedure.txt"].chunks == 1


def test_corrupt_pdf_among_good_files_fails_alone(isolated, embedder):
    from rag.api import Assistant

    docs = copy_docs(isolated / "docs")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.7\n" + os.urandom(3000))
    (docs / "empty.txt").write_text("   \n")
    (docs / "diagram.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    result = run_cli("-m", "ingest", str(docs), process=True)  # a real process: no traceback on its stderr
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "failed:  broken.pdf:" in result.stderr
    assert "failed:  empty.txt: no extractable text" in result.stderr
    assert "skipped: " in result.stderr and "diagram.svg" in result.stderr
    assert "ingested 4" in _summary_line(result.stdout)
    passages = Assistant.open().search("paid annual leave days per calendar year", k=3)
    assert any("27 days of paid annual leave" in p.text and p.page == 2 for p in passages)


def test_wrong_key_is_one_line_exit_2_and_writes_nothing(isolated, tmp_path):
    docs = copy_docs(isolated / "docs")
    assert run_cli("-m", "ingest", str(docs / "procedures")).returncode == 0
    before = store_bytes(isolated / "store")
    other = tmp_path / "other" / "key"
    other.parent.mkdir()
    other.write_text("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n")
    other.chmod(0o600)
    result = run_cli("-m", "ingest", str(docs), env={"RAG_KEY_FILE": str(other)})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "wrong key file" in result.stderr
    pending = isolated / "store" / "audit.pending"
    assert "wrong key file" in pending.read_text()  # the attempt is recorded for the audit log...
    pending.unlink()
    assert store_bytes(isolated / "store") == before  # ...and nothing else was written


def test_key_file_readable_by_others_is_refused(isolated):
    key = isolated / "keys" / "key"
    key.parent.mkdir()
    key.write_text("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n")
    key.chmod(0o644)
    result = run_cli("-m", "ingest", str(copy_docs(isolated / "docs")))
    assert result.returncode == 2 and "chmod 600" in result.stderr
    assert not (isolated / "store" / "chroma").exists()


def test_store_built_by_another_embedder_is_refused(isolated, embedder):
    from rag.api import Assistant
    from rag.errors import StoreProblem
    from rag.ingest import run_ingest
    from rag.settings import Settings

    run_ingest([copy_docs(isolated / "docs") / "procedures"], Settings.from_env(), embedder=embedder)
    other = isolated / "other-embedder"
    shutil.copytree(embedder.model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["note"] = "a different model"
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(StoreProblem, match="was built with embedder 'all-MiniLM-L6-v2'"):
        Assistant.open(embedder=str(other))


def test_dry_run_writes_nothing(isolated):
    result = run_cli("-m", "ingest", str(copy_docs(isolated / "docs")), "--dry-run")
    assert result.returncode == 0
    assert "would ingest 4" in result.stdout
    assert not (isolated / "store").exists() or not any((isolated / "store").iterdir())
    assert not (isolated / "keys" / "key").exists()


@pytest.mark.skipif(not network_namespace_available(), reason="unshare -rn (user+network namespace) not permitted here")
def test_ingest_runs_with_no_network_at_all(isolated):
    result = run_cli("-m", "ingest", str(copy_docs(isolated / "docs")), prefix=("unshare", "-rn"))
    assert result.returncode == 0, result.stderr
    assert "ingested 4" in _summary_line(result.stdout)
