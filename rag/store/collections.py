"""Collections of a store: make, list, delete (crypto-shredding), and export or import one's keys alone."""
from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rag.errors import KeyProblem, UsageError
from rag.fsutil import atomic_write
from rag.settings import Settings
from rag.store.audit import AuditLog
from rag.store.chroma import drop_collection, state_dir_for
from rag.store.lexicon import remove_lexicon
from rag.store.keyring import (
    LEGACY_CHROMA_NAME,
    CollectionKeys,
    check_collection_name,
    existing_kek,
    new_protector,
    open_keyring,
    save_keyring,
)
from rag.store.manifest import LEGACY_MANIFEST_NAME, Manifest, manifest_path

EXPORT_FORMAT = 1
_EXPORT_AAD = b"private-rag/collection-export/v1"


@dataclass
class CollectionInfo:
    name: str
    documents: int
    chunks: int


def list_collections(settings: Settings) -> list[CollectionInfo]:
    state_dir = state_dir_for(settings)
    keyring = open_keyring(settings, state_dir, create=False)
    infos = []
    for name, keys in sorted(keyring.collections.items()):
        manifest = Manifest.load(state_dir, keys)
        infos.append(CollectionInfo(name, len(manifest.entries), sum(e.chunks for e in manifest.entries.values())))
    return infos


def create_collection(settings: Settings, name: str) -> None:
    state_dir = state_dir_for(settings)
    keyring = open_keyring(settings, state_dir, create=True)
    if check_collection_name(name) in keyring.collections:
        raise UsageError(f"collection '{name}' exists already")
    keyring.collections[name] = CollectionKeys.new()
    save_keyring(settings, state_dir, keyring)
    AuditLog(state_dir, keyring).append("collection-create", "ok", collection=name)


def delete_collection(settings: Settings, name: str) -> None:
    """Drop its records and manifest and destroy its keys: bytes of it left anywhere (free SQLite pages, a
    Chroma server that was not vacuumed) can no longer be opened with anything this store holds."""
    state_dir = state_dir_for(settings)
    keyring = open_keyring(settings, state_dir, create=False)
    keys = keyring.collection(name)
    remove_lexicon(state_dir, keys)
    drop_collection(settings, keys)
    legacy = [Path(state_dir) / LEGACY_MANIFEST_NAME] if keys.chroma_name == LEGACY_CHROMA_NAME else []
    for path in [manifest_path(state_dir, keys), *legacy]:
        path.unlink(missing_ok=True)
    del keyring.collections[name]
    save_keyring(settings, state_dir, keyring)  # the keys are gone with this write
    AuditLog(state_dir, keyring).append("collection-delete", "ok", collection=name)


def export_keys(settings: Settings, name: str, out: Path, export_key_file: Path) -> None:
    """The collection's keys alone, sealed under a key file of their own (made 0600 if absent)."""
    state_dir = state_dir_for(settings)
    keyring = open_keyring(settings, state_dir, create=False)
    keys = keyring.collection(name)
    kek, protector = new_protector(state_dir, None, Path(export_key_file).expanduser())
    nonce = os.urandom(12)
    sealed = AESGCM(kek).encrypt(nonce, json.dumps(keys.to_obj()).encode(), _EXPORT_AAD)
    atomic_write(Path(out), json.dumps({"format": EXPORT_FORMAT, "protector": protector,
                                        "wrapped": base64.b64encode(nonce + sealed).decode()}).encode())
    AuditLog(state_dir, keyring).append("collection-export", "ok", collection=name)


def import_keys(settings: Settings, name: str, exported: Path, export_key_file: Path) -> None:
    """Add exported keys to this store's keyring as collection `name` (its records and manifest are
    copied beside them by the operator: a backup restored, a hand-over)."""
    state_dir = state_dir_for(settings)
    keyring = open_keyring(settings, state_dir, create=True)
    if check_collection_name(name) in keyring.collections:
        raise UsageError(f"collection '{name}' exists already; import it under another name")
    try:
        doc = json.loads(Path(exported).read_bytes())
        raw = base64.b64decode(doc["wrapped"])
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"{exported} is not a collection key export ({exc})") from None
    kek = existing_kek(Settings(key_file=Path(export_key_file).expanduser()), state_dir, doc["protector"])
    try:
        keys = CollectionKeys.from_obj(json.loads(AESGCM(kek).decrypt(raw[:12], raw[12:], _EXPORT_AAD)))
    except InvalidTag:
        raise KeyProblem(f"{export_key_file} does not open {exported}") from None
    keyring.collections[name] = keys
    save_keyring(settings, state_dir, keyring)
    AuditLog(state_dir, keyring).append("collection-import", "ok", collection=name)
