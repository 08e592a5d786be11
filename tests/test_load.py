"""Loading files (ingest/load.py): text units with citation addresses; bad files fail cleanly."""
import logging
import random

import pytest

from rag.errors import FileFailed
from rag.ingest.load import load_file

MARKDOWN = """Preamble line before any heading.

# Handbook

Intro to the handbook.

## Travel

Travel policy overview.

### Expenses

Receipts are required for every claim.

```bash
# not a heading
echo done
```

Claims are paid monthly.

## Leave #

Leave text here.
"""


def write(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(path)


def test_markdown_heading_paths_and_fences(tmp_path):
    units = load_file(write(tmp_path, "handbook.md", MARKDOWN))
    by_first_line = {u.text.splitlines()[0]: u for u in units}
    assert by_first_line["Preamble line before any heading."].headings == []
    assert by_first_line["# Handbook"].headings == ["Handbook"]
    assert by_first_line["## Travel"].headings == ["Handbook", "Travel"]
    expenses = by_first_line["### Expenses"]
    assert expenses.headings == ["Handbook", "Travel", "Expenses"]
    # the fenced '# not a heading' stays inside the Expenses section
    assert "# not a heading" in expenses.text
    assert "Claims are paid monthly." in expenses.text
    # a level-2 heading pops the level-3 one; closing #s are not part of the title
    assert by_first_line["## Leave #"].headings == ["Handbook", "Leave"]
    assert len(units) == 5
    assert all(u.page is None for u in units)


def test_markdown_offsets_are_exact(tmp_path):
    text = "\ufeff" + MARKDOWN.replace("\n", "\r\n")  # BOM and CRLF line endings
    units = load_file(write(tmp_path, "handbook.md", text))
    # Offsets count in the file's text as it is read: no BOM, line ends normalised to "\n".
    file_text = MARKDOWN
    for u in units:
        assert file_text[u.offset:u.offset + len(u.text)] == u.text
    assert "".join(u.text for u in units) == file_text


def test_plain_text_file(tmp_path):
    units = load_file(write(tmp_path, "notes.txt", "Grüße aus Köln.\nZweite Zeile."))
    assert len(units) == 1
    assert units[0].text == "Grüße aus Köln.\nZweite Zeile."
    assert units[0].offset == 0 and units[0].page is None and units[0].headings == []


def test_invalid_utf8_fails_with_reason(tmp_path):
    path = write(tmp_path, "latin1.txt", "Gr\u00fc\u00dfe".encode("latin-1"))
    with pytest.raises(FileFailed, match="UTF-8"):
        load_file(path)


@pytest.mark.parametrize("content", [b"", b"   \n\t\n  ", b"\xef\xbb\xbf\n"])
@pytest.mark.parametrize("name", ["empty.txt", "empty.md"])
def test_empty_file_fails(tmp_path, name, content):
    with pytest.raises(FileFailed, match="no extractable text"):
        load_file(write(tmp_path, name, content))


def make_pdf(path, pages, encrypt=None):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)  # byte-identical on every run
    for text in pages:
        c.drawString(72, 720, text)
        c.showPage()
    c.save()
    if encrypt:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(str(path)))
        writer.encrypt(encrypt)
        with open(path, "wb") as out:
            writer.write(out)
    return str(path)


def test_pdf_pages_become_units(tmp_path):
    pages = ["First page about invoices.", "Second page about refunds.", "Third page about contacts."]
    units = load_file(make_pdf(tmp_path / "doc.pdf", pages))
    assert [u.page for u in units] == [1, 2, 3]
    for unit, text in zip(units, pages):
        assert text in unit.text
    assert "refunds" not in units[0].text and "invoices" not in units[1].text


def test_pdf_blank_page_is_skipped(tmp_path):
    units = load_file(make_pdf(tmp_path / "doc.pdf", ["Page one text.", "", "Page three text."]))
    assert [u.page for u in units] == [1, 3]


@pytest.mark.parametrize("header", [b"", b"%PDF-1.7\n"])
def test_random_bytes_pdf_fails_cleanly(tmp_path, header):
    path = write(tmp_path, "fake.pdf", header + random.Random(1).randbytes(4096))
    with pytest.raises(FileFailed, match="PDF|no extractable text"):
        load_file(path)


def test_corrupted_pdfs_fail_cleanly(tmp_path, caplog):
    """A damaged PDF is one file's failure with a reason, never a crash with another exception."""
    caplog.set_level(logging.CRITICAL, logger="pypdf")
    real = make_pdf(tmp_path / "real.pdf", ["Page one text.", "Page two text.", "Page three text."])
    data = open(real, "rb").read()
    crashes = {}
    for seed in range(300):
        rng = random.Random(seed)
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 20)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path = write(tmp_path, f"damaged{seed}.pdf", bytes(damaged))
        try:
            units = load_file(path)
        except FileFailed:
            continue
        except Exception as exc:  # noqa: BLE001 - this is what the test looks for
            crashes.setdefault(type(exc).__name__, []).append(seed)
            continue
        assert all(isinstance(u.text, str) and u.page >= 1 for u in units)
    assert crashes == {}


def test_truncated_pdf_fails_cleanly(tmp_path):
    real = make_pdf(tmp_path / "real.pdf", ["Some text here."])
    data = open(real, "rb").read()
    path = write(tmp_path, "cut.pdf", data[: len(data) // 3])
    try:
        units = load_file(path)
    except FileFailed:
        return
    assert all(isinstance(u.text, str) for u in units)  # pypdf may recover; it must not crash


def test_encrypted_pdf_fails_mentioning_password(tmp_path):
    path = make_pdf(tmp_path / "locked.pdf", ["Top secret content."], encrypt="secret")
    with pytest.raises(FileFailed, match="password"):
        load_file(path)
