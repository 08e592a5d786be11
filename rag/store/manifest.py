"""The manifest: which sources are in the store, by keyed hash, with their content hashes.

Sealed as a whole under the current data key; the store directory never shows a file name.
"""
from __future__ import annotations

import json
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.errors import IntegrityError
from rag.fsutil import atomic_write
from rag.store.keyring import Keyring
from rag.store.records import seal_blob, unseal_blob

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.bin"
_HEADER = struct.Struct(">BI")


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


@dataclass
class Manifest:
    entries: dict[str, SourceEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path, keyring: Keyring) -> "Manifest":
        path = Path(state_dir) / MANIFEST_NAME
        if not path.exists():
            return cls()
        raw = path.read_bytes()
        fmt, version = _HEADER.unpack_from(raw)
        if fmt != MANIFEST_FORMAT or version not in keyring.data_keys:
            raise IntegrityError(f"{path} has format {fmt} / key v{version}, which this version cannot open")
        data = unseal_blob(keyring.data_keys[version], "manifest", raw[_HEADER.size:], str(path))
        return cls({sid: SourceEntry(**entry) for sid, entry in json.loads(data).items()})

    def save(self, state_dir: Path, keyring: Keyring) -> None:
        data = json.dumps({sid: asdict(e) for sid, e in self.entries.items()}).encode()
        blob = _HEADER.pack(MANIFEST_FORMAT, keyring.current) + seal_blob(keyring.record_key, "manifest", data)
        atomic_write(Path(state_dir) / MANIFEST_NAME, blob)
