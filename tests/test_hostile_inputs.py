"""Hostile and broken inputs, generated here: each fails alone, with a reason, and the batch goes on."""
from __future__ import annotations

import io
import os
import sys
import time
import zlib
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

sys.path.insert(0, str(ROOT / "scripts"))
import fixtures_office  # noqa: E402
import fixtures_scans  # noqa: E402
import fixtures_web_mail  # noqa: E402

GOOD = "The Halvorsen sailing club meets every Thursday at the old boathouse.\n"


def _pdf(objects: list[bytes], root: int = 1) -> bytes:
    """A PDF with a correct xref table, from numbered object bodies."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref))
    return out.getvalue()


def _flate_bomb(megabytes: int) -> bytes:
    compressor = zlib.compressobj(9)
    block = b"(A) Tj " * (2**20 // 7)
    stream = b"".join(compressor.compress(block) for _ in range(megabytes)) + compressor.flush()
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
                 b"/Resources << /Font << /F1 5 0 R >> >> >>",
                 b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream",
                 b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"])


def _encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(612, 792)
    writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _hostile_corpus(folder: Path) -> dict[str, str]:
    """Writes the corpus; returns file name -> what the report must say about it."""
    folder.mkdir()
    (folder / "good.txt").write_text(GOOD)
    real_pdf = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                     b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"])
    files = {
        "zero-bytes.pdf": b"",
        "truncated.pdf": real_pdf[: len(real_pdf) // 2],
        "random-bytes.pdf": os.urandom(20_000),
        "page-tree-loop.pdf": _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                                    b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]),
        "flate-bomb.pdf": _flate_bomb(1024),
        "password.pdf": _encrypted_pdf(),
        "one-huge-line.txt": b"x" * (10 * 2**20),
        "invalid-utf8.txt": b"Caf\xe9 au lait \xff\xfe and more",
        # Office files are zip archives of XML; web pages, e-mail and images have their own bombs.
        "zip-bomb.docx": fixtures_office.zip_bomb_docx(),
        "billion-laughs.docx": fixtures_office.billion_laughs_docx(),
        "external-entity.xlsx": fixtures_office.external_entity_xlsx(),
        "password.docx": fixtures_office.password_protected_docx(),
        "truncated.pptx": fixtures_office.truncated_pptx(),
        "many-members.xlsx": fixtures_office.many_members_xlsx(),
        "huge.html": fixtures_web_mail.huge_html(),
        "nested-100.eml": fixtures_web_mail.deeply_nested_eml(),
        "parts-10000.eml": fixtures_web_mail.many_parts_eml(),
        "pixel-bomb.png": fixtures_scans.pixel_bomb_png(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    loop = folder / "loop"
    loop.mkdir()
    (loop / "self").symlink_to(loop, target_is_directory=True)
    os.mkfifo(folder / "fifo.txt")
    return {"zero-bytes.pdf": "failed", "truncated.pdf": "failed", "random-bytes.pdf": "failed",
            "page-tree-loop.pdf": "failed", "flate-bomb.pdf": "failed", "password.pdf": "password",
            "invalid-utf8.txt": "UTF-8", "fifo.txt": "not a regular file",
            "zip-bomb.docx": "zip bomb", "billion-laughs.docx": "XML DTD", "external-entity.xlsx": "XML DTD",
            "password.docx": "password-protected", "truncated.pptx": "truncated or corrupt",
            "many-members.xlsx": "likely zip bomb", "huge.html": "larger than 20 MB",
            "nested-100.eml": "nested more than 10 levels", "parts-10000.eml": "more than 1,000 MIME parts",
            "pixel-bomb.png": "decompression bomb"}


def test_every_hostile_file_fails_alone_and_the_batch_goes_on(isolated):
    from rag.api import Assistant

    expected = _hostile_corpus(isolated / "hostile")
    started = time.monotonic()
    result = run_cli("-m", "ingest", str(isolated / "hostile"),
                     env={"RAG_PARSE_MEMORY_MB": "768", "RAG_PARSE_TIMEOUT": "60"})
    elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    report = {line.split(":", 2)[1].strip(): line for line in result.stderr.splitlines()
              if line.startswith(("failed:", "skipped:"))}
    for name, reason in expected.items():
        line = next((v for k, v in report.items() if k.endswith(name)), "")
        assert line and (reason == "failed" or reason in line), f"{name}: {line or 'not reported'}"
    # The 10 MB single-line file is text, so it is ingested (in many chunks), not a failure.
    assert "ingested 2" in result.stdout.strip().splitlines()[-1]
    assert elapsed < 300
    hits = Assistant.open().search("When does the sailing club meet?", k=1)
    assert hits and hits[0].source == "good.txt"


def test_a_file_that_vanishes_before_parsing_is_reported(isolated):
    from rag.embed import default_embedder_dir
    from rag.ingest.worker import ParseWorker

    worker = ParseWorker(str(default_embedder_dir()), 256)
    try:
        gone = isolated / "gone.txt"
        gone.write_text(GOOD)
        gone.unlink()
        worker.submit(str(gone))
        (isolated / "next.txt").write_text(GOOD)
        worker.submit(str(isolated / "next.txt"))  # the worker survives and parses the next file
        first, second = worker.next_result(), worker.next_result()
    finally:
        worker.close()
    assert first.error and "cannot read" in first.error
    assert second.error is None and second.chunks


@pytest.mark.parametrize("timeout", ["2"])
def test_a_parser_that_hangs_is_stopped_and_the_next_file_still_parses(isolated, timeout, monkeypatch):
    from rag.embed import default_embedder_dir
    from rag.ingest import worker as worker_module

    monkeypatch.setattr(worker_module, "TIMEOUT_SECONDS", float(timeout))
    fifo = isolated / "blocks-forever.txt"
    os.mkfifo(fifo)  # reading a FIFO nobody writes to blocks, like a parser stuck in a loop
    good = isolated / "good.txt"
    good.write_text(GOOD)
    worker = worker_module.ParseWorker(str(default_embedder_dir()), 256)
    try:
        worker.submit(str(fifo))
        worker.submit(str(good))
        first, second = worker.next_result(), worker.next_result()
    finally:
        worker.close()
    assert first.error and "longer than 2 s" in first.error
    assert second.error is None and GOOD.strip() in second.chunks[0].text
