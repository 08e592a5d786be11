"""The sealed record format: what Chroma stores instead of text.

A record is `base64(header || nonce || AES-256-GCM(ciphertext+tag))` where the header is the
format version and the data-key version. The associated data binds the record to its
collection and chunk id, so a record copied to another id or collection fails to open.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rag.errors import IntegrityError

RECORD_FORMAT = 1
_HEADER = struct.Struct(">BI")  # format version, data-key version
_NONCE_BYTES = 12


def _aad(collection: str, record_id: str, header: bytes) -> bytes:
    return b"private-rag/record\x00" + collection.encode() + b"\x00" + record_id.encode() + b"\x00" + header


def seal(key: bytes, key_version: int, collection: str, record_id: str, payload: dict) -> str:
    header = _HEADER.pack(RECORD_FORMAT, key_version)
    nonce = os.urandom(_NONCE_BYTES)
    plaintext = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    sealed = AESGCM(key).encrypt(nonce, plaintext, _aad(collection, record_id, header))
    return base64.b64encode(header + nonce + sealed).decode("ascii")


def record_key_version(blob: str) -> int:
    try:
        _, version = _HEADER.unpack_from(base64.b64decode(blob))
    except Exception as exc:
        raise IntegrityError(f"record is not in the sealed format: {exc}") from None
    return version


def unseal(keys: dict[int, bytes], collection: str, record_id: str, blob: str) -> dict:
    """Open one record; any tampering, move or wrong key raises IntegrityError naming the record."""
    try:
        raw = base64.b64decode(blob, validate=True)
        fmt, version = _HEADER.unpack_from(raw)
    except Exception:
        raise IntegrityError(f"record {record_id} in '{collection}' is corrupted (not a sealed record)") from None
    if fmt != RECORD_FORMAT:
        raise IntegrityError(f"record {record_id} has unknown format {fmt}; upgrade private-rag")
    if version not in keys:
        raise IntegrityError(f"record {record_id} needs data key v{version}, which this keyring does not hold")
    header, rest = raw[:_HEADER.size], raw[_HEADER.size:]
    nonce, sealed = rest[:_NONCE_BYTES], rest[_NONCE_BYTES:]
    try:
        plaintext = AESGCM(keys[version]).decrypt(nonce, sealed, _aad(collection, record_id, header))
    except InvalidTag:
        raise IntegrityError(f"record {record_id} in '{collection}' failed its integrity check: "
                             "it was modified, swapped or moved; re-ingest its source") from None
    return json.loads(plaintext)


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
