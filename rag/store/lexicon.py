"""A collection's lexical index on disk, sealed: what BM25 and the acronym reader need, never a word in clear.

    STATE_DIR/lexicon-<chroma name>/
      state.bin   the live segments, the chunks each has lost since it was written (tombstones), and the
                  version of every source it indexes; sealed, replaced atomically
      seg-*.lex   immutable segments, each sealed piece by piece under the collection's current data key:
                  its chunks (ids sorted, lengths, sources, document names), its dictionary (8-byte hashes
                  of the analysed terms, sorted, with where each term's postings start and how many there
                  are) and its postings (chunk number and term count) cut into blocks of 32,768, each
                  block a sealed piece of its own; and the acronym reader's long forms, by initials

A reader decrypts a segment's footer at open, its chunk tables and dictionary when first needed (about 45
bytes per chunk), and a block of postings only when a question's term needs it (kept in a bounded cache),
so a store of a million chunks opens in well under a second and a process holds a small part of the index. Scores are
BM25 exactly as bm25s's (its "lucene" variant, k1 1.5, b 0.75, float32 sums in query order) computed over
the live chunks of every collection searched together.

Writes (an ingest, `--prune`, `--check`, a deletion, a key rotation) happen under the store's ingest lock:
a new segment is written whole under a fresh name, then the state names it; segments of similar size are
merged by the writer, and a merge or a purge drops the postings of deleted chunks for good. A kill at any
point leaves the old state or the new one. The index records each source's version (the manifest's content
hash and ingest time); whatever disagrees with the manifest when a store is opened (a store made before
this index, an ingest killed between its writes) is caught up from the store by source key: with the lock,
once and for all; without it (an ingest is running), in memory for this process only.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import math
import os
import struct
import sys
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np

from rag import language as languages
from rag.acronyms import DEFINED_WEIGHT, AcronymIndex, features
from rag.errors import IntegrityError
from rag.fsutil import atomic_write
from rag.store.records import MissingKey, seal_blob, unseal_blob

if TYPE_CHECKING:
    from rag.store.chroma import ChromaStore
    from rag.store.keyring import CollectionKeys
    from rag.store.manifest import SourceEntry
    from rag.store.vault import Vault

LEXICON_FORMAT = 1
K1, B = 1.5, 0.75  # bm25s's defaults, which the in-memory index used
BLOCK_POSTINGS = 32_768  # postings per sealed block (192 KiB)
PHRASE_BLOCK_BYTES = 1 << 16
SEGMENT_DOCS = 100_000  # a writer's pending chunks become a segment at this many (bounded memory)
MERGE_FACTOR = 8  # this many segments of a size class are merged into one
MERGE_POSTINGS = 8_000_000  # a merge sorts at most this many postings at a time (a few hundred MB)
PURGE_SHARE = 0.25  # a segment that has lost this share of its chunks is rewritten without them
# Memory a reader may keep for speed: decrypted posting blocks, and the BM25 weights of recent terms.
CACHE_BYTES = int(os.environ.get("RAG_LEXICON_CACHE_MIB", "256")) * 2**20
BLOCKS_BYTES, WEIGHTS_BYTES = CACHE_BYTES // 4, CACHE_BYTES * 3 // 4
FETCH_SOURCES = 64  # sources per `$in` request while catching up
PROGRESS_CHUNKS = 5_000  # catching up more chunks than this shows a progress bar

_SEGMENT_HEAD = struct.Struct(">4sBI")  # magic, format, key version
_SEGMENT_TAIL = struct.Struct(">QI4s")  # footer offset, footer length, magic
_STATE_HEAD = struct.Struct(">4sBI")
_U64 = np.dtype("<u8")
_U32 = np.dtype("<u4")
_U16 = np.dtype("<u2")
STATE_NAME = "state.bin"

log = logging.getLogger("rag")


def lexicon_dir(state_dir: Path, keys: "CollectionKeys") -> Path:
    return Path(state_dir) / f"lexicon-{keys.chroma_name}"


def source_version(entry: "SourceEntry") -> str:
    """What the index records of a source to know the manifest still describes the same chunks."""
    return f"{entry.content_hash}|{entry.ingested_at}"


def term_key(term: str) -> int:
    """A term's place in the dictionary: 8 bytes of BLAKE2b. Terms never appear in a segment, even sealed;
    two terms of one store sharing a key is a 1-in-10^6 event at ten million distinct terms."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")


_USED, _RUN, _DEFINED, _INITIALS = "\x00U", "\x00P", "\x00D", "\x00I"  # acronym keys: no term holds a NUL


# --- analysis --------------------------------------------------------------------------------------------

@dataclass
class Doc:
    """One chunk as the index keeps it."""

    id: str
    source: str  # its source id (keyed hash): what a re-ingest, prune or deletion names
    name: str  # its document's name (sealed): what `--in` filters lexical hits on
    length: int  # its number of terms
    keys: np.ndarray  # term keys (of its terms and acronym features), uint64
    counts: np.ndarray  # how often each occurs in it, uint16
    phrases: set[tuple[str, str]] = field(default_factory=set)  # (initials, capitalised run or defined long form)


def analyse(record_id: str, source: str, name: str, text: str, language: "languages.Language | str") -> Doc:
    """A chunk's terms in its own language, and what `rag.acronyms.AcronymIndex` would count of it."""
    if isinstance(language, str):
        language = languages.get(language)
    terms = language.terms(text)
    counts: Counter = Counter()
    for term, count in Counter(terms).items():
        counts[term_key(term)] += count
    phrases: set[tuple[str, str]] = set()
    found = features(text)
    for acronym, count in found.used.items():
        counts[term_key(_USED + acronym)] += count
    for initials, phrase in found.runs:
        counts[term_key(_RUN + phrase)] += 1
        phrases.add((initials, phrase))
    for acronym, long_form in found.defined:
        counts[term_key(_DEFINED + acronym + "\x00" + long_form)] += 1
        phrases.add((acronym, long_form))
    return Doc(record_id, source, name, len(terms), np.fromiter(counts.keys(), _U64, len(counts)),
               np.minimum(np.fromiter(counts.values(), np.int64, len(counts)), 65535).astype(_U16), phrases)


# --- segments ----------------------------------------------------------------------------------------------

class _BlockCache:
    """Decrypted blocks of every segment this process reads, least recently used first out."""

    def __init__(self, budget: int):
        self.budget, self.used = budget, 0
        self.blocks: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            found = self.blocks.get(key)
            if found is not None:
                self.blocks.move_to_end(key)
            return found

    def put(self, key, value, size: int) -> None:
        with self.lock:
            self.blocks[key] = (value, size)
            self.used += size
            while self.used > self.budget and len(self.blocks) > 1:
                _, (_, dropped) = self.blocks.popitem(last=False)
                self.used -= dropped


CACHE = _BlockCache(BLOCKS_BYTES)


class Segment:
    """One immutable segment, open for reading: its tables decrypted, its blocks on demand."""

    def __init__(self, name: str, collection: str, keys: dict[int, bytes], data: bytes | None = None,
                 path: Path | None = None):
        self.name, self.collection = name, collection
        self.uid = uuid.uuid4().hex  # the cache's key: a memory segment has no file to tell it apart
        self._data, self._fd = data, None
        if data is None:
            self._fd = os.open(path, os.O_RDONLY)
        try:
            head = self._read(0, _SEGMENT_HEAD.size)
            magic, fmt, version = _SEGMENT_HEAD.unpack(head)
            if magic != b"PRLX" or fmt != LEXICON_FORMAT:
                raise IntegrityError(f"lexical index segment {name} has an unknown format")
            if version not in keys:
                raise MissingKey(f"lexical index segment {name} is sealed under data key v{version}, which is gone")
            self.key = keys[version]
            size = len(data) if data is not None else os.fstat(self._fd).st_size
            offset, length, magic = _SEGMENT_TAIL.unpack(self._read(size - _SEGMENT_TAIL.size, _SEGMENT_TAIL.size))
            if magic != b"XLRP":
                raise IntegrityError(f"lexical index segment {name} is truncated")
            self.meta = json.loads(self._open_piece("footer", self._read(offset, length)))
        except BaseException:
            self.close()
            raise
        self.docs = self.meta["docs"]
        self.postings = self.meta["postings"]
        self._tables: dict[str, object] = {}

    # reading
    def _read(self, offset: int, length: int) -> bytes:
        if self._data is not None:
            return self._data[offset:offset + length]
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise IntegrityError(f"lexical index segment {self.name} is truncated")
        return data

    def _purpose(self, piece: str) -> str:
        return f"lexicon:{self.collection}:{self.name}:{piece}"

    def _open_piece(self, piece: str, blob: bytes) -> bytes:
        return unseal_blob(self.key, self._purpose(piece), blob, f"lexical index segment {self.name}")

    def table(self, name: str):
        """A decrypted table ("ids", "lengths", "keys", ...), read once."""
        found = self._tables.get(name)
        if found is None:
            offset, length, dtype, count = self.meta["tables"][name]
            raw = self._open_piece(name, self._read(offset, length))
            found = json.loads(raw) if dtype == "json" else np.frombuffer(raw, dtype=np.dtype(dtype), count=count)
            self._tables[name] = found
        return found

    def _block(self, number: int) -> tuple[np.ndarray, np.ndarray]:
        cached = CACHE.get((self.uid, number))
        if cached is not None:
            return cached[0]
        offset, length = self.meta["blocks"][number]
        raw = self._open_piece(f"block{number}", self._read(offset, length))
        count = min(BLOCK_POSTINGS, self.postings - number * BLOCK_POSTINGS)
        value = (np.frombuffer(raw, _U32, count), np.frombuffer(raw, _U16, count, offset=4 * count))
        CACHE.put((self.uid, number), value, len(raw))
        return value

    def posting_range(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Postings start..stop of the segment's virtual posting list (chunk numbers, counts)."""
        if stop <= start:
            return np.empty(0, _U32), np.empty(0, _U16)
        first, last = start // BLOCK_POSTINGS, (stop - 1) // BLOCK_POSTINGS
        parts = []
        for number in range(first, last + 1):
            docs, tfs = self._block(number)
            base = number * BLOCK_POSTINGS
            lo, hi = max(start - base, 0), min(stop - base, len(docs))
            parts.append((docs[lo:hi], tfs[lo:hi]))
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def lookup(self, key: int) -> tuple[int, int] | None:
        """Where key's postings are: (start, count), or None."""
        keys = self.table("keys")
        at = int(np.searchsorted(keys, np.uint64(key)))
        if at == len(keys) or int(keys[at]) != key:
            return None
        return int(self.table("starts")[at]), int(self.table("dfs")[at])

    def postings_of(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        where = self.lookup(key)
        if where is None:
            return np.empty(0, _U32), np.empty(0, _U16)
        return self.posting_range(where[0], where[0] + where[1])

    def phrases(self, initials: str) -> list[str]:
        keys = self.table("initials")
        key = term_key(_INITIALS + initials)
        at = int(np.searchsorted(keys, np.uint64(key)))
        if at == len(keys) or int(keys[at]) != key:
            return []
        start, length = int(self.table("pstarts")[at]), int(self.table("plens")[at])
        data = bytearray()
        for number in range(start // PHRASE_BLOCK_BYTES, (start + length - 1) // PHRASE_BLOCK_BYTES + 1):
            offset, size = self.meta["phrase_blocks"][number]
            raw = self._open_piece(f"phrases{number}", self._read(offset, size))
            base = number * PHRASE_BLOCK_BYTES
            data += raw[max(start - base, 0):start + length - base]
        return bytes(data).decode().split("\n")

    def all_phrases(self) -> dict[str, list[str]]:
        """Every initials' phrases (for a merge)."""
        data = bytearray()
        for number in range(len(self.meta["phrase_blocks"])):
            offset, size = self.meta["phrase_blocks"][number]
            data += self._open_piece(f"phrases{number}", self._read(offset, size))
        out = {}
        for initials, start, length in zip(self.table("initial_names"), self.table("pstarts"), self.table("plens")):
            out[initials] = bytes(data[int(start):int(start) + int(length)]).decode().split("\n")
        return out

    def find(self, record_id: str) -> int | None:
        ids = self.table("ids")
        wanted = record_id.encode()
        at = int(np.searchsorted(ids, wanted))
        return at if at < len(ids) and ids[at] == wanted else None

    def source_docs(self, source_ids: Iterable[str]) -> np.ndarray:
        """The segment's chunk numbers of these sources."""
        sources = self.table("sources")
        wanted = np.array(sorted({s.encode() for s in source_ids}))
        if not len(sources) or not len(wanted):
            return np.empty(0, _U32)
        at = np.searchsorted(sources, wanted)
        at = at[at < len(sources)]
        hits = at[np.isin(sources[at], wanted)]
        if not len(hits):
            return np.empty(0, _U32)
        return np.nonzero(np.isin(self.table("doc_source"), hits.astype(_U32)))[0].astype(_U32)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _SegmentWriter:
    """Writes one segment: postings and phrases streamed into sealed blocks, tables and footer at the end."""

    def __init__(self, name: str, collection: str, key: bytes, version: int, path: Path | None):
        self.name, self.collection, self.key = name, collection, key
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp") if path else None
        self.out = open(self.tmp, "wb") if path else io.BytesIO()
        if path:
            os.chmod(self.tmp, 0o600)
        self.offset = 0
        self._write(_SEGMENT_HEAD.pack(b"PRLX", LEXICON_FORMAT, version))
        self.blocks: list[list[int]] = []
        self.phrase_blocks: list[list[int]] = []
        self.postings = 0
        self._docs: list[np.ndarray] = []
        self._tfs: list[np.ndarray] = []
        self._pending = 0
        self._phrases = bytearray()
        self.phrase_bytes = 0
        self.tables: dict[str, list] = {}

    def _write(self, data: bytes) -> tuple[int, int]:
        at = self.offset
        self.out.write(data)
        self.offset += len(data)
        return at, len(data)

    def _seal(self, piece: str, data: bytes) -> list[int]:
        return list(self._write(seal_blob(self.key, f"lexicon:{self.collection}:{self.name}:{piece}", data)))

    def add_postings(self, docs: np.ndarray, tfs: np.ndarray) -> None:
        self._docs.append(np.asarray(docs, _U32))
        self._tfs.append(np.asarray(tfs, _U16))
        self._pending += len(docs)
        self.postings += len(docs)
        while self._pending >= BLOCK_POSTINGS:
            self._flush_block(BLOCK_POSTINGS)

    def _flush_block(self, size: int) -> None:
        docs, tfs = np.concatenate(self._docs), np.concatenate(self._tfs)
        number = len(self.blocks)
        self.blocks.append(self._seal(f"block{number}", docs[:size].tobytes() + tfs[:size].tobytes()))
        self._docs, self._tfs = [docs[size:]], [tfs[size:]]
        self._pending -= size

    def add_phrases(self, data: bytes) -> None:
        self._phrases += data
        self.phrase_bytes += len(data)
        while len(self._phrases) >= PHRASE_BLOCK_BYTES:
            self._flush_phrases(PHRASE_BLOCK_BYTES)

    def _flush_phrases(self, size: int) -> None:
        number = len(self.phrase_blocks)
        self.phrase_blocks.append(self._seal(f"phrases{number}", bytes(self._phrases[:size])))
        del self._phrases[:size]

    def table(self, name: str, value) -> None:
        if isinstance(value, np.ndarray):
            offset, length = self._seal(name, np.ascontiguousarray(value).tobytes())
            self.tables[name] = [offset, length, value.dtype.str, int(len(value))]
        else:
            offset, length = self._seal(name, json.dumps(value, ensure_ascii=False).encode())
            self.tables[name] = [offset, length, "json", 0]

    def finish(self, docs: int) -> bytes | None:
        if self._pending:
            self._flush_block(self._pending)
        if self._phrases:
            self._flush_phrases(len(self._phrases))
        footer = {"docs": docs, "postings": self.postings, "blocks": self.blocks,
                  "phrase_blocks": self.phrase_blocks, "tables": self.tables}
        offset, length = self._seal("footer", json.dumps(footer).encode())
        self._write(_SEGMENT_TAIL.pack(offset, length, b"XLRP"))
        if self.path is None:
            return self.out.getvalue()
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        os.replace(self.tmp, self.path)
        return None

    def abort(self) -> None:
        self.out.close()
        if self.tmp:
            self.tmp.unlink(missing_ok=True)


def _write_tables(writer: _SegmentWriter, ids: np.ndarray, lengths, doc_sources: list[str], doc_names: list[str],
                  keys: np.ndarray, starts: np.ndarray, dfs: np.ndarray, phrases: dict[str, list[str]]) -> None:
    """Chunk tables (ids sorted), dictionary, and the phrase index; the phrases themselves were streamed."""
    sources = sorted(set(doc_sources))
    names = sorted(set(doc_names))
    source_at = {s: n for n, s in enumerate(sources)}
    name_at = {s: n for n, s in enumerate(names)}
    writer.table("ids", ids if len(ids) else np.empty(0, "S1"))
    writer.table("lengths", np.asarray(lengths, _U32))
    writer.table("sources", np.array([s.encode() for s in sources], dtype=f"S{max([len(s) for s in sources] + [1])}"))
    writer.table("doc_source", np.array([source_at[s] for s in doc_sources], _U32))
    writer.table("names", names)
    writer.table("doc_name", np.array([name_at[n] for n in doc_names], _U32))
    writer.table("keys", np.asarray(keys, _U64))
    writer.table("starts", np.asarray(starts, _U64))
    writer.table("dfs", np.asarray(dfs, _U32))
    initials = sorted(phrases, key=lambda i: term_key(_INITIALS + i))
    pstarts, plens, at = [], [], 0
    for name in initials:
        size = len("\n".join(phrases[name]).encode())
        pstarts.append(at)
        plens.append(size)
        at += size
    writer.table("initials", np.array([term_key(_INITIALS + i) for i in initials], _U64))
    writer.table("initial_names", initials)
    writer.table("pstarts", np.array(pstarts, _U64))
    writer.table("plens", np.array(plens, _U32))


def _stream_phrases(writer: _SegmentWriter, phrases: dict[str, list[str]]) -> None:
    for name in sorted(phrases, key=lambda i: term_key(_INITIALS + i)):
        writer.add_phrases("\n".join(phrases[name]).encode())


def build_segment(docs: Sequence[Doc], writer: _SegmentWriter) -> bytes | None:
    """A segment of analysed chunks."""
    docs = sorted(docs, key=lambda d: d.id)
    keys = np.concatenate([d.keys for d in docs]) if docs else np.empty(0, _U64)
    tfs = np.concatenate([d.counts for d in docs]) if docs else np.empty(0, _U16)
    numbers = np.repeat(np.arange(len(docs), dtype=_U32), [len(d.keys) for d in docs])
    order = np.lexsort((numbers, keys))
    keys, numbers, tfs = keys[order], numbers[order], tfs[order]
    unique, starts, dfs = np.unique(keys, return_index=True, return_counts=True)
    writer.add_postings(numbers, tfs)
    phrases: dict[str, set] = {}
    for doc in docs:
        for initials, phrase in doc.phrases:
            phrases.setdefault(initials, set()).add(phrase)
    ordered = {i: sorted(p) for i, p in phrases.items()}
    _stream_phrases(writer, ordered)
    _write_tables(writer, np.array([d.id.encode() for d in docs], dtype=f"S{max([len(d.id) for d in docs] + [1])}"),
                  [d.length for d in docs], [d.source for d in docs],
                  [d.name for d in docs], unique, starts, dfs, ordered)
    return writer.finish(len(docs))


def merge_segments(parts: Sequence[tuple[Segment, np.ndarray | None]],
                   writer: _SegmentWriter) -> tuple[bytes | None, int]:
    """One segment of the live chunks of `parts` (segment, its dead chunk numbers): deleted chunks' postings,
    and long forms no live chunk holds, are gone from it. Sorted in slices of the key space, so memory stays
    bounded however large the segments."""
    alive = []
    for segment, dead in parts:
        mask = np.ones(segment.docs, bool)
        if dead is not None and len(dead):
            mask[dead] = False
        alive.append(mask)
    ids = np.concatenate([s.table("ids")[m] for (s, _), m in zip(parts, alive)]) if parts else np.empty(0, "S1")
    order = np.argsort(ids, kind="stable")
    new_number = np.empty(len(ids), np.int64)
    new_number[order] = np.arange(len(ids))
    remap, at = [], 0
    for (segment, _), mask in zip(parts, alive):
        table = np.full(segment.docs, -1, np.int64)
        live = int(mask.sum())
        table[mask] = new_number[at:at + live]
        at += live
        remap.append(table)
    lengths = np.concatenate([s.table("lengths")[m] for (s, _), m in zip(parts, alive)])[order]
    sources = [s.table("sources")[s.table("doc_source")[m]] for (s, _), m in zip(parts, alive)]
    doc_sources = [x.decode() for x in np.concatenate(sources)[order]] if len(ids) else []
    names = [np.array(s.table("names"), dtype=object)[s.table("doc_name")[m]] if len(s.table("names")) else
             np.empty(0, object) for (s, _), m in zip(parts, alive)]
    doc_names = list(np.concatenate(names)[order]) if len(ids) else []
    total = sum(s.postings for s, _ in parts)
    slices = max(1, -(-total // MERGE_POSTINGS))
    bounds = [(2**64 * n) // slices for n in range(slices + 1)]
    all_keys, all_starts, all_dfs, written = [], [], [], 0
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        keys_parts, docs_parts, tfs_parts = [], [], []
        for (segment, _), table in zip(parts, remap):
            keys = segment.table("keys")
            a = int(np.searchsorted(keys, np.uint64(lo)))
            b = int(np.searchsorted(keys, np.uint64(hi))) if hi < 2**64 else len(keys)
            if a >= b:
                continue
            starts, dfs = segment.table("starts"), segment.table("dfs")
            docs, tfs = segment.posting_range(int(starts[a]), int(starts[b - 1] + dfs[b - 1]))
            expanded = np.repeat(keys[a:b], dfs[a:b].astype(np.int64))
            numbers = table[docs]
            keep = numbers >= 0
            keys_parts.append(expanded[keep])
            docs_parts.append(numbers[keep])
            tfs_parts.append(tfs[keep])
        if not keys_parts:
            continue
        keys, docs, tfs = np.concatenate(keys_parts), np.concatenate(docs_parts), np.concatenate(tfs_parts)
        if not len(keys):
            continue
        order_slice = np.lexsort((docs, keys))
        keys, docs, tfs = keys[order_slice], docs[order_slice], tfs[order_slice]
        unique, starts, dfs = np.unique(keys, return_index=True, return_counts=True)
        writer.add_postings(docs.astype(_U32), tfs)
        all_keys.append(unique)
        all_starts.append(starts.astype(np.int64) + written)
        all_dfs.append(dfs)
        written += len(keys)
    keys = np.concatenate(all_keys) if all_keys else np.empty(0, _U64)
    starts = np.concatenate(all_starts) if all_starts else np.empty(0, np.int64)
    dfs = np.concatenate(all_dfs) if all_dfs else np.empty(0, np.int64)
    phrases: dict[str, set] = {}
    for segment, _ in parts:
        for initials, found in segment.all_phrases().items():
            phrases.setdefault(initials, set()).update(found)
    kept: dict[str, list[str]] = {}
    for initials, found in phrases.items():
        live = [p for p in sorted(found) if _has(keys, term_key(_RUN + p))
                or _has(keys, term_key(_DEFINED + initials + "\x00" + p))]
        if live:
            kept[initials] = live
    _stream_phrases(writer, kept)
    _write_tables(writer, ids[order], lengths, doc_sources, doc_names, keys, starts, dfs, kept)
    return writer.finish(len(ids)), len(ids)


def _has(sorted_keys: np.ndarray, key: int) -> bool:
    at = int(np.searchsorted(sorted_keys, np.uint64(key)))
    return at < len(sorted_keys) and int(sorted_keys[at]) == key


# --- state ---------------------------------------------------------------------------------------------------

@dataclass
class State:
    generation: int = 0
    segments: list[str] = field(default_factory=list)
    tombstones: dict[str, np.ndarray] = field(default_factory=dict)  # segment -> its dead chunk numbers, sorted
    sources: dict[str, str] = field(default_factory=dict)  # source id -> version it was indexed at

    def to_json(self) -> bytes:
        return json.dumps({"generation": self.generation, "segments": self.segments,
                           "tombstones": {n: base64.b64encode(np.asarray(t, _U32).tobytes()).decode()
                                          for n, t in self.tombstones.items() if len(t)},
                           "sources": self.sources}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "State":
        obj = json.loads(raw)
        return cls(obj["generation"], obj["segments"],
                   {n: np.frombuffer(base64.b64decode(t), _U32).copy() for n, t in obj["tombstones"].items()},
                   obj["sources"])

    def copy(self) -> "State":
        return State(self.generation, list(self.segments), dict(self.tombstones), dict(self.sources))


class Files:
    """A collection's lexicon directory: its state file and segment files."""

    def __init__(self, state_dir: Path, keys: "CollectionKeys"):
        self.dir = lexicon_dir(state_dir, keys)
        self.keys = keys
        self.collection = keys.chroma_name

    @property
    def state_path(self) -> Path:
        return self.dir / STATE_NAME

    def stamp(self) -> tuple | None:
        try:
            st = self.state_path.stat()
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def read_state(self) -> State | None:
        try:
            raw = self.state_path.read_bytes()
        except FileNotFoundError:
            return None
        magic, fmt, version = _STATE_HEAD.unpack_from(raw)
        if magic != b"PRLS" or fmt != LEXICON_FORMAT:
            raise IntegrityError(f"{self.state_path} has an unknown format")
        if version not in self.keys.data_keys:
            raise MissingKey(f"{self.state_path} is sealed under data key v{version}, which is gone")
        return State.from_json(unseal_blob(self.keys.data_keys[version], f"lexicon:{self.collection}:state",
                                           raw[_STATE_HEAD.size:], str(self.state_path)))

    def write_state(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        blob = _STATE_HEAD.pack(b"PRLS", LEXICON_FORMAT, self.keys.current) + seal_blob(
            self.keys.record_key, f"lexicon:{self.collection}:state", state.to_json())
        atomic_write(self.state_path, blob)

    def open_segment(self, name: str) -> Segment:
        return Segment(name, self.collection, self.keys.data_keys, path=self.dir / name)

    def new_writer(self, generation: int, persist: bool) -> _SegmentWriter:
        name = f"seg-{generation:08d}-{uuid.uuid4().hex[:8]}.lex" if persist else f"mem-{uuid.uuid4().hex}"
        if persist:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        return _SegmentWriter(name, self.collection, self.keys.record_key, self.keys.current,
                              self.dir / name if persist else None)

    def finish(self, writer: _SegmentWriter, data: bytes | None) -> Segment:
        if data is None:
            return self.open_segment(writer.name)
        return Segment(writer.name, self.collection, self.keys.data_keys, data=data)

    def remove_unreferenced(self, state: State) -> None:
        """Segment files no state names: replaced by a merge, or left by a kill before their state was written."""
        if not self.dir.exists():
            return
        live = set(state.segments)
        for path in self.dir.iterdir():
            if path.name != STATE_NAME and path.name not in live:
                path.unlink(missing_ok=True)


# --- the writer -----------------------------------------------------------------------------------------------

class LexiconWriter:
    """Changes to one collection's index. `persist`: written to disk (the caller holds the ingest lock);
    otherwise the changes live in this process only (a reader catching up while an ingest runs)."""

    def __init__(self, files: Files, state: State, segments: dict[str, Segment], persist: bool = True):
        self.files, self.state, self.segments, self.persist = files, state, segments, persist
        self._pending: list[Doc] = []
        self._removed: set[str] = set()
        self._dirty = False

    @classmethod
    def open(cls, state_dir: Path, keys: "CollectionKeys", persist: bool = True,
             reuse: dict[str, Segment] | None = None) -> "LexiconWriter":
        """`reuse`: segments already open (by name; they never change once written)."""
        files = Files(state_dir, keys)
        reuse = reuse or {}
        try:
            for attempt in range(10):
                state = files.read_state()
                try:
                    segments = {name: reuse.get(name) or files.open_segment(name)
                                for name in (state.segments if state else [])}
                    break
                except FileNotFoundError:  # a writer replaced it after we read the state: read the new state
                    time.sleep(0.02 * (attempt + 1))
            else:
                raise IntegrityError("the lexical index names segments that are not there")
        except (IntegrityError, OSError, ValueError, KeyError, struct.error) as exc:
            # Unreadable (a key destroyed before a rotation resealed it, a damaged file): rebuilt by the catch-up.
            log.warning("the lexical index of this collection is unreadable (%s); it is rebuilt from the store", exc)
            state, segments = None, {}
        writer = cls(files, state or State(), segments, persist)
        if state is None and persist:
            writer._dirty = True  # an empty state is written, so readers know the index exists
        return writer

    # changes
    def add(self, source_id: str, version: str, chunks: Iterable[tuple[str, str, str, str]],
            replace: bool = True) -> None:
        """A source's chunks (id, text, language code, document name), replacing what the index held of it."""
        if replace:
            self.remove([source_id])
        for record_id, text, language, name in chunks:
            self._pending.append(analyse(record_id, source_id, name, text, language))
        self.state.sources[source_id] = version
        self._dirty = True
        if len(self._pending) >= SEGMENT_DOCS:
            self._write_pending()

    def remove(self, source_ids: Iterable[str]) -> None:
        """Sources deleted or replaced: their chunks stop counting at once and leave the disk at the next
        merge or purge."""
        source_ids = set(source_ids)
        if not source_ids:
            return
        self._pending = [d for d in self._pending if d.source not in source_ids]
        self._removed |= source_ids
        for source_id in source_ids:
            self.state.sources.pop(source_id, None)
        self._dirty = True

    def _tombstone(self, name: str, numbers: np.ndarray) -> None:
        old = self.state.tombstones.get(name, np.empty(0, _U32))
        self.state.tombstones[name] = np.union1d(old, numbers).astype(_U32)

    def _apply_removals(self) -> None:
        if not self._removed:
            return
        for name in self.state.segments:
            numbers = self.segments[name].source_docs(self._removed)
            if len(numbers):
                self._tombstone(name, numbers)
        self._removed = set()

    def _write_pending(self) -> None:
        self._apply_removals()
        if not self._pending:
            return
        self.state.generation += 1
        writer = self.files.new_writer(self.state.generation, self.persist)
        try:
            data = build_segment(self._pending, writer)
        except BaseException:
            writer.abort()
            raise
        self.segments[writer.name] = self.files.finish(writer, data)
        self.state.segments.append(writer.name)
        self._pending = []

    def commit(self) -> None:
        """Pending chunks become a segment, segments of a size class merge, and the state is written."""
        if not self._dirty:
            return
        self._write_pending()
        self._apply_removals()
        if self.persist:
            self._merge_tiers()
            self._save()
        self._dirty = False

    def _save(self) -> None:
        self.files.write_state(self.state)
        self.files.remove_unreferenced(self.state)
        for name in [n for n in self.segments if n not in self.state.segments]:
            self.segments.pop(name).close()

    def _live(self, name: str) -> int:
        return self.segments[name].docs - len(self.state.tombstones.get(name, ()))

    def _merge_tiers(self) -> None:
        while True:
            tiers: dict[int, list[str]] = {}
            for name in self.state.segments:
                tiers.setdefault(int(math.log(max(self._live(name), 1), MERGE_FACTOR)), []).append(name)
            full = [names for names in tiers.values() if len(names) >= MERGE_FACTOR]
            worn = [[n] for n in self.state.segments
                    if len(self.state.tombstones.get(n, ())) > PURGE_SHARE * self.segments[n].docs]
            if not (full or worn):
                return
            self._rewrite((full or worn)[0])

    def _rewrite(self, names: list[str]) -> None:
        """Segments `names` become one (or none, if nothing of them lives), in the place of the first."""
        self.state.generation += 1
        writer = self.files.new_writer(self.state.generation, self.persist)
        try:
            data, docs = merge_segments([(self.segments[n], self.state.tombstones.get(n)) for n in names], writer)
        except BaseException:
            writer.abort()
            raise
        at = self.state.segments.index(names[0])
        segments = [n for n in self.state.segments if n not in names]
        if docs:
            self.segments[writer.name] = self.files.finish(writer, data)
            segments.insert(min(at, len(segments)), writer.name)
        elif writer.path:
            writer.path.unlink(missing_ok=True)
        for name in names:
            self.state.tombstones.pop(name, None)
        self.state.segments = segments

    def purge(self) -> None:
        """Rewrite every segment that holds deleted chunks without them (after a deletion: their term
        counts leave the disk with their records)."""
        self.commit()
        for name in [n for n in self.state.segments if len(self.state.tombstones.get(n, ()))]:
            self._rewrite([name])
        if self.persist:
            self._save()

    def reseal(self) -> None:
        """Everything under the collection's current data key, in one segment (a key rotation, before the old
        key is destroyed)."""
        self.commit()
        if self.state.segments:
            self._rewrite(list(self.state.segments))
        self._dirty = True
        self._save()

    # catching up with the manifest
    def sync(self, vault: "Vault", store: "ChromaStore", show_progress: bool = True) -> int:
        """Index whatever the manifest holds and the index does not (at its version), drop what it no longer
        holds; the chunks come from the store by source key. Returns how many chunks were (re)indexed."""
        vault.reload_manifest()
        wanted = {sid: source_version(e) for sid, e in vault.manifest.entries.items()}
        stale = [sid for sid, version in self.state.sources.items() if wanted.get(sid) != version]
        missing = [sid for sid, version in wanted.items() if self.state.sources.get(sid) != version]
        if not (stale or missing):
            return 0
        self.remove(stale)
        total = sum(vault.manifest.entries[sid].chunks for sid in missing)
        done = 0
        with _progress(total if show_progress and total >= PROGRESS_CHUNKS else 0,
                       "indexing the collection's chunks (once)") as advance:
            for start in range(0, len(missing), FETCH_SOURCES):
                batch = missing[start:start + FETCH_SOURCES]
                chunks: dict[str, list] = {sid: [] for sid in batch}
                for record_id, sealed, meta, _ in store.records_for_sources(batch):
                    try:
                        payload = vault.open_record(record_id, sealed)
                    except MissingKey:
                        continue  # a kill left it before its document was recorded; `ingest --check` removes it
                    chunks.setdefault(meta["src"], []).append(
                        (record_id, payload["text"], payload.get("lang", languages.DEFAULT), payload["source"]))
                for sid in batch:
                    self.add(sid, wanted[sid], chunks.get(sid, []))
                    done += len(chunks.get(sid, []))
                advance(sum(len(c) for c in chunks.values()))
        self.commit()
        return done

    def close(self) -> None:
        for segment in self.segments.values():
            segment.close()


class _progress:
    """A `rich` progress bar on stderr for a long catch-up; nothing for a short one."""

    def __init__(self, total: int, label: str):
        self.total, self.label, self.bar = total, label, None

    def __enter__(self) -> Callable[[int], None]:
        if self.total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), transient=True,
                                console=Console(file=sys.stderr))
            self.bar.start()
            task = self.bar.add_task(self.label, total=self.total)
            return lambda n: self.bar.advance(task, n)
        return lambda n: None

    def __exit__(self, *exc) -> None:
        if self.bar:
            self.bar.stop()


def remove_lexicon(state_dir: Path, keys: "CollectionKeys") -> None:
    """A deleted collection's index goes with it (its key is destroyed in the same step)."""
    import shutil

    shutil.rmtree(lexicon_dir(state_dir, keys), ignore_errors=True)


# --- reading: one or more collections searched as one --------------------------------------------------------

@dataclass
class Hit:
    id: str
    score: float
    name: str  # the chunk's document name


class _View:
    """One segment as a reader sees it: where its chunks sit in the joint numbering, and which live."""

    def __init__(self, segment: Segment, dead: np.ndarray | None, offset: int):
        self.segment, self.offset = segment, offset
        self.alive = None
        if dead is not None and len(dead):
            self.alive = np.ones(segment.docs, bool)
            self.alive[dead] = False
        self.live = segment.docs - (0 if self.alive is None else int((~self.alive).sum()))
        lengths = segment.table("lengths")
        self.length_sum = int(lengths.sum() if self.alive is None else lengths[self.alive].sum())
        self.norm: np.ndarray | None = None  # k1 * (1 - b + b * length / average), per chunk

    def postings(self, key: int) -> tuple[np.ndarray, np.ndarray]:
        docs, tfs = self.segment.postings_of(key)
        if self.alive is not None and len(docs):
            keep = self.alive[docs]
            docs, tfs = docs[keep], tfs[keep]
        return docs, tfs


class Lexicon:
    """One collection's index as a reader sees it, kept in step with the manifest (see the module doc)."""

    def __init__(self, vault: "Vault", store: "ChromaStore", lock_path: Path | None = None):
        self.vault, self.store = vault, store
        self.files = Files(vault.state_dir, vault.keys)
        self.lock_path = lock_path or Path(vault.state_dir) / ".ingest.lock"
        self.writer: LexiconWriter | None = None
        self._stamps: tuple | None = None
        self.forgotten: set[str] = set()

    def _manifest_stamp(self):
        from rag.store.manifest import manifest_path

        path = manifest_path(self.vault.state_dir, self.vault.keys)
        try:
            st = path.stat()
            return st.st_ino, st.st_mtime_ns, st.st_size
        except FileNotFoundError:
            return None

    def refresh(self) -> bool:
        """Re-read the index if it or the manifest changed on disk; catch up if they disagree. True if the
        view changed."""
        stamps = (self.files.stamp(), self._manifest_stamp())
        if stamps == self._stamps and self.writer is not None:
            return False
        writer = LexiconWriter.open(self.vault.state_dir, self.vault.keys, persist=False, reuse=self._open())
        if self._lags(writer):
            writer = self._catch_up(writer)
        if self.writer is not None:
            old = self.writer
            for name, segment in old.segments.items():
                if name not in writer.segments:
                    segment.close()
        self.writer = writer
        self._stamps = (self.files.stamp(), self._manifest_stamp())
        return True

    def _open(self) -> dict[str, Segment]:
        return {n: s for n, s in self.writer.segments.items() if not n.startswith("mem-")} if self.writer else {}

    def _lags(self, writer: LexiconWriter) -> bool:
        self.vault.reload_manifest()
        wanted = {sid: source_version(e) for sid, e in self.vault.manifest.entries.items()}
        return wanted != writer.state.sources

    def _catch_up(self, writer: LexiconWriter) -> LexiconWriter:
        """With the ingest lock (free unless an ingest runs): for good. Without: in this process only."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except (Timeout, OSError):
            writer.sync(self.vault, self.store)
            return writer
        try:
            persistent = LexiconWriter.open(self.vault.state_dir, self.vault.keys, persist=True,
                                            reuse=writer.segments)
            try:
                persistent.sync(self.vault, self.store)
                persistent.commit()
            except OSError as exc:  # a read-only store: this process keeps what it built
                log.warning("could not write the lexical index (%s); it lives in this process only", exc)
                writer.sync(self.vault, self.store)
                return writer
            persistent.persist = False
            for name, segment in writer.segments.items():
                if name not in persistent.segments:
                    segment.close()
            return persistent
        finally:
            lock.release()


class LexiconSet:
    """The collections a question reads, searched as one BM25 index (the statistics of all of them)."""

    def __init__(self, lexicons: Sequence[Lexicon]):
        self.lexicons = list(lexicons)
        self.views: list[_View] = []
        self.total = 0
        self.live = 0
        self.average = 0.0
        self._cache: OrderedDict = OrderedDict()
        self._cached = 0
        self._df: dict[int, int] = {}

    @classmethod
    def of(cls, members: Sequence[tuple["Vault", "ChromaStore"]]) -> "LexiconSet":
        return cls([Lexicon(vault, store) for vault, store in members])

    def refresh(self) -> bool:
        changed = False
        for lexicon in self.lexicons:
            changed |= lexicon.refresh()
        if changed or not self.views:
            self._build()
        return changed

    def _build(self) -> None:
        views, offset = [], 0
        for lexicon in self.lexicons:
            state = lexicon.writer.state
            for name in state.segments:
                dead = state.tombstones.get(name)
                if lexicon.forgotten:
                    extra = [n for n in (lexicon.writer.segments[name].find(i) for i in lexicon.forgotten)
                             if n is not None]
                    if extra:
                        dead = np.union1d(dead if dead is not None else np.empty(0, _U32), np.array(extra, _U32))
                view = _View(lexicon.writer.segments[name], dead, offset)
                views.append(view)
                offset += view.segment.docs
        self.views, self.total = views, offset
        self.live = sum(v.live for v in views)
        self.average = sum(v.length_sum for v in views) / self.live if self.live else 0.0
        for view in views:
            view.norm = None
        self._cache.clear()
        self._cached = 0
        self._df = {}

    def forget(self, record_ids: Iterable[str]) -> None:
        """Hits the store no longer has: never served again by this process (`ingest --check` makes it last)."""
        record_ids = set(record_ids)
        for lexicon in self.lexicons:
            lexicon.forgotten |= record_ids
        self._build()

    def __len__(self) -> int:
        return self.live

    def _norm(self, view: _View) -> np.ndarray:
        if view.norm is None:
            view.norm = K1 * ((1 - B) + B * view.segment.table("lengths").astype(np.float64) / self.average)
        return view.norm

    def _postings(self, key: int) -> list[tuple[_View, np.ndarray, np.ndarray]]:
        found = []
        for view in self.views:
            docs, tfs = view.postings(key)
            if len(docs):
                found.append((view, docs, tfs))
        return found

    def document_frequency(self, term: str) -> int:
        key = term_key(term)
        if key not in self._df:
            self._df[key] = sum(len(docs) for _, docs, _ in self._postings(key))
        return self._df[key]

    def rarity(self, term: str | None) -> float:
        """The term's inverse document frequency, as `rag.retrieve.LexicalIndex.rarity` defines it."""
        held = self.document_frequency(term) if term else 0
        return math.log((self.live + 1) / (held + 0.5))

    def _weights(self, key: int) -> tuple[int, list[tuple[np.ndarray, np.ndarray]], np.ndarray | None]:
        """A term's live document frequency; per segment, its chunks (joint numbers, ascending) and their
        BM25 weights; and for a term most chunks hold, the same weights as one dense array (adding it is
        several times faster than scattering). Kept for the next questions until the index changes
        (bounded, least recently used out)."""
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        found = self._postings(key)
        df = sum(len(docs) for _, docs, _ in found)
        idf = np.float32(math.log(1 + (self.live - df + 0.5) / (df + 0.5)))
        index = np.int32 if self.total < 2**31 else np.int64
        parts = [((view.offset + docs.astype(index)).astype(index, copy=False),
                  (idf * (tfs / (self._norm(view)[docs] + tfs))).astype(np.float32))
                 for view, docs, tfs in found]
        dense = None
        if df * 4 > self.total:
            dense = np.zeros(self.total, np.float32)
            for where, weight in parts:
                dense[where] = weight
            parts = []  # the dense array serves every use
        cached = (df, parts, dense)
        self._cache[key] = cached
        self._cached += self._size(cached)
        while self._cached > WEIGHTS_BYTES and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= self._size(dropped)
        return cached

    @staticmethod
    def _size(cached) -> int:
        return sum(w.nbytes + d.nbytes for d, w in cached[1]) + (cached[2].nbytes if cached[2] is not None else 0) + 100

    def search(self, terms: Sequence[str], k: int) -> list[Hit]:
        """BM25 of `terms` (analysed in the query's language; repeats count again, as in bm25s), best first.
        Scores are summed in float32 in the query's order, term by term, as bm25s sums them."""
        if not self.live or not terms:
            return []
        keys = [term_key(t) for t in terms]
        weights = {key: self._weights(key) for key in dict.fromkeys(keys)}
        keys = [key for key in keys if weights[key][0]]
        if not keys:
            return []
        scores = np.zeros(self.total, np.float32)
        for key in keys:
            _, parts, dense = weights[key]
            if dense is not None:
                np.add(scores, dense, out=scores)  # + 0.0 where the term is absent: the same sums
            else:
                for where, weight in parts:
                    np.add.at(scores, where, weight)  # each chunk once per term: the same sums as `+=`, faster
        k = min(k, self.live)
        candidates = self._candidates(scores, [weights[key] for key in dict.fromkeys(keys)], k)
        ranked = scores[candidates] if candidates is not None else scores
        if k < len(ranked):
            best = np.argpartition(ranked, len(ranked) - k)[len(ranked) - k:]
        else:
            best = np.arange(len(ranked))
        best = best[np.argsort(-ranked[best], kind="stable")]
        if candidates is not None:
            best = candidates[best]
        hits = []
        for number in best:
            score = float(scores[number])
            if score <= 0:
                break
            view = self._view_of(int(number))
            local = int(number) - view.offset
            segment = view.segment
            hits.append(Hit(segment.table("ids")[local].decode(), score,
                            segment.table("names")[int(segment.table("doc_name")[local])]))
        return hits

    @staticmethod
    def _candidates(scores: np.ndarray, weights: list, k: int) -> np.ndarray | None:
        """The chunks that can be among the best k, found without ranking them all: the k-th best score among
        some chunks of the rarest terms is a floor that the best k all reach (ties included). None: rank all."""
        pool, held, used = [], 0, 0
        for df, parts, dense in sorted(weights, key=lambda w: w[0]):
            if dense is not None:
                break
            pool += [where for where, _ in parts]
            held += df
            used += 1
            if held >= k:
                break
        if held < k:
            return None
        pool = np.concatenate(pool)
        if used > 1:
            pool = np.unique(pool)  # one term's chunks are distinct already
        if len(pool) > 1 << 16:
            pool = pool[::len(pool) // (1 << 16) + 1]  # any chunks give a floor; these are enough for a good one
        if len(pool) < k:
            return None
        floor = np.partition(scores[pool], len(pool) - k)[len(pool) - k]
        return np.flatnonzero(scores >= floor) if floor > 0 else None

    def _view_of(self, number: int) -> _View:
        offsets = [v.offset for v in self.views]
        return self.views[int(np.searchsorted(offsets, number, side="right")) - 1]

    def holds(self, record_id: str) -> bool:
        for view in self.views:
            local = view.segment.find(record_id)
            if local is not None and (view.alive is None or view.alive[local]):
                return True
        return False

    def acronyms(self) -> "StoredAcronyms":
        return StoredAcronyms(self)

    def _count(self, key: int) -> int:
        return int(sum(int(tfs.sum(dtype=np.int64)) for _, _, tfs in self._postings(key)))

    def long_forms(self, initials: str) -> tuple[dict[str, int], dict[str, int]]:
        """(phrase -> weight as `AcronymIndex._long_forms[initials]`, phrase -> times written) over live chunks."""
        candidates: set[str] = set()
        for view in self.views:
            candidates.update(view.segment.phrases(initials))
        weights, written = {}, {}
        for phrase in sorted(candidates):
            runs = self._count(term_key(_RUN + phrase))
            defined = self._count(term_key(_DEFINED + initials + "\x00" + phrase))
            if runs or defined:
                weights[phrase] = runs + DEFINED_WEIGHT * defined
                written[phrase] = runs
        return weights, written


class StoredAcronyms(AcronymIndex):
    """`AcronymIndex` read from the index instead of built from every chunk's text: the counts of one acronym
    are gathered when a question holds it."""

    def __init__(self, lexicons: LexiconSet):
        super().__init__([])
        self.lexicons = lexicons

    def long_form(self, acronym: str) -> str | None:
        weights, written = self.lexicons.long_forms(acronym)
        if not weights:
            return None
        self._long_forms[acronym] = Counter(weights)
        self._written.update({p: n for p, n in written.items() if p not in self._written})
        self._used[acronym] = self.lexicons._count(term_key(_USED + acronym))
        return super().long_form(acronym)


def memory_lexicon(passages: Iterable[tuple[str, str, str, str, str]]) -> LexiconSet:
    """An index of (id, source id, document name, text, language code) built in memory (sealed under a
    throwaway key): the in-memory `rag.retrieve.LexicalIndex`, and the reference the tests compare with."""
    from rag.store.keyring import CollectionKeys

    keys = CollectionKeys.new()
    files = Files(Path("/nonexistent"), keys)
    writer = LexiconWriter(files, State(), {}, persist=False)
    by_source: dict[str, list] = {}
    for record_id, source, name, text, language in passages:
        by_source.setdefault(source, []).append((record_id, text, language, name))
    for source, chunks in by_source.items():
        writer.add(source, "", chunks, replace=False)
    writer.commit()

    class _Fixed(Lexicon):
        def __init__(self):
            self.writer, self.forgotten = writer, set()

        def refresh(self) -> bool:
            return False

    lexicons = LexiconSet([_Fixed()])
    lexicons._build()
    return lexicons
