"""The vector store: Chroma holding sealed records, vectors and keyed hashes, nothing readable.

A store is a directory (embedded Chroma) or a `chroma+http(s)://HOST:PORT[/TENANT/DATABASE]`
URL (a Chroma server). Either way the keyring and manifest live in a local state directory,
so keys never leave the client.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence
from urllib.parse import urlparse

import numpy as np

from rag.errors import StoreProblem, UsageError
from rag.settings import APP, Settings
from rag.store.chroma_internals import drop_process_view, remove_dropped_segments, scrub_vector_files, vacuum
from rag.store.keyring import LEGACY_CHROMA_NAME, CollectionKeys

STORE_FORMAT = 1
SCOPE_PREFIX = "in_"  # metadata keys of a record's path prefixes (keyed hashes): what `--in` filters on
COMPACTING_SUFFIX = "-compacting"
# Chroma writes an HNSW index out at its whole capacity the first time, from uninitialised memory, and a
# process that opens an index never written yet writes it out again from its own memory (chroma-core/chroma
# #7688): a reader's heap holds decrypted passages. Persisting at every write leaves no index unwritten,
# and `scrub_vector_files` zeroes what lies past the live elements.
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "sync_threshold": 1}}


@dataclass(frozen=True)
class Hit:
    id: str
    score: float  # cosine similarity, 1.0 = identical direction
    sealed: str


def _chroma_settings():
    from chromadb.config import Settings as ChromaSettings

    return ChromaSettings(anonymized_telemetry=False, allow_reset=False)


def state_dir_for(settings: Settings) -> Path:
    """Where keyring and manifest live: the store directory itself, or a local folder per server URL."""
    if not settings.store_is_url:
        return Path(settings.store).expanduser()
    from platformdirs import user_data_dir

    # The tag once named the server's one collection; it keeps that form so older stores find their keys.
    tag = hashlib.sha256(f"{settings.store}#{LEGACY_CHROMA_NAME}".encode()).hexdigest()[:16]
    return Path(user_data_dir(APP)) / "servers" / tag


def store_stamp(state_dir: Path) -> tuple:
    """What changes on disk when another process re-keys, ingests into or re-calibrates the store (its keyring,
    manifests, calibration, lexical index states), audit entries aside: a long-lived process compares it."""
    paths = [p for p in state_dir.glob("*") if p.is_file() and not p.name.startswith(("audit", "."))]
    paths += list(state_dir.glob("lexicon-*/state.bin"))
    stamp = []
    for path in sorted(paths):
        try:
            info = path.stat()
        except FileNotFoundError:
            continue
        stamp.append((path.name, info.st_ino, info.st_mtime_ns, info.st_size))
    return tuple(stamp)


def make_client(settings: Settings, create: bool):
    import chromadb

    if not settings.store_is_url:
        path = Path(settings.store).expanduser()
        if not create and not (path / "chroma").exists():
            raise StoreProblem(f"no store at {path}; ingest documents first: python -m ingest FOLDER --store {path}")
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path / "chroma"), settings=_chroma_settings())
    url = urlparse(settings.store)
    if url.scheme not in ("chroma+http", "chroma+https"):
        raise UsageError(f"unknown store scheme '{url.scheme}://'; use a directory or chroma+http(s)://HOST:PORT")
    from rag.offline import allow_host

    # The user named this server; it receives only ciphertext, vectors and keyed hashes.
    allow_host(url.hostname or "localhost")
    parts = [p for p in url.path.split("/") if p]
    tenant, database = (parts + ["default_tenant", "default_database"][len(parts):])[:2]
    try:
        return chromadb.HttpClient(host=url.hostname or "localhost", port=url.port or 8000,
                                   ssl=url.scheme.endswith("s"), settings=_chroma_settings(),
                                   tenant=tenant, database=database)
    except Exception as exc:
        raise StoreProblem(f"cannot reach the Chroma server at {settings.store}: {exc}") from None


def _adopt_interrupted_compaction(client, name: str) -> None:
    names = {c.name for c in client.list_collections()}
    if name + COMPACTING_SUFFIX in names and name not in names:
        client.get_collection(name + COMPACTING_SUFFIX, embedding_function=None).modify(name=name)


class ChromaStore:
    """One Chroma collection of sealed records."""

    def __init__(self, client, collection):
        self.client = client
        self.collection = collection
        self.name = collection.name
        self._max_batch = client.get_max_batch_size()

    @property
    def info(self) -> dict:
        return dict(self.collection.metadata or {})

    def close(self) -> None:
        """Let go of the client and of this process's view of an embedded store (`drop_process_view`): the next
        open sees what other processes wrote since. Every other open store of the same path must be reopened."""
        self.client.close()
        drop_process_view(self.client)

    def _call(self, method: str, **kwargs):
        """Compaction swaps in a fresh collection under the same name; a long-lived reader (the
        server, a notebook) follows it instead of failing on the dropped one."""
        from chromadb.errors import NotFoundError

        for attempt in range(20):
            try:
                return getattr(self.collection, method)(**kwargs)
            except NotFoundError:
                if attempt == 19:
                    raise
                time.sleep(0.1 * attempt)  # between the drop and the rename of a compaction
                try:
                    self.collection = self.client.get_collection(self.name, embedding_function=None)
                except NotFoundError:
                    pass

    def count(self) -> int:
        return self._call("count")

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, sealed: Sequence[str],
               source_ids: Sequence[str], key_version: int, scopes: Sequence[dict] | None = None) -> None:
        """`scopes`: per record, the keyed hashes of its path's prefixes as `{SCOPE_PREFIX + hash: True}`."""
        metadatas = [{"sealed": s, "src": src, "kv": key_version, **(scopes[n] if scopes else {})}
                     for n, (s, src) in enumerate(zip(sealed, source_ids))]
        self.upsert_records(ids, vectors, metadatas)

    def upsert_records(self, ids: Sequence[str], vectors: np.ndarray, metadatas: Sequence[dict]) -> None:
        for start in range(0, len(ids), self._max_batch):
            end = start + self._max_batch
            self._call("upsert", ids=list(ids[start:end]), embeddings=vectors[start:end],
                       metadatas=list(metadatas[start:end]))

    def ids_for_source(self, source_id: str) -> list[str]:
        return self._call("get", where={"src": source_id}, include=[])["ids"]

    def delete(self, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), self._max_batch):
            self._call("delete", ids=list(ids[start:start + self._max_batch]))

    def query(self, vector: np.ndarray, k: int, where: dict | None = None) -> list[Hit]:
        if k <= 0:
            return []
        result = self._call("query", query_embeddings=[vector], n_results=k, include=["metadatas", "distances"],
                            **({"where": where} if where else {}))
        # A write killed midway can leave a vector whose record row never landed: no record, no hit.
        return [Hit(i, 1.0 - float(d), m["sealed"])
                for i, d, m in zip(result["ids"][0], result["distances"][0], result["metadatas"][0]) if m]

    def get(self, ids: Sequence[str]) -> dict[str, str]:
        result = self._call("get", ids=list(ids), include=["metadatas"])
        return {i: m["sealed"] for i, m in zip(result["ids"], result["metadatas"])}

    def get_with_vectors(self, ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
        """Sealed records and their vectors, in one request."""
        got = self._call("get", ids=list(ids), include=["metadatas", "embeddings"])
        return {i: (m["sealed"], np.asarray(v, dtype=np.float32))
                for i, m, v in zip(got["ids"], got["metadatas"], got["embeddings"])}

    def vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        got = self._call("get", ids=list(ids), include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32) for i, v in zip(got["ids"], got["embeddings"])}

    def scan(self, batch: int = 2000, include_vectors: bool = False, where: dict | None = None,
             ) -> Iterator[tuple[str, str, dict, np.ndarray | None]]:
        """Every record (or those matching `where`): (id, sealed, metadata, vector or None).

        By key, not by offset: the ids first, in one pass over Chroma's id index (about 40 bytes each), then
        the records by id, a batch at a time. Paging with offsets costs a walk over every record before the
        page, so a whole scan grew with the square of the store (15 minutes for the first 400k of 1M).
        A record deleted meanwhile is left out; one added meanwhile is not seen."""
        include = ["metadatas", "embeddings"] if include_vectors else ["metadatas"]
        ids = self._call("get", include=[], **({"where": where} if where else {}))["ids"]
        for start in range(0, len(ids), batch):
            page = self._call("get", ids=ids[start:start + batch], include=include)
            vectors = page["embeddings"] if include_vectors else [None] * len(page["ids"])
            for i, m, v in zip(page["ids"], page["metadatas"], vectors):
                yield i, m["sealed"], m, v

    def records_for_sources(self, source_ids: Sequence[str], include_vectors: bool = False,
                            ) -> Iterator[tuple[str, str, dict, np.ndarray | None]]:
        """The records of these sources, by their source key (Chroma's metadata index), not by a scan."""
        if not source_ids:
            return
        where = {"src": source_ids[0]} if len(source_ids) == 1 else {"src": {"$in": list(source_ids)}}
        include = ["metadatas", "embeddings"] if include_vectors else ["metadatas"]
        page = self._call("get", where=where, include=include)
        vectors = page["embeddings"] if include_vectors else [None] * len(page["ids"])
        for i, m, v in zip(page["ids"], page["metadatas"], vectors):
            yield i, m["sealed"], m, v


def compact(store: ChromaStore, settings: Settings) -> None:
    """Make deleted records really gone: Chroma marks deleted vectors in its HNSW files and leaves
    freed SQLite pages behind. Copy the live records into a fresh collection, drop the old one,
    and VACUUM. A kill midway leaves either the old collection or the copy, which `open_store` adopts."""
    if settings.store_is_url:
        # Over HTTP nothing can reach the server's free SQLite pages, which keep deleted ciphertext until
        # its operator runs `chroma vacuum` (docs/deployment.md); a copy here would cost a full transfer for nothing.
        return
    client, name = store.client, store.name
    spare = name + COMPACTING_SUFFIX
    if any(c.name == spare for c in client.list_collections()):
        client.delete_collection(spare)
    fresh = client.create_collection(spare, metadata=store.info, configuration=HNSW_CONFIGURATION,
                                     embedding_function=None)
    copy = ChromaStore(client, fresh)
    batch: list = []
    for record in store.scan(include_vectors=True):
        batch.append(record)
        if len(batch) >= 1000:
            _copy_records(copy, batch)
            batch = []
    _copy_records(copy, batch)
    client.delete_collection(name)
    fresh.modify(name=name)
    store.collection = fresh
    chroma_dir = Path(settings.store).expanduser() / "chroma"
    vacuum(chroma_dir / "chroma.sqlite3")
    remove_dropped_segments(chroma_dir)
    scrub_vector_files(settings)


def _copy_records(target: ChromaStore, records: list) -> None:
    if records:
        target.upsert_records([r[0] for r in records], np.asarray([r[3] for r in records], dtype=np.float32),
                              [r[2] for r in records])


def _persist_every_write(collection) -> None:
    """Stores made before HNSW_CONFIGURATION: the setting holds from the next process that opens them."""
    wanted = HNSW_CONFIGURATION["hnsw"]["sync_threshold"]
    current = (getattr(collection, "configuration_json", None) or {}).get("hnsw") or {}
    if current.get("sync_threshold", wanted) != wanted:
        collection.modify(configuration={"hnsw": {"sync_threshold": wanted}})


def open_store(settings: Settings, keys: CollectionKeys, embedder=None, create: bool = False) -> ChromaStore:
    """Open (or on `create`, make) a collection's Chroma collection; refuse one built by another embedder."""
    client = make_client(settings, create)
    name = keys.chroma_name
    _adopt_interrupted_compaction(client, name)
    if create:
        if embedder is None:
            raise ValueError("creating a collection needs the embedder that fills it")
        metadata = {"format": STORE_FORMAT, "embedder": embedder.name, "dim": embedder.dim,
                    "fingerprint": embedder.fingerprint, "hnsw:space": "cosine",
                    "query_prompt": embedder.query_prompt, "passage_prompt": embedder.passage_prompt}
        collection = client.get_or_create_collection(name, metadata=metadata, configuration=HNSW_CONFIGURATION,
                                                      embedding_function=None)
        _persist_every_write(collection)
    else:
        try:
            collection = client.get_collection(name, embedding_function=None)
        except Exception:
            raise StoreProblem(f"the store {settings.store} holds no records of this collection yet; "
                               "ingest documents into it first: python -m ingest FOLDER --collection NAME") from None
    store = ChromaStore(client, collection)
    info = store.info
    if info.get("format") != STORE_FORMAT:
        raise StoreProblem(f"collection '{name}' has store format {info.get('format')}; "
                           f"this version reads format {STORE_FORMAT}")
    if embedder is not None and info.get("fingerprint") != embedder.fingerprint:
        raise StoreProblem(
            f"this store was built with embedder '{info.get('embedder')}' ({info.get('dim')}-d, fingerprint "
            f"{info.get('fingerprint')}{_prompts(info)}), not '{embedder.name}' ({embedder.dim}-d, "
            f"{embedder.fingerprint}{_prompts(vars(embedder))}); use the same --embedder and prompts, "
            "or ingest into a new store")
    return store


def _prompts(described: dict) -> str:
    shown = [f"{k} {described[k]!r}" for k in ("query_prompt", "passage_prompt") if described.get(k)]
    return f", {', '.join(shown)}" if shown else ""


def drop_collection(settings: Settings, keys: CollectionKeys) -> None:
    """Remove a collection's Chroma collection (its records, vectors and keyed hashes) and compact."""
    client = make_client(settings, create=False)
    if any(c.name == keys.chroma_name for c in client.list_collections()):
        client.delete_collection(keys.chroma_name)
    if not settings.store_is_url:
        chroma_dir = Path(settings.store).expanduser() / "chroma"
        vacuum(chroma_dir / "chroma.sqlite3")
        remove_dropped_segments(chroma_dir)
