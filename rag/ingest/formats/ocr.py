"""OCR with Tesseract (through pytesseract): the text of scanned pages and photos.

pytesseract hands the image to the `tesseract` program through a temporary file; those files go to a
0700 folder on a RAM file system (/dev/shm) that is removed after each page, never to /tmp on disk.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache

from rag.errors import FileFailed

NO_OCR = "scanned page, no OCR: install tesseract-ocr (with tesseract-ocr-eng / -fra) and ingest again"
DEFAULT_LANGS = ("eng", "fra")
RENDER_DPI = 300  # Tesseract reads best at about 300 dpi


class OcrMissing(FileFailed):
    pass


@lru_cache(maxsize=1)
def languages() -> str:
    """`RAG_OCR_LANGS` (e.g. "eng+fra"), else the installed ones among eng and fra."""
    import pytesseract

    if shutil.which(pytesseract.pytesseract.tesseract_cmd) is None:
        raise OcrMissing(NO_OCR)
    installed = set(pytesseract.get_languages(config=""))
    wanted = [lang for lang in os.environ.get("RAG_OCR_LANGS", "").split("+") if lang]
    missing = [lang for lang in wanted if lang not in installed]
    if missing:
        raise FileFailed(f"RAG_OCR_LANGS names {'+'.join(missing)}, which Tesseract does not have; "
                         f"installed: {'+'.join(sorted(installed - {'osd'}))}")
    chosen = wanted or [lang for lang in DEFAULT_LANGS if lang in installed]
    if not chosen:
        raise OcrMissing(NO_OCR)
    return "+".join(chosen)


def read(image) -> str:
    """The text Tesseract reads in a PIL image."""
    import pytesseract

    langs = languages()
    with _ram_folder() as folder:
        previous, tempfile.tempdir = tempfile.tempdir, folder
        try:
            return pytesseract.image_to_string(image.convert("L"), lang=langs)
        finally:
            tempfile.tempdir = previous


class _ram_folder:
    """A private folder for Tesseract's image and text files, on RAM where the system has some."""

    def __enter__(self) -> str:
        base = next((d for d in ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR")) if d and os.access(d, os.W_OK)), None)
        self.path = tempfile.mkdtemp(prefix="rag-ocr-", dir=base)  # mkdtemp makes it 0700
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
