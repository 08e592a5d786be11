"""Uploaded documents: checked names, and plaintext that lives only in a private folder for one request.

The folder is made 0700 on a RAM file system where there is one (/dev/shm), so an upload's
plaintext need not touch a disk, and is deleted as soon as its ingestion ends, whatever happened.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rag.ingest.load import SUPPORTED

UPLOAD_FOLDER = "uploads"  # uploaded files are ingested as uploads/NAME, apart from batch-ingested ones
MAX_FILES = 20
_RAM = Path("/dev/shm")


class UploadRejected(Exception):
    """The request is refused as a whole, before anything is ingested."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass
class Upload:
    name: str
    data: bytes


def check_name(raw: bytes | None) -> str:
    """The file name as given, if it is a plain file name of a supported type; never a path."""
    try:
        name = (raw or b"").decode("utf-8")
    except UnicodeDecodeError:
        raise UploadRejected(400, "a file name is not UTF-8") from None
    if (not name or len(name) > 255 or name in (".", "..") or name.startswith(".")
            or any(c in name for c in "/\\") or any(ord(c) < 32 or ord(c) == 127 for c in name)):
        raise UploadRejected(400, f"file name {name[:80]!r} is not a plain file name (no folders, no '..', "
                                  "no leading dot, no control characters)")
    if Path(name).suffix.lower() not in SUPPORTED:
        raise UploadRejected(415, f"{name}: unsupported type; upload {', '.join(sorted(SUPPORTED))}")
    return name


async def read_form(content_type: str, body: AsyncIterator[bytes]) -> list[Upload]:
    """The files of a multipart/form-data body, in memory (the body's size is capped before this)."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import FormParser, parse_options_header

    kind, options = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in options:
        raise UploadRejected(415, "send the files as multipart/form-data (one 'file' field per file)")
    files = []
    # Memory only: the parser's default would spill large files to the system's temp folder.
    parser = FormParser("multipart/form-data", None, files.append, boundary=options[b"boundary"],
                        config={"MAX_MEMORY_FILE_SIZE": float("inf")})
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise UploadRejected(400, f"malformed multipart body ({exc})") from None
    if not files:
        raise UploadRejected(400, "no file in the upload; send one 'file' field per document")
    if len(files) > MAX_FILES:
        raise UploadRejected(400, f"{len(files)} files in one upload; at most {MAX_FILES}")
    uploads = [Upload(check_name(f.file_name), f.file_object.getvalue()) for f in files]
    names = [u.name for u in uploads]
    if len(set(names)) != len(names):
        raise UploadRejected(400, "the same file name twice in one upload")
    return uploads


@contextmanager
def private_folder(uploads: list[Upload]) -> Iterator[Path]:
    """A 0700 folder holding `uploads/NAME` files (0600), removed on exit."""
    base = _RAM if _RAM.is_dir() and os.access(_RAM, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="rag-upload-", dir=base))
    try:
        target = folder / UPLOAD_FOLDER
        target.mkdir(mode=0o700)
        for upload in uploads:
            fd = os.open(target / upload.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(upload.data)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
