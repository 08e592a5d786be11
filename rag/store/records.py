"""The sealed record format: what Chroma stores instead of text.

A record is `base64(header || nonce || AES-256-GCM(ciphertext+tag))` where the header is the format
version, the collection key version and the source id of the document whose own key seals it. The
associated data binds the record to its collection and chunk id, so a record copied to another id or
collection fails to open.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rag.errors import IntegrityError

RECORD_FORMAT = 2
_HEADER = struct.Struct(">BI")  # format version, key version
# Format 2 also names the document whose own key sealed the record (its source id, 16 bytes): deleting the
# document deletes that key, and whatever copies of the record remain can no longer be opened.
_DOCUMENT = struct.Struct(">16s")
_NONCE_BYTES = 12
# The keys that may have sealed a record: (format, key version, source id or None) -> keys, none if gone.
# A document has two while its key is being replaced (`python -m rag.keys rotate --reencrypt`).
KeyLookup = Callable[[int, int, "str | None"], "list[bytes]"]


class MissingKey(IntegrityError):
    """The record's key is gone: its document or collection was deleted, or it is not this store's."""


def _aad(collection: str, record_id: str, header: bytes) -> bytes:
    return b"private-rag/record\x00" + collection.encode() + b"\x00" + record_id.encode() + b"\x00" + header


def seal(document_key: bytes, key_version: int, source_id: str, collection: str, record_id: str,
         payload: dict) -> str:
    """A record sealed under its document's own key; `key_version` is the collection key that wraps it."""
    header = _HEADER.pack(RECORD_FORMAT, key_version) + _DOCUMENT.pack(bytes.fromhex(source_id))
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    sealed = AESGCM(document_key).encrypt(nonce, plaintext, _aad(collection, record_id, header))
    return base64.b64encode(header + nonce + sealed).decode("ascii")


def record_key_version(blob: str) -> int:
    try:
        _, version = _HEADER.unpack_from(base64.b64decode(blob))
    except Exception as exc:
        raise IntegrityError(f"record is not in the sealed format: {exc}") from None
    return version


def unseal(keys: KeyLookup, collection: str, record_id: str, blob: str) -> dict:
    """Open one record; any tampering, move or wrong key raises IntegrityError naming the record.
    Format 1 records (before collections) are sealed under the collection key itself."""
    try:
        raw = base64.b64decode(blob, validate=True)
        fmt, version = _HEADER.unpack_from(raw)
        size = _HEADER.size + (_DOCUMENT.size if fmt == 2 else 0)
        source_id = _DOCUMENT.unpack_from(raw, _HEADER.size)[0].hex() if fmt == 2 else None
    except Exception:
        raise IntegrityError(f"record {record_id} in '{collection}' is corrupted (not a sealed record)") from None
    if fmt not in (1, RECORD_FORMAT):
        raise IntegrityError(f"record {record_id} has unknown format {fmt}; upgrade private-rag")
    candidates = keys(fmt, version, source_id)
    if not candidates:
        raise MissingKey(f"record {record_id} needs a key this keyring does not hold "
                         f"({'its document key' if source_id else f'data key v{version}'}): deleted or not ours")
    header, rest = raw[:size], raw[size:]
    nonce, sealed = rest[:_NONCE_BYTES], rest[_NONCE_BYTES:]
    for key in candidates:
        try:
            return json.loads(AESGCM(key).decrypt(nonce, sealed, _aad(collection, record_id, header)))
        except InvalidTag:
            continue
    raise IntegrityError(f"record {record_id} in '{collection}' failed its integrity check: "
                         "it was modified, swapped or moved; re-ingest its source")


def keyed_hash(key: bytes, *parts: str, length: int = 32) -> str:
    """A pseudonym that reveals nothing without the key but is stable across runs."""
    mac = hmac.new(key, b"\x00".join(p.encode() for p in parts), hashlib.sha256)
    return mac.hexdigest()[:length]


def seal_blob(key: bytes, purpose: str, data: bytes) -> bytes:
    """Seal a whole file (manifest, lexical index): nonce || ciphertext, bound to its purpose."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, purpose.encode())


def unseal_blob(key: bytes, purpose: str, blob: bytes, name: str) -> bytes:
    try:
        return AESGCM(key).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], purpose.encode())
    except (InvalidTag, ValueError):
        raise IntegrityError(f"{name} failed its integrity check (tampered or written with another key)") from None
