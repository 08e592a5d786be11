"""Checks on a zip-based Office file before any parser sees it: zip bombs, XML entity tricks, passwords.

python-docx, python-pptx and openpyxl each read whole parts into memory and parse them, so a part
that inflates to gigabytes, or a DTD that expands to gigabytes, must be refused here: from the
archive's directory and a streaming scan that never holds more than a block of a part in memory.
"""
from __future__ import annotations

import io
import zipfile
import zlib

from rag.errors import FileFailed

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted OOXML and the legacy binary formats
PASSWORD_OR_LEGACY = ("password-protected or legacy (.doc/.xls/.ppt) Office file; "
                      "remove the password or save as .docx/.xlsx/.pptx")
MAX_MEMBERS = 10_000
MAX_TOTAL_BYTES = 512 * 2**20  # all parts inflated; zipfile never reads a part past its declared size
MAX_RATIO = 200  # deflate on real documents stays far below; a bomb is near deflate's limit of ~1000:1
RATIO_MIN_BYTES = 50 * 2**20  # small parts may compress absurdly well (a sheet of zeros) and do no harm
SCAN_BLOCK = 2**20
# OOXML never has a DTD; spelled in every encoding an XML parser detects by itself, so UTF-16 cannot hide one.
_DTD_MARKERS = tuple(marker.encode(codec) for marker in ("<!DOCTYPE", "<!ENTITY")
                     for codec in ("utf-8", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"))
_OVERLAP = max(map(len, _DTD_MARKERS)) - 1  # a marker split across two blocks is still found
_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError)


def check_zip(data: bytes, kind: str) -> list[str]:
    """Refuse `data` unless it is a zip of sane size whose XML parts have no DTD; `kind` is the suffix.

    Returns the names of the archive's parts.
    """
    if data.startswith(OLE_MAGIC):
        raise FileFailed(PASSWORD_OR_LEGACY)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _UNREADABLE:
        raise FileFailed(f"truncated or corrupt {kind} (not a valid zip archive)") from None
    with archive:
        members = archive.infolist()
        _check_sizes(members, kind)
        named_xml = [info for info in members if info.filename.lower().endswith((".xml", ".rels"))]
        for info in named_xml:
            _refuse_dtd(archive, info, kind)
        # A part the content types call XML is parsed as XML whatever its name: scan those too.
        scanned = {info.filename for info in named_xml}
        for info in _declared_xml_parts(archive, members):
            if info.filename not in scanned:
                _refuse_dtd(archive, info, kind)
    return [info.filename for info in members]


def _check_sizes(members: list[zipfile.ZipInfo], kind: str) -> None:
    if len(members) > MAX_MEMBERS:
        raise FileFailed(f"{kind} archive has {len(members):,} parts (limit {MAX_MEMBERS:,}): "
                         "refused as a likely zip bomb")
    for info in members:
        if info.flag_bits & 0x1:
            raise FileFailed(PASSWORD_OR_LEGACY)
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * info.compress_size:
            raise FileFailed(f"zip bomb: part '{info.filename}' of the {kind} inflates "
                             f"{info.file_size // max(info.compress_size, 1):,}:1 to {info.file_size >> 20:,} MiB: "
                             "refused")
    total = sum(info.file_size for info in members)
    if total > MAX_TOTAL_BYTES:
        raise FileFailed(f"the {kind} would inflate to {total >> 20:,} MiB (limit {MAX_TOTAL_BYTES >> 20} MiB: "
                         "a zip bomb, or too large to read): refused")


def _refuse_dtd(archive: zipfile.ZipFile, info: zipfile.ZipInfo, kind: str) -> None:
    """Stream one part through; zipfile stops at the declared size and checks the CRC, so a lying
    header ends in an error here rather than in gigabytes."""
    tail = b""
    try:
        with archive.open(info) as stream:
            for block in iter(lambda: stream.read(SCAN_BLOCK), b""):
                window = tail + block
                if any(marker in window for marker in _DTD_MARKERS):
                    raise FileFailed(f"part '{info.filename}' of the {kind} contains an XML DTD "
                                     "(entity expansion or external entity): refused")
                tail = window[-_OVERLAP:]
    except _UNREADABLE as exc:
        raise FileFailed(f"truncated or corrupt {kind} (part '{info.filename}' cannot be read: "
                         f"{str(exc)[:120]})") from None


def _declared_xml_parts(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> list[zipfile.ZipInfo]:
    """Parts whose content type, by [Content_Types].xml (already scanned: no DTD), is XML."""
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        types = fromstring(archive.read("[Content_Types].xml"))
    except (KeyError, ParseError):
        return []  # no or broken content types: the parser will refuse the file itself
    by_extension = {node.get("Extension", "").lower(): node.get("ContentType", "")
                    for node in types if node.tag.endswith("Default")}
    by_name = {node.get("PartName", "").lstrip("/").lower(): node.get("ContentType", "")
               for node in types if node.tag.endswith("Override")}
    declared = []
    for info in members:
        name = info.filename.lower()  # part names are case-insensitive (OPC)
        content_type = (by_name.get(name) or by_extension.get(name.rpartition(".")[2], "")).lower()
        if content_type.endswith("xml") and not content_type.startswith("image/"):
            declared.append(info)
    return declared
