"""Scanned PDFs and photos read by Tesseract, and the text clean-up every format goes through."""
from __future__ import annotations

import shutil
import sys

import pytest
from conftest import ROOT, SHARED

from rag.errors import FileFailed
from rag.ingest.load import Context, load_bytes

sys.path.insert(0, str(ROOT / "scripts"))
import fixtures_scans  # noqa: E402

needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None,
                               reason="tesseract is not installed (apt-get install tesseract-ocr tesseract-ocr-eng)")


@pytest.fixture
def no_tesseract(monkeypatch):
    """As on a machine without Tesseract."""
    import pytesseract

    from rag.ingest.formats import ocr

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    ocr.languages.cache_clear()
    yield
    ocr.languages.cache_clear()


@needs_ocr
def test_a_scanned_pdf_is_read_page_by_page_and_marked_as_ocr():
    units = load_bytes(fixtures_scans.scanned_pdf(), Context("scan.pdf"))
    assert [u.page for u in units] == [1, 2] and all(u.ocr for u in units)
    assert "badges must be returned to reception" in " ".join(units[1].text.split())


@needs_ocr
def test_a_mixed_pdf_reads_only_its_textless_page_by_ocr():
    units = load_bytes(fixtures_scans.mixed_pdf(), Context("mixed.pdf"))
    assert [(u.page, u.ocr) for u in units] == [(1, False), (2, True)]
    assert units[0].text.startswith("Parking permits are renewed every January")
    assert "17:00" in units[1].text


@needs_ocr
def test_a_photo_is_read_by_ocr():
    units = load_bytes(fixtures_scans.whiteboard_png(), Context("whiteboard.png"))
    assert len(units) == 1 and units[0].ocr and units[0].page is None
    assert "meeting room Fjord" in " ".join(units[0].text.split())


def test_a_decompression_bomb_image_is_refused_in_one_line():
    with pytest.raises(FileFailed, match="decompression bomb"):
        load_bytes(fixtures_scans.pixel_bomb_png(), Context("bomb.png"))


@needs_ocr  # without Tesseract an image is refused earlier, for want of it
def test_a_truncated_image_fails_cleanly():
    with pytest.raises(FileFailed, match="unreadable image"):
        load_bytes(fixtures_scans.whiteboard_png()[:200], Context("cut.png"))


def test_without_tesseract_a_scan_says_what_to_install(no_tesseract):
    with pytest.raises(FileFailed, match="scanned page, no OCR: install tesseract-ocr"):
        load_bytes(fixtures_scans.scanned_pdf(), Context("scan.pdf"))
    with pytest.raises(FileFailed, match="install tesseract-ocr"):
        load_bytes(fixtures_scans.whiteboard_png(), Context("whiteboard.png"))


def test_without_tesseract_a_mixed_pdf_keeps_its_text_pages_and_warns(no_tesseract):
    context = Context("mixed.pdf")
    units = load_bytes(fixtures_scans.mixed_pdf(), context)
    assert [u.page for u in units] == [1]
    assert context.warnings == ["scanned page, no OCR: install tesseract-ocr (with tesseract-ocr-eng / -fra) "
                                "and ingest again (pages 2 not read)"]


@needs_ocr
def test_ocr_languages_can_be_chosen_and_a_missing_one_is_named(monkeypatch):
    from rag.ingest.formats import ocr

    monkeypatch.setenv("RAG_OCR_LANGS", "eng+klingon")
    ocr.languages.cache_clear()
    try:
        with pytest.raises(FileFailed, match="RAG_OCR_LANGS names klingon"):
            ocr.languages()
    finally:
        ocr.languages.cache_clear()


@pytest.mark.parametrize("raw,clean", [
    ("the S and S\x02Plus environments", "the S and S-Plus environments"),  # PDFium's hyphen marker
    ("infor-\nmation and Zeit\x02\nraum", "information and Zeitraum"),  # words broken at line ends
    ("infor\u00admation", "information"),  # soft hyphen
    ("e\ufb03cient \ufb01les", "efficient files"),  # ligatures
    ("58\u202f000\u00a0km, zero\u200bwidth", "58 000 km, zerowidth"),
    ("bell\x07 and\r\nline\x0cfeed", "bell and\nline\nfeed"),
    ("Cafe\u0301", "Caf\u00e9"),  # composed, as typed
    ("Well-\nKnown", "Well-\nKnown"),  # a capital after the break: a real hyphen, kept
])
def test_text_is_normalised_once_for_every_format(raw, clean):
    from rag.ingest.formats.clean import normalize

    assert normalize(raw) == clean
    assert normalize(clean) == clean


def test_no_quote_from_the_r_manuals_shows_a_control_character():
    import unicodedata

    from rag.ingest.load import load_file

    manual = SHARED / "corpora" / "r-manuals" / "R-intro.pdf"
    if not manual.exists():
        pytest.skip(f"{manual} is not here (the shared corpora sit beside the project)")
    units = load_file(str(manual))
    page7 = next(u.text for u in units if u.page == 7)
    assert "S-Plus" in page7 or "S-PLUS" in page7
    bad = {c for u in units for c in u.text if unicodedata.category(c) == "Cc" and c not in "\n\t"}
    assert not bad


def test_a_scan_left_unread_without_tesseract_is_read_again_on_the_next_run(isolated):
    from conftest import run_cli

    folder = isolated / "docs"
    folder.mkdir()
    (folder / "mixed.pdf").write_bytes(fixtures_scans.mixed_pdf())
    no_ocr = {"PATH": "/nonexistent"}  # the CLI is started by absolute path; tesseract is not found
    first = run_cli("-m", "ingest", str(folder), env=no_ocr)
    assert first.returncode == 0, first.stderr
    assert "warning: mixed.pdf: scanned page, no OCR: install tesseract-ocr" in first.stderr
    again = run_cli("-m", "ingest", str(folder), "--dry-run", env=no_ocr)
    assert "would ingest 1" in again.stdout  # not taken for unchanged: the scanned page is still to read
