"""Key management: a random data key per store, kept only wrapped by the user's key.

The wrapping key (KEK) comes from a key file (0600, outside the store) or a passphrase
(scrypt). The keyring file next to the store holds the data keys sealed under the KEK, so
the store directory alone, or a backup of it, opens nothing.
"""
from __future__ import annotations

import base64
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from rag.errors import KeyProblem, StoreProblem, UsageError
from rag.fsutil import atomic_write, now_iso
from rag.settings import Settings

KEYRING_FORMAT = 2  # 1: one pile of records (read, and rewritten as 2 at the next key write)
KEYRING_NAME = "keyring.json"
_KEYRING_AAD = b"private-rag/keyring/v1"
_SCRYPT = {"n": 2**15, "r": 8, "p": 1}
DEFAULT_COLLECTION = "default"
# The Chroma collection of a store made before collections: it opens as collection `default`.
LEGACY_CHROMA_NAME = "documents"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def check_collection_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"collection name {name!r}: use 1-63 lower-case letters, digits, '-' or '_'")
    return name


@dataclass
class CollectionKeys:
    """One collection's keys. Its records, manifest and keyed hashes open with these and nothing else, so
    destroying them (deleting the collection) leaves whatever bytes remain unreadable."""

    chroma_name: str  # its Chroma collection: an opaque id, so a server never learns the collection's name
    index_key: bytes  # keyed hashes (chunk ids, source ids, path prefixes): stable across rotations
    data_keys: dict[int, bytes]  # seal the manifest, which holds each document's own key
    current: int
    created: dict[int, str] = field(default_factory=dict)

    @property
    def record_key(self) -> bytes:
        return self.data_keys[self.current]

    def to_obj(self) -> dict:
        return {"chroma_name": self.chroma_name, "index_key": _b64(self.index_key),
                "data_keys": {str(v): _b64(k) for v, k in self.data_keys.items()},
                "created": {str(v): c for v, c in self.created.items()}, "current": self.current}

    @classmethod
    def from_obj(cls, obj: dict, chroma_name: str | None = None) -> "CollectionKeys":
        return cls(chroma_name=chroma_name or obj["chroma_name"], index_key=base64.b64decode(obj["index_key"]),
                   data_keys={int(v): base64.b64decode(k) for v, k in obj["data_keys"].items()},
                   current=int(obj["current"]), created={int(v): c for v, c in obj.get("created", {}).items()})

    @classmethod
    def new(cls) -> "CollectionKeys":
        return cls(chroma_name="c-" + os.urandom(8).hex(), index_key=os.urandom(32),
                   data_keys={1: AESGCM.generate_key(256)}, current=1, created={1: now_iso()})


@dataclass
class Keyring:
    """Unwrapped key material of a store; lives in memory only."""

    index_key: bytes  # store-wide keys derive from it: the audit chain, API tokens, the calibration MAC
    collections: dict[str, CollectionKeys] = field(default_factory=dict)

    def derive(self, purpose: str) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None, info=purpose.encode()).derive(self.index_key)

    def collection(self, name: str) -> CollectionKeys:
        if name not in self.collections:
            raise StoreProblem(f"this store has no collection '{name}' (it has: {', '.join(sorted(self.collections))}); "
                               f"ingest into it first: python -m ingest FOLDER --collection {name}")
        return self.collections[name]

    def to_json(self) -> bytes:
        return json.dumps({"index_key": _b64(self.index_key),
                           "collections": {n: c.to_obj() for n, c in self.collections.items()}}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Keyring":
        obj = json.loads(raw)
        if "collections" not in obj:  # format 1: the store's one pile of records becomes collection `default`
            return cls(base64.b64decode(obj["index_key"]),
                       {DEFAULT_COLLECTION: CollectionKeys.from_obj(obj, chroma_name=LEGACY_CHROMA_NAME)})
        return cls(base64.b64decode(obj["index_key"]),
                   {n: CollectionKeys.from_obj(c) for n, c in obj["collections"].items()})

    @classmethod
    def new(cls) -> "Keyring":
        return cls(index_key=os.urandom(32))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- the wrapping key -------------------------------------------------------------------

def _check_key_file_safety(path: Path, state_dir: Path) -> None:
    try:
        path.resolve().relative_to(state_dir.resolve())
    except ValueError:
        pass
    else:
        raise KeyProblem(f"key file {path} lies inside the store directory; keep it elsewhere "
                         "(a copy of the store must not carry its own key)")
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyProblem(f"key file {path} is readable by other users (mode {stat.filemode(mode)}); "
                         f"run: chmod 600 {path}")


def read_key_file(path: Path, state_dir: Path, create: bool) -> bytes:
    path = Path(path).expanduser()
    if not path.exists():
        if not create:
            raise KeyProblem(f"key file {path} not found; set RAG_KEY_FILE (or RAG_PASSPHRASE) to the key "
                             "this store was created with")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, _b64(AESGCM.generate_key(256)).encode() + b"\n", mode=0o600)
    _check_key_file_safety(path, state_dir)
    try:
        key = base64.b64decode(path.read_bytes().strip(), validate=True)
    except (ValueError, OSError) as exc:
        raise KeyProblem(f"key file {path} is unreadable or not a key ({exc})") from None
    if len(key) != 32:
        raise KeyProblem(f"key file {path} does not hold a 256-bit key")
    return key


def _passphrase_kek(passphrase: str, params: dict) -> bytes:
    return Scrypt(salt=base64.b64decode(params["salt"]), length=32, n=params["n"], r=params["r"],
                  p=params["p"]).derive(passphrase.encode())


def new_protector(state_dir: Path, passphrase: str | None, key_file: Path | None) -> tuple[bytes, dict]:
    """A wrapping key from a passphrase (preferred when given) or a key file, with its public description."""
    if passphrase:
        params = {"type": "passphrase", "kdf": "scrypt", "salt": _b64(os.urandom(16)), **_SCRYPT}
        return _passphrase_kek(passphrase, params), params
    return read_key_file(key_file, state_dir, create=True), {"type": "keyfile"}


def existing_kek(settings: Settings, state_dir: Path, protector: dict) -> bytes:
    if protector["type"] == "passphrase":
        if not settings.passphrase:
            raise KeyProblem("this store is protected by a passphrase; set RAG_PASSPHRASE")
        return _passphrase_kek(settings.passphrase, protector)
    return read_key_file(settings.key_file, state_dir, create=False)


# --- the keyring file -------------------------------------------------------------------

def keyring_path(state_dir: Path) -> Path:
    return Path(state_dir) / KEYRING_NAME


def write_keyring(state_dir: Path, keyring: Keyring, kek: bytes, protector: dict, extra: dict | None = None) -> None:
    nonce = os.urandom(12)
    wrapped = AESGCM(kek).encrypt(nonce, keyring.to_json(), _KEYRING_AAD)
    doc = {"format": KEYRING_FORMAT, "protector": protector, "wrapped": _b64(nonce + wrapped), **(extra or {})}
    atomic_write(keyring_path(state_dir), json.dumps(doc, indent=1).encode())


def read_keyring_doc(state_dir: Path) -> dict | None:
    path = keyring_path(state_dir)
    if not path.exists():
        return None
    doc = json.loads(path.read_bytes())
    if doc.get("format") not in (1, KEYRING_FORMAT):
        raise KeyProblem(f"{path} has keyring format {doc.get('format')}; this version reads 1 and {KEYRING_FORMAT}")
    return doc


def unwrap(doc: dict, kek: bytes, state_dir: Path) -> Keyring:
    raw = base64.b64decode(doc["wrapped"])
    try:
        return Keyring.from_json(AESGCM(kek).decrypt(raw[:12], raw[12:], _KEYRING_AAD))
    except InvalidTag:
        from rag.store.audit import record_unkeyed

        what = "passphrase" if doc["protector"]["type"] == "passphrase" else "key file"
        record_unkeyed(state_dir, "open-store", f"wrong {what}")
        raise KeyProblem(f"wrong {what}: it does not open the store at {state_dir}") from None


def open_keyring(settings: Settings, state_dir: Path, create: bool) -> Keyring:
    """Unwrap the store's keys; on the first ingest (`create`), make them."""
    doc = read_keyring_doc(state_dir)
    if doc is None:
        if not create:
            raise KeyProblem(f"no keyring at {keyring_path(state_dir)}: nothing has been ingested into this "
                             "store yet; run: python -m ingest FOLDER")
        kek, protector = new_protector(state_dir, settings.passphrase, settings.key_file)
        keyring = Keyring.new()
        Path(state_dir).mkdir(parents=True, exist_ok=True)
        write_keyring(state_dir, keyring, kek, protector)
        return keyring
    kek = existing_kek(settings, state_dir, doc["protector"])
    keyring = unwrap(doc, kek, state_dir)
    if create and doc["format"] == 1:  # the first writer after an upgrade stores the keyring as format 2
        write_keyring(state_dir, keyring, kek, doc["protector"],
                      extra={"reencrypting": doc["reencrypting"]} if doc.get("reencrypting") else None)
    return keyring



def save_keyring(settings: Settings, state_dir: Path, keyring: Keyring) -> None:
    """Write the keyring back under the store's wrapping key: after a collection was made or deleted.
    Deleting a collection's keys here is what makes its leftover bytes unreadable."""
    doc = read_keyring_doc(state_dir)
    kek = existing_kek(settings, state_dir, doc["protector"])
    write_keyring(state_dir, keyring, kek, doc["protector"],
                  extra={"reencrypting": doc["reencrypting"]} if doc.get("reencrypting") else None)
