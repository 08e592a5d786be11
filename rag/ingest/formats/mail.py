"""E-mail (.eml): the message as one unit (a From/To/Date/Subject block, then the text body), then
the units of each attachment, read in memory by the loader of its own format.

An attachment's units carry `part` = its file name; the units of a forwarded message's own
attachments carry the path through the messages, joined with "/" ("fwd.eml/plan.pdf"). File names
are cut to their last path component, so "/" only ever separates levels, and a name met twice in one
message becomes "name (2).pdf". An attachment that cannot be read is a warning; the message still ingests.
"""
from __future__ import annotations

import mimetypes
import re
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import PurePosixPath

from rag.errors import FileFailed
from rag.ingest.formats.ocr import OcrMissing
from rag.ingest.load import Context, Unit, load_bytes

MAX_PARTS = 1_000
MAX_MIME_DEPTH = 10  # containers (multiparts, attached messages) around a part; three forwards deep is about 8
HEADERS = ("From", "To", "Cc", "Date", "Subject")
ATTACHED_MESSAGE = ("message/rfc822", "message/global")
_TOO_DEEP = (f"e-mail nested more than {MAX_MIME_DEPTH} levels deep (messages or parts inside each other); "
             "save the innermost message on its own and ingest that")
_TOO_MANY = (f"e-mail with more than {MAX_PARTS:,} MIME parts; "
             "save the attachments you need on their own and ingest them")
_UNSAFE_IN_NAME = re.compile(r"[\x00-\x1f\x7f]")


def load(data: bytes, context: Context) -> list[Unit]:
    message = _parse(data)
    _check_structure(message)
    if not any(_header(message, name) for name in HEADERS):
        raise FileFailed("not an e-mail message (no From, To, Date or Subject header); "
                         "save the message from the mail program as .eml")
    body = message.get_body(preferencelist=("plain", "html"))
    subject = _header(message, "Subject")
    units = [Unit(_header_block(message) + _body_text(body), headings=[subject] if subject else [])]
    names: set[str] = set()
    for number, part in enumerate(_attachments(message, body), start=1):
        name = _unique(_attachment_name(part, number), names)
        units.extend(_attachment_units(part, name, context))
        context.heartbeat()
    return units


def _parse(data: bytes) -> EmailMessage:
    """Parse in memory; the part count is checked while parsing, since parsing 10,000 parts takes seconds."""
    created = 0

    def counted_part(policy):  # the parser passes `policy` by name
        nonlocal created
        created += 1
        if created > MAX_PARTS:
            raise FileFailed(_TOO_MANY)
        return EmailMessage(policy=policy)

    try:
        return BytesParser(policy=default_policy.clone(message_factory=counted_part)).parsebytes(data)
    except RecursionError:  # the parser recurses into each attached message
        raise FileFailed(_TOO_DEEP) from None


def _check_structure(message: EmailMessage) -> None:
    stack = [(message, 0)]
    while stack:
        part, depth = stack.pop()
        if depth > MAX_MIME_DEPTH:
            raise FileFailed(_TOO_DEEP)
        if part.is_multipart():  # a multipart, or a part holding an attached message
            stack.extend((child, depth + 1) for child in part.get_payload())


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message[name]
    except (MessageError, ValueError, IndexError):  # a malformed header: keep its raw text
        value = next((raw for key, raw in message.raw_items() if key.lower() == name.lower()), None)
    return " ".join(str(value).split()) if value is not None else ""


def _header_block(message: EmailMessage) -> str:
    values = {name: _header(message, name) for name in HEADERS}
    return "".join(f"{name}: {value}\n" for name, value in values.items() if value) + "\n"


def _body_text(body: EmailMessage | None) -> str:
    if body is None:
        return ""
    try:
        text = body.get_content()
    except (LookupError, MessageError, ValueError):  # an unknown charset: the bytes as UTF-8, kept readable
        text = (body.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
    if body.get_content_subtype() == "html":
        from rag.ingest.formats.html import main_content

        return main_content(text)
    return text


def _attachments(message: EmailMessage, body: EmailMessage | None):
    """Attached files and messages in document order. Parts without a file name (the HTML twin of a
    plain body) and pictures the HTML body shows inline (by Content-ID: logos, signatures) are not
    attachments."""
    stack = [message]
    while stack:
        part = stack.pop()
        if part is body:
            continue
        if _is_attached_message(part):
            yield part
        elif part.is_multipart():
            stack.extend(reversed(part.get_payload()))
        elif part.is_attachment() or (part.get_filename() and not part["Content-ID"]):
            yield part


def _is_attached_message(part: EmailMessage) -> bool:
    # Not multipart means the sender encoded the message (base64): then it is read from its bytes like a file.
    return part.get_content_type() in ATTACHED_MESSAGE and part.is_multipart()


def _attachment_name(part: EmailMessage, number: int) -> str:
    """The sender's file name without folders or control characters; else the subject of an attached
    message, or a name from the content type; attached messages always end in .eml (the loader's key)."""
    name = _safe_name(part.get_filename() or "")
    if part.get_content_type() in ATTACHED_MESSAGE:
        subject = _header(part.get_payload(0), "Subject")[:80] if _is_attached_message(part) else ""
        name = name or _safe_name(subject.replace("/", "-").replace("\\", "-")) or f"message-{number}"
        return name if name.lower().endswith(".eml") else name + ".eml"
    return name or f"attachment-{number}{mimetypes.guess_extension(part.get_content_type()) or ''}"


def _safe_name(name: str) -> str:
    return _UNSAFE_IN_NAME.sub("", re.split(r"[/\\]", name)[-1]).strip()


def _unique(name: str, taken: set[str]) -> str:
    path = PurePosixPath(name)
    candidate, copy = name, 1
    while candidate.lower() in taken:
        copy += 1
        candidate = f"{path.stem} ({copy}){path.suffix}"
    taken.add(candidate.lower())
    return candidate


def _attachment_units(part: EmailMessage, name: str, context: Context) -> list[Unit]:
    """The attachment's units with `part` set. Its own warnings get its name in front (a PDF's "pages 2, 3
    not read" must say which PDF), so it reports into a list of its own."""
    inner = Context(name, depth=context.depth + 1, heartbeat=context.heartbeat)
    try:
        data = part.get_payload(0).as_bytes() if _is_attached_message(part) else part.get_payload(decode=True)
        units = load_bytes(data or b"", inner)
    except FileFailed as exc:
        inner.read_again = inner.read_again or isinstance(exc, OcrMissing)  # a scan: readable once OCR is installed
        context.warnings.append(f"attachment '{name}': {exc}, not ingested")
        return []
    finally:
        context.warnings.extend(f"attachment '{name}': {warning}" for warning in inner.warnings)
        context.read_again = context.read_again or inner.read_again
    if not units:
        context.warnings.append(f"attachment '{name}': no extractable text, not ingested")
    for unit in units:
        unit.part = name if unit.part is None else f"{name}/{unit.part}"
    return units
