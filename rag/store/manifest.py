"""The manifest of a collection: which sources it holds, by keyed hash, with their content hashes and
each document's own key.

Sealed as a whole under the collection's current data key: the store directory never shows a file name,
and a document's key exists nowhere else, so deleting its entry makes its records unreadable everywhere.
"""
from __future__ import annotations

import base64
import json
import os
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.errors import IntegrityError
from rag.fsutil import atomic_write
from rag.store.keyring import LEGACY_CHROMA_NAME, CollectionKeys
from rag.store.records import seal_blob, unseal_blob

MANIFEST_FORMAT = 1
LEGACY_MANIFEST_NAME = "manifest.bin"  # a store made before collections: its one manifest
_HEADER = struct.Struct(">BI")


def manifest_path(state_dir: Path, keys: CollectionKeys) -> Path:
    return Path(state_dir) / f"manifest-{keys.chroma_name}.bin"


@dataclass
class SourceEntry:
    path: str  # relative to the folder that was ingested
    root: str  # that folder, absolute
    content_hash: str
    pages: int
    chunks: int
    ingested_at: str
    # An e-mail's attachments, each a document of its own: name → [pages, chunks]
    parts: dict[str, list[int]] = field(default_factory=dict)
    document_key: str = ""  # base64; empty for records sealed before per-document keys (format 1)
    retiring_key: str = ""  # the key being replaced while `rag.keys rotate --reencrypt` re-seals the records

    @staticmethod
    def new_document_key() -> str:
        return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass
class Manifest:
    entries: dict[str, SourceEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, keys: CollectionKeys) -> "Manifest":
        path = manifest_path(state_dir, keys)
        if not path.exists() and keys.chroma_name == LEGACY_CHROMA_NAME:
            path = Path(state_dir) / LEGACY_MANIFEST_NAME
        if not path.exists():
            return cls()
        raw = path.read_bytes()
        fmt, version = _HEADER.unpack_from(raw)
        if fmt != MANIFEST_FORMAT or version not in keys.data_keys:
            raise IntegrityError(f"{path} has format {fmt} / key v{version}, which this version cannot open")
        data = unseal_blob(keys.data_keys[version], "manifest", raw[_HEADER.size:], str(path))
        return cls({sid: SourceEntry(**entry) for sid, entry in json.loads(data).items()})

    def save(self, state_dir: Path, keys: CollectionKeys) -> None:
        data = json.dumps({sid: asdict(e) for sid, e in self.entries.items()}).encode()
        blob = _HEADER.pack(MANIFEST_FORMAT, keys.current) + seal_blob(keys.record_key, "manifest", data)
        atomic_write(manifest_path(state_dir, keys), blob)
        legacy = Path(state_dir) / LEGACY_MANIFEST_NAME
        if keys.chroma_name == LEGACY_CHROMA_NAME and legacy.exists():
            legacy.unlink()  # the upgraded store's manifest now has its collection's name

    def document_keys(self, source_id: str) -> list[bytes]:
        entry = self.entries.get(source_id)
        return [base64.b64decode(k) for k in (entry.document_key, entry.retiring_key) if k] if entry else []
