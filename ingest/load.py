"""Load: one file in, its text units out (PDF pages, Markdown sections, a text file's body).

Runs in a worker process (see `ingest.job`), so a hostile file can crash or hang only that worker.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import FileFailed

SUPPORTED = {".pdf", ".txt", ".md", ".markdown"}


@dataclass
class Unit:
    """A piece of a file with its own citation address: a page, or a Markdown section."""

    text: str
    page: int | None = None  # 1-based PDF page
    headings: list[str] = field(default_factory=list)
    offset: int = 0  # where `text` starts in the file's text (for text files) or page


def load_file(path: str) -> list[Unit]:
    suffix = Path(path).suffix.lower()
    if suffix == ".pdf":
        units = _load_pdf(path)
    elif suffix in (".md", ".markdown"):
        units = _markdown_sections(_read_text(path))
    else:
        units = [Unit(_read_text(path))]
    units = [u for u in units if u.text.strip()]
    if not units:
        raise FileFailed("no extractable text (empty, or a scanned PDF without a text layer)")
    return units


def _read_text(path: str) -> str:
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFailed(f"not valid UTF-8 text (byte {exc.start}); convert it to UTF-8") from None


_PASSWORD = "password-protected PDF; remove the password and ingest again"


def _load_pdf(path: str) -> list[Unit]:
    """PDFium (Chrome's PDF engine) reads text about 10x faster than pypdf; pypdf is the second
    opinion for files PDFium rejects, so one parser's quirk does not cost a document."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(path)
        try:
            return [Unit(_clean(document[number].get_textpage().get_text_bounded()), page=number + 1)
                    for number in range(len(document))]
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise FileFailed(_PASSWORD) from None
        return _load_pdf_with_pypdf(path)


def _load_pdf_with_pypdf(path: str) -> list[Unit]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise FileFailed(_PASSWORD)
            except FileNotDecryptedError:
                raise FileFailed(_PASSWORD) from None
        return [Unit(_clean(page.extract_text() or ""), page=number)
                for number, page in enumerate(reader.pages, start=1)]
    except FileFailed:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            NotImplementedError, OSError) as exc:
        raise FileFailed(f"unreadable PDF ({type(exc).__name__}: {str(exc)[:120]})") from None


_SPACES = re.compile(r"[ \t\u00a0]+")


def _clean(text: str) -> str:
    # Collapse runs of spaces (PDF layout) but keep newlines: the splitter uses them as boundaries.
    # splitlines() also turns PDFium's \r\n into plain line breaks.
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _markdown_sections(text: str) -> list[Unit]:
    """Split at headings, remembering the heading path ("Minutes > Agenda > Budget") of each section."""
    units: list[Unit] = []
    path: list[tuple[int, str]] = []
    start = 0
    position = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line.rstrip("\n"))
        if match:
            if text[start:position].strip():
                units.append(Unit(text[start:position], headings=[h for _, h in path], offset=start))
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2))]
            start = position
        position += len(line)
    if text[start:].strip():
        units.append(Unit(text[start:], headings=[h for _, h in path], offset=start))
    return units
