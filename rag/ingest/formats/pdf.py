"""PDF: the text layer of each page; a page without one is rendered in memory and read by OCR."""
from __future__ import annotations

import re

from rag.errors import FileFailed
from rag.ingest.formats import ocr
from rag.ingest.load import Context, Unit

_PASSWORD = "password-protected PDF; remove the password and ingest again"
_SPACES = re.compile(r"[ \t\u00a0]+")
MIN_TEXT_CHARS = 20  # a page with less text than this (a page number, a stamp) is taken for a scan


def load(data: bytes, context: Context) -> list[Unit]:
    """PDFium (Chrome's PDF engine) reads text about 10x faster than pypdf; pypdf is the second
    opinion for files PDFium rejects, so one parser's quirk does not cost a document."""
    import pypdfium2 as pdfium

    try:
        document = pdfium.PdfDocument(data)
        try:
            units, unread = _read_pages(document, context)
        finally:
            document.close()
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise FileFailed(_PASSWORD) from None
        return _load_with_pypdf(data)
    if unread and not any(u.text.strip() for u in units):
        raise ocr.OcrMissing(ocr.NO_OCR)
    if unread:
        context.read_again = True
        context.warnings.append(f"{ocr.NO_OCR} (pages {', '.join(map(str, unread))} not read)")
    return units


def _read_pages(document, context: Context) -> tuple[list[Unit], list[int]]:
    """Each page's text layer, or its OCR text where it has none; and the scanned pages OCR could not read."""
    units, unread = [], []
    for number in range(1, len(document) + 1):
        page = document[number - 1]
        text = _clean(page.get_textpage().get_text_bounded())
        if len(text.strip()) >= MIN_TEXT_CHARS or not _has_images(page):
            units.append(Unit(text, page=number))
            continue
        try:
            units.append(Unit(_ocr_page(page, context), page=number, ocr=True))
        except ocr.OcrMissing:
            unread.append(number)
    return units, unread


def _has_images(page) -> bool:
    import pypdfium2.raw as raw

    return any(obj.type == raw.FPDF_PAGEOBJ_IMAGE for obj in page.get_objects(max_depth=2))


def _ocr_page(page, context: Context) -> str:
    ocr.languages()  # no rendering when Tesseract is missing
    image = page.render(scale=ocr.RENDER_DPI / 72).to_pil()  # in memory only
    try:
        return ocr.read(image)
    finally:
        image.close()
        context.heartbeat()


def _load_with_pypdf(data: bytes) -> list[Unit]:
    import io

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
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


def _clean(text: str) -> str:
    # Collapse runs of spaces (PDF layout) but keep newlines: the splitter uses them as boundaries.
    # splitlines() also turns PDFium's \r\n into plain line breaks.
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines())
