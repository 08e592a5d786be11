"""End to end: a folder holding one file of each format, ingested and asked with the real models.

The files are written by scripts/make_format_fixtures.py (invented facts, each in one file only).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from conftest import ROOT, files_holding, run_cli

sys.path.insert(0, str(ROOT / "scripts"))
from make_format_fixtures import write_fixtures  # noqa: E402

needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None,
                               reason="tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")

# question, fact in the answer or its quote, cited source, cited page (slide, sheet) or None
ANSWERABLE = [
    ("Who is the site manager of the Carrow Fen depot?", "Ingrid Halvorsen", "handbook.docx", None),
    ("How long a sabbatical may staff with seven years of service take?", "12 weeks", "handbook.docx", None),
    ("How many electric vans did the board approve?", "14", "deck.pptx", 3),
    ("Who is the custodian of the thermal camera?", "Oskar Brandt", "register.xlsx", 2),
    ("What is the extension of the payroll contact?", "4417", "contacts.csv", None),
    ("When does the Quayside canteen serve lunch?", "11:30", "intranet.html", None),
    ("When will water be shut off in Building C?", "14 March", "notice.eml", None),
    ("Which company is the plumbing contractor for the works?", "Brekke", "notice.eml/contractors.pdf", 1),
]
SCANNED = [
    ("By what time must visitor badges be returned to reception?", "17:00", "scan.pdf", 2),
    ("In which meeting room is the sprint review?", "Fjord", "whiteboard.png", None),
]
# Facts that only the scan, the photo and the attachment hold: none may be readable under the store.
CANARIES = ["Brekke", "badges must be returned", "meeting room Fjord", "Oskar Brandt", "Ingrid Halvorsen",
            "Quayside canteen"]


@pytest.fixture(scope="module")
def formats_store(tmp_path_factory, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("formats")
    folder = base / "documents"
    write_fixtures(folder)
    settings = Settings(store=str(base / "store"), key_file=base / "keys" / "key")
    summary = run_ingest([folder], settings, embedder=embedder)
    return settings, summary, folder


@pytest.fixture(scope="module")
def formats_assistant(formats_store, embedder, generator):
    from rag.api import Assistant
    from rag.store.vault import open_collections
    from rag.store.keyring import open_keyring

    settings = formats_store[0]
    keyring = open_keyring(settings, Path(settings.store), create=False)
    return Assistant(settings, keyring, open_collections(settings, keyring, embedder), embedder, generator)


def test_every_file_of_the_folder_ingests(formats_store):
    _, summary, folder = formats_store
    scans = {"scan.pdf", "whiteboard.png"}
    if shutil.which("tesseract"):
        assert summary.failed == []
        assert summary.warnings == [("notice.eml", "attachment 'logo.gif': unsupported type '.gif', not ingested")]
        assert sorted(summary.ingested) == sorted(p.name for p in folder.iterdir())
    else:  # each scan is reported in one line, saying what to install; the rest ingests
        assert {name for name, _ in summary.failed} == scans
        assert all("install tesseract-ocr" in reason for _, reason in summary.failed)
        assert sorted(summary.ingested) == sorted(p.name for p in folder.iterdir() if p.name not in scans)
    assert summary.skipped == []


def _check_cited(answer, fact: str, source: str, page: int | None) -> None:
    assert not answer.abstained, answer.render_text()
    citation = answer.citations[0]
    assert (citation.source, citation.page) == (source, page), answer.render_text()
    assert fact in answer.answer or fact in citation.quote, answer.render_text()


@pytest.mark.parametrize("question,fact,source,page", ANSWERABLE)
def test_a_fact_in_one_file_is_answered_citing_that_file(formats_assistant, question, fact, source, page):
    _check_cited(formats_assistant.ask(question), fact, source, page)


@needs_ocr
@pytest.mark.parametrize("question,fact,source,page", SCANNED)
def test_a_fact_on_a_scan_is_answered_citing_the_scanned_page(formats_assistant, question, fact, source, page):
    answer = formats_assistant.ask(question)
    _check_cited(answer, fact, source, page)
    assert answer.citations[0].ocr and answer.to_dict()["citations"][0]["ocr"] is True
    assert "(scanned)" in answer.render_text()


def test_a_value_only_in_a_web_pages_script_is_not_answerable(formats_assistant):
    answer = formats_assistant.ask("What is the discount code for the staff shop?")
    assert answer.abstained, answer.render_text()
    assert "ZEBRA-9931" not in answer.to_json()
    assert not any("ZEBRA-9931" in p.text for p in formats_assistant.search("staff shop discount code", k=20))


def test_slides_and_sheets_are_named_as_such_in_citations(formats_assistant):
    answer = formats_assistant.ask("How many electric vans did the board approve?")
    assert "deck.pptx, slide 3" in answer.render_text()


def test_no_ocr_or_attachment_text_is_readable_under_the_store(formats_store):
    store = Path(formats_store[0].store)
    for phrase in CANARIES:
        assert files_holding(store, phrase.encode()) == [], phrase


@needs_ocr
def test_rerun_over_the_folder_changes_nothing(formats_store):
    settings, _, folder = formats_store
    done = run_cli("-m", "ingest", str(folder), "--dry-run",
                   env={"RAG_STORE": settings.store, "RAG_KEY_FILE": str(settings.key_file)})
    assert done.returncode == 0, done.stderr
    assert "would ingest 0" in done.stdout
