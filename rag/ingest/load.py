"""Load: one file in, its text units out (PDF pages, slides, sheets, Markdown or Word sections, ...).

Runs in a worker process (see `ingest.job`), so a hostile file can crash or hang only that worker.
Each format is one module of `ingest.formats`, imported only when a file of its type comes in;
every loader takes the file's bytes (an e-mail's attachments never touch the disk in clear).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.errors import FileFailed

# suffix → the module of `ingest.formats` whose `load(data, context)` reads it
LOADERS = {
    ".pdf": "pdf",
    ".txt": "text", ".md": "text", ".markdown": "text",
    ".docx": "office", ".pptx": "office", ".xlsx": "office", ".csv": "office",
    ".html": "html", ".htm": "html",
    ".eml": "mail",
    ".png": "image", ".jpg": "image", ".jpeg": "image", ".tif": "image", ".tiff": "image",
}
SUPPORTED = frozenset(LOADERS)
MAX_DEPTH = 3  # an attachment of an attachment of an attachment; deeper nesting is refused


@dataclass
class Unit:
    """A piece of a file with its own citation address: a page, slide, sheet or section."""

    text: str
    page: int | None = None  # 1-based PDF page, slide or sheet number; None where a file has no pages
    headings: list[str] = field(default_factory=list)
    offset: int = 0  # where `text` starts in the file's text (for text files) or page
    ocr: bool = False  # the text was read from an image by OCR
    part: str | None = None  # the attachment this unit comes from (an e-mail's), None for the file itself


@dataclass
class Context:
    """What a loader knows besides the bytes: the name for messages, nesting, and a place for warnings."""

    name: str
    depth: int = 0
    warnings: list[str] = field(default_factory=list)  # parts that were not read, said to the user
    read_again: bool = False  # a part could be read on a later run (a scan, once Tesseract is installed)
    heartbeat: Callable[[], None] = lambda: None  # long loaders (OCR) call it after each page: not hung


def load_file(path: str, context: Context | None = None) -> list[Unit]:
    context = context or Context(Path(path).name)
    units = load_bytes(Path(path).read_bytes(), context)
    if not units:
        raise FileFailed("no extractable text (an empty file, or a scan with no text that OCR could read)")
    return units


def load_bytes(data: bytes, context: Context) -> list[Unit]:
    """The units of one document given as bytes; `context.name`'s suffix picks the format."""
    from rag.ingest.formats.clean import normalize

    suffix = Path(context.name).suffix.lower()
    if suffix not in LOADERS:
        raise FileFailed(f"unsupported type '{suffix or 'none'}'")
    if context.depth > MAX_DEPTH:
        raise FileFailed(f"nested more than {MAX_DEPTH} levels deep")
    module = importlib.import_module(f"rag.ingest.formats.{LOADERS[suffix]}")
    units = module.load(data, context)
    for unit in units:
        unit.text = normalize(unit.text)
    return [u for u in units if u.text.strip()]
