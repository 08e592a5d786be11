"""A collection's vault (its keys and its documents' keys, which seal and open its records), and the set of
collections one question may read."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from rag.settings import Settings
from rag.store.chroma import SCOPE_PREFIX, ChromaStore, Hit, open_store, state_dir_for
from rag.store.keyring import CollectionKeys, Keyring, check_collection_name
from rag.store.manifest import Manifest, manifest_path
from rag.store.records import MissingKey, keyed_hash, unseal


@dataclass
class Vault:
    name: str  # the collection's name, as users know it
    keys: CollectionKeys
    state_dir: Path
    manifest: Manifest
    _stamp: tuple[int, int] | None = field(default=None, repr=False)  # the manifest file as last read

    @classmethod
    def open(cls, name: str, keys: CollectionKeys, state_dir: Path) -> "Vault":
        vault = cls(name, keys, Path(state_dir), Manifest.load(state_dir, keys))
        vault._manifest_changed()
        return vault

    def open_record(self, record_id: str, blob: str) -> dict:
        return unseal(self._key, self.keys.chroma_name, record_id, blob)

    def _key(self, fmt: int, version: int, source_id: str | None) -> list[bytes]:
        if fmt == 1:
            return [self.keys.data_keys[version]] if version in self.keys.data_keys else []
        keys = self.manifest.document_keys(source_id)
        if not keys and self._manifest_changed():  # another process ingested since this vault read it
            self.manifest = Manifest.load(self.state_dir, self.keys)
            keys = self.manifest.document_keys(source_id)
        return keys

    def reload_manifest(self) -> bool:
        """Re-read the manifest if its file changed since this vault read it (another process ingested)."""
        if self._manifest_changed():
            self.manifest = Manifest.load(self.state_dir, self.keys)
            return True
        return False

    def _manifest_changed(self) -> bool:
        """Read once per change of the file: an orphan record (a kill before its manifest was saved) must not
        make every scan re-read it."""
        path = manifest_path(self.state_dir, self.keys)
        stamp = (path.stat().st_ino, path.stat().st_mtime_ns) if path.exists() else None
        changed, self._stamp = stamp != self._stamp, stamp
        return changed


class CollectionSet:
    """The collections one question may read, seen as one store: each keeps its own Chroma collection and
    vault, and a record is opened only with the keys of the collection it came from."""

    def __init__(self, members: list[tuple[Vault, ChromaStore]]):
        self.members = members
        self.name = ",".join(vault.name for vault, _ in members)
        self._owner: dict[str, Vault] = {}

    def _remember(self, vault: Vault, ids) -> None:
        self._owner.update((i, vault) for i in ids)

    def count(self) -> int:
        return sum(store.count() for _, store in self.members)

    def close(self) -> None:
        """Let go of the Chroma clients and of this process's view of an embedded store (`ChromaStore.close`)."""
        for _, store in self.members:
            store.close()

    def query(self, vector: np.ndarray, k: int, within: Sequence[str] = ()) -> list[Hit]:
        hits = []
        for vault, store in self.members:
            found = store.query(vector, k, scope_filter(vault.keys, within) if within else None)
            self._remember(vault, (h.id for h in found))
            hits += found
        return sorted(hits, key=lambda h: -h.score)[:k]

    def get(self, ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for vault, store in self.members:
            got = store.get(ids)
            self._remember(vault, got)
            found.update(got)
        return found

    def get_with_vectors(self, ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
        found: dict[str, tuple[str, np.ndarray]] = {}
        for vault, store in self.members:
            got = store.get_with_vectors(ids)
            self._remember(vault, got)
            found.update(got)
        return found

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        return {i: v for _, store in self.members for i, v in store.vectors(ids).items()}

    def scan(self, include_vectors: bool = False) -> Iterator[tuple[str, str, dict, np.ndarray | None]]:
        for vault, store in self.members:
            for record in store.scan(include_vectors=include_vectors):
                self._owner[record[0]] = vault
                yield record

    def open(self, record_id: str, blob: str) -> dict:
        owner = self._owner.get(record_id) or (self.members[0][0] if len(self.members) == 1 else None)
        if owner is None:
            raise MissingKey(f"record {record_id} belongs to none of the collections {self.name}")
        return owner.open_record(record_id, blob)


def open_collections(settings: Settings, keyring: Keyring, embedder=None, names: Sequence[str] | None = None,
                     ) -> CollectionSet:
    """The named collections (default: `settings.collections`) of the store, for reading."""
    names = list(names or settings.collections)
    for name in names:
        check_collection_name(name)
    state_dir = state_dir_for(settings)
    return CollectionSet([(Vault.open(name, keyring.collection(name), state_dir),
                           open_store(settings, keyring.collection(name), embedder)) for name in names])


def _prefixes(path: str) -> list[str]:
    """"a/b/c.pdf" → ["a", "a/b", "a/b/c.pdf"]; "./a/b/" → ["a", "a/b"]."""
    parts = [p for p in path.strip().strip("/").split("/") if p not in ("", ".")]
    return ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]


def _scope(path: str) -> str:
    """A `--in` argument as the source names spell it ("./policies/" → "policies")."""
    return "/".join(_prefixes(path)[-1:])


def scope_metadata(keys: CollectionKeys, document: str) -> dict:
    """A record's path prefixes ("a", "a/b", "a/b/c.pdf") as keyed hashes: `--in a/b` matches without any
    path in clear on the store."""
    return {SCOPE_PREFIX + keyed_hash(keys.index_key, "scope", p, length=16): True for p in _prefixes(document)}


def scope_filter(keys: CollectionKeys, within: Sequence[str]) -> dict:
    """The Chroma `where` of records under any of the folders or files `within`."""
    terms = [{SCOPE_PREFIX + keyed_hash(keys.index_key, "scope", _scope(w), length=16): True} for w in within]
    return terms[0] if len(terms) == 1 else {"$or": terms}


def is_within(document: str, within: Sequence[str]) -> bool:
    """The same test on a decrypted source name (for passages the in-memory index found)."""
    return any(_scope(w) in _prefixes(document) for w in within)
