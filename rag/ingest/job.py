"""The batch job: find files, skip the unchanged, parse in a worker, embed, seal, upsert, prune.

Order of writes per file (crash safety): upsert the new chunks (idempotent ids), then delete
that source's stale chunks, then the lexical index (`rag.store.lexicon`), then record it in the
manifest. A kill at any point leaves a store that a rerun completes: the manifest only ever claims
what Chroma already holds, and the index catches up with the manifest by source when it disagrees.
"""
from __future__ import annotations

import base64
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from filelock import FileLock, Timeout

from rag import language as languages
from rag.errors import StoreProblem, UsageError
from rag.fsutil import now_iso
from rag.ingest.chunk import Chunk
from rag.ingest.load import SUPPORTED
from rag.settings import Settings
from rag.store.audit import AuditLog
from rag.store.chroma import ChromaStore, compact, make_client, open_store, state_dir_for
from rag.store.chroma_internals import scrub_vector_files
from rag.store.keyring import CollectionKeys, check_collection_name, open_keyring, read_keyring_doc, save_keyring
from rag.store.lexicon import LexiconWriter, source_version
from rag.store.manifest import Manifest, SourceEntry
from rag.store.records import keyed_hash, seal
from rag.store.vault import Vault, scope_metadata

EMBED_BATCH = 256  # chunks gathered across files before one embedding call
LANGUAGE_SAMPLE_CHUNKS = 8  # chunks read to tell a document's language


@dataclass
class Summary:
    ingested: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # ingested, but part of the file was not read
    pruned: list[str] = field(default_factory=list)
    pages: int = 0
    chunks: int = 0
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


@dataclass
class Progress:
    """What a progress display needs; sent after every file."""

    files_done: int
    files_total: int
    pages: int
    chunks: int
    seconds: float
    current: str = ""


@dataclass
class SourceFile:
    path: Path
    root: Path

    @property
    def relative(self) -> str:
        return self.path.relative_to(self.root).as_posix()


def discover(paths: Iterable[str | Path], exclude: Path | None, summary: Summary) -> list[SourceFile]:
    """Supported files under the given paths; the rest goes to `summary.skipped` with a reason."""
    found: dict[Path, SourceFile] = {}
    for given in map(Path, paths):
        if not given.exists():
            summary.failed.append((str(given), "no such file or folder"))
            continue
        if given.is_file():
            candidates, root = [given], given.parent
        else:
            root = given
            candidates = []
            # followlinks=False: a symlink loop cannot trap the walk.
            for folder, dirs, files in os.walk(given, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                                 and (exclude is None or Path(folder, d).resolve() != exclude))
                candidates.extend(Path(folder, f) for f in sorted(files) if not f.startswith("."))
        for path in candidates:
            if path.suffix.lower() not in SUPPORTED:
                summary.skipped.append((str(path), f"unsupported type '{path.suffix or 'none'}'"))
            elif not path.is_file():
                summary.skipped.append((str(path), "not a regular file"))
            else:
                # Keyed by the real file (no double ingest through a symlink), named by where it was found.
                found.setdefault(path.resolve(), SourceFile(path.absolute(), root.absolute()))
    return list(found.values())


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _record_payload(source: SourceFile, chunk: Chunk, language: str) -> dict:
    payload = {"text": chunk.text, "source": _document_name(source, chunk), "page": chunk.page,
               "start": chunk.start, "end": chunk.end, "headings": chunk.headings, "lang": language}
    if chunk.ocr:
        payload["ocr"] = True
    return payload


def _document_name(source: SourceFile, chunk: Chunk) -> str:
    """An e-mail's attachment is a document of its own, named under its message: `mail.eml/plan.pdf`."""
    return f"{source.relative}/{chunk.part}" if chunk.part else source.relative


def _languages(chunks: list[Chunk], chosen: str) -> dict[str | None, str]:
    """Each document's language (an e-mail's attachments are documents of their own): `chosen` (`--lang`),
    else detected from a sample spread over the document, so a long file costs no more than a short one."""
    texts: dict[str | None, list[str]] = {}
    for chunk in chunks:
        texts.setdefault(chunk.part, []).append(chunk.text)
    found = {}
    for part, pieces in texts.items():
        step = max(1, len(pieces) // LANGUAGE_SAMPLE_CHUNKS)
        found[part] = languages.of(" ".join(pieces[::step][:LANGUAGE_SAMPLE_CHUNKS]), chosen).code
    return found


def _parts(chunks: list[Chunk]) -> dict[str, list[int]]:
    """Pages and chunks of each attachment, for the document list."""
    parts: dict[str, list[int]] = {}
    pages: dict[str, set] = {}
    for chunk in chunks:
        if chunk.part:
            parts.setdefault(chunk.part, [0, 0])[1] += 1
            pages.setdefault(chunk.part, set()).add(chunk.page)
    for name, counts in parts.items():
        counts[0] = len(pages[name])
    return parts


class _Writer:
    """Gathers parsed files, embeds them in large batches, and commits each file whole."""

    def __init__(self, settings: Settings, embedder, vault: Vault, lexicon: LexiconWriter):
        self.settings, self.embedder, self.vault, self.lexicon = settings, embedder, vault, lexicon
        self.keys, self.manifest = vault.keys, vault.manifest
        self.store: ChromaStore
        self.pending: list[tuple[SourceFile, str, str, list[Chunk], int]] = []
        self.last_save = time.monotonic()
        self.deleted = 0

    def add(self, source: SourceFile, source_id: str, content_hash: str, chunks: list[Chunk], pages: int) -> list[str]:
        self.pending.append((source, source_id, content_hash, chunks, pages))
        if sum(len(p[3]) for p in self.pending) >= EMBED_BATCH:
            return self.flush()
        return []

    def flush(self) -> list[str]:
        if not self.pending:
            return []
        texts = [c.embedding_text() for p in self.pending for c in p[3]]
        vectors = self.embedder.encode(texts)
        offset = 0
        committed = []
        for source, source_id, content_hash, chunks, pages in self.pending:
            ids = [keyed_hash(self.keys.index_key, "chunk", _document_name(source, c), str(c.page), str(c.start),
                              c.text) for c in chunks]
            # A document keeps its own key across re-ingests; it is made when the document first comes in.
            entry = self.manifest.entries.get(source_id)
            document_key = entry.document_key if entry and entry.document_key else SourceEntry.new_document_key()
            language = _languages(chunks, self.settings.lang)
            sealed = [seal(base64.b64decode(document_key), self.keys.current, source_id, self.store.name, i,
                           _record_payload(source, c, language[c.part])) for i, c in zip(ids, chunks)]
            self.store.upsert(ids, vectors[offset:offset + len(chunks)], sealed, [source_id] * len(ids),
                              self.keys.current, [scope_metadata(self.keys, _document_name(source, c)) for c in chunks])
            offset += len(chunks)
            stale = set(self.store.ids_for_source(source_id)) - set(ids)
            self.store.delete(sorted(stale))
            self.deleted += len(stale)
            entry = SourceEntry(source.relative, str(source.root), content_hash, pages, len(chunks), now_iso(),
                                _parts(chunks), document_key)
            # The index drops the source's old chunks and takes the new ones (written at the next save).
            self.lexicon.add(source_id, source_version(entry),
                             [(i, c.text, language[c.part], _document_name(source, c)) for i, c in zip(ids, chunks)])
            self.manifest.entries[source_id] = entry
            committed.append(source.relative)
        self.pending.clear()
        if time.monotonic() - self.last_save > 2.0:
            self.save()
        return committed

    def save(self) -> None:
        self.lexicon.commit()  # before the manifest: a reader then never sees a recorded source unindexed
        self.manifest.save(self.vault.state_dir, self.keys)
        self.last_save = time.monotonic()


def run_ingest(paths: list[str | Path], settings: Settings | None = None, *, prune: bool = False,
               dry_run: bool = False, embedder=None,
               progress: Callable[[Progress], None] | None = None) -> Summary:
    """Ingest files and folders into the encrypted store. The CLI and the Python API both call this."""
    from rag.embed import load_embedder

    settings = settings or Settings.from_env()
    if len(settings.collections) != 1:
        raise UsageError(f"ingest into one collection at a time, not {settings.collection!r}")
    if settings.lang != "auto":
        languages.get(settings.lang)  # an unknown code fails before any file is read
    name = check_collection_name(settings.collections[0])
    started = time.monotonic()
    summary = Summary(dry_run=dry_run)
    state_dir = state_dir_for(settings)
    files = discover(paths, state_dir.resolve(), summary)
    if dry_run and read_keyring_doc(state_dir) is None:
        summary.ingested = [f.relative for f in files]
        return summary

    if settings.store_is_url:
        make_client(settings, create=False)  # a wrong or unreachable server fails before a key is made
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(str(state_dir / ".ingest.lock"), timeout=float(os.environ.get("RAG_LOCK_WAIT", "10")))
        lock.acquire()
    except Timeout:
        raise StoreProblem(f"another ingest is writing to {state_dir}; wait for it to finish") from None
    try:
        keyring = open_keyring(settings, state_dir, create=not dry_run)
        if name not in keyring.collections:
            if dry_run:
                summary.ingested = [f.relative for f in files]
                return summary
            keyring.collections[name] = CollectionKeys.new()  # a new collection: its own keys
            save_keyring(settings, state_dir, keyring)
        vault = Vault.open(name, keyring.collections[name], state_dir)
        keys, manifest = vault.keys, vault.manifest
        embedder = embedder or load_embedder(settings.embedder, settings.precision, settings.cache_dir,
                                             settings.query_prompt, settings.passage_prompt)
        todo: list[tuple[SourceFile, str, str]] = []
        seen_ids = set()
        for source in files:
            source_id = keyed_hash(keys.index_key, "source", source.relative)
            seen_ids.add(source_id)
            try:
                content_hash = _content_hash(source.path)
            except OSError as exc:
                summary.failed.append((source.relative, f"cannot read the file ({exc.strerror})"))
                continue
            entry = manifest.entries.get(source_id)
            if entry and entry.content_hash == content_hash:
                summary.unchanged.append(source.relative)
            else:
                todo.append((source, source_id, content_hash))
        roots = {str(f.root) for f in files} | {str(Path(p).absolute()) for p in paths if Path(p).is_dir()}
        gone = {sid: e for sid, e in manifest.entries.items() if e.root in roots and sid not in seen_ids}
        if dry_run:
            summary.ingested = [s.relative for s, _, _ in todo]
            summary.pruned = sorted(e.path for e in gone.values()) if prune else []
            return summary
        lexicon = LexiconWriter.open(state_dir, keys)
        try:
            deleted = _ingest_files(todo, settings, embedder, vault, lexicon, summary, progress, started) if todo else 0
            if prune and gone:
                store = open_store(settings, keys, embedder)
                for sid, entry in gone.items():
                    ids = store.ids_for_source(sid)
                    store.delete(ids)
                    deleted += len(ids)
                    del manifest.entries[sid]  # with it, the document's key: any copy left of its records is unreadable
                    summary.pruned.append(entry.path)
                lexicon.remove(gone)
                lexicon.commit()
            if todo or summary.pruned:
                manifest.save(state_dir, keys)
            if lexicon.state.sources != _versions(manifest):
                # A store made before the index, or a run killed between its writes: indexed here, once.
                lexicon.sync(vault, open_store(settings, keys, embedder), show_progress=progress is not None)
            if deleted:
                compact(open_store(settings, keys, embedder), settings)
                lexicon.purge()  # deleted chunks' term counts leave the disk with their records
            elif todo:
                scrub_vector_files(settings)
        finally:
            lexicon.close()
        AuditLog(state_dir, keyring).append(
            "ingest", "partial" if summary.failed else "ok",
            {"ingested": len(summary.ingested), "unchanged": len(summary.unchanged), "failed": len(summary.failed),
             "skipped": len(summary.skipped), "pruned": len(summary.pruned), "chunks": summary.chunks},
            collection=name)
    finally:
        lock.release()
    summary.seconds = time.monotonic() - started
    return summary


def _versions(manifest: Manifest) -> dict[str, str]:
    return {sid: source_version(e) for sid, e in manifest.entries.items()}


def _ingest_files(todo, settings, embedder, vault: Vault, lexicon: LexiconWriter, summary, progress, started) -> int:
    """Parse, embed and store the changed files; returns how many stale records were deleted."""
    from rag.ingest.worker import ParseWorker

    worker = ParseWorker(str(embedder.model_dir), embedder.max_tokens)
    writer = _Writer(settings, embedder, vault, lexicon)
    writer.store = open_store(settings, vault.keys, embedder, create=True)  # a wrong embedder fails before any parsing
    by_path = {str(s.path): (s, sid, h) for s, sid, h in todo}
    try:
        for source, _, _ in todo:
            worker.submit(str(source.path))
        done = 0
        while len(worker):
            parsed = worker.next_result()
            source, source_id, content_hash = by_path[parsed.path]
            done += 1
            if parsed.error:
                summary.failed.append((source.relative, parsed.error))
            else:
                summary.warnings.extend((source.relative, w) for w in parsed.warnings or ())
                if parsed.read_again:
                    content_hash += ":partial"  # not recorded as unchanged: the next run reads it again
                summary.pages += parsed.pages
                summary.chunks += len(parsed.chunks)
                summary.ingested.extend(writer.add(source, source_id, content_hash, parsed.chunks, parsed.pages))
            if not len(worker):
                summary.ingested.extend(writer.flush())
            if progress:
                progress(Progress(done, len(todo), summary.pages, summary.chunks,
                                  time.monotonic() - started, source.relative))
    finally:
        worker.close()
        writer.save()
    return writer.deleted


@dataclass
class CheckReport:
    orphan_chunks: int = 0  # in Chroma, but their source is not in the manifest (a kill before it was saved)
    mismatched: list[str] = field(default_factory=list)  # sources whose chunk count differs from the manifest
    repaired: bool = False

    @property
    def clean(self) -> bool:
        return not self.orphan_chunks and not self.mismatched


def run_check(settings: Settings | None = None, repair: bool = True) -> CheckReport:
    """Compare the manifest with Chroma; on `repair`, drop what disagrees so the next ingest redoes it."""
    from collections import Counter

    settings = settings or Settings.from_env()
    state_dir = state_dir_for(settings)
    report = CheckReport()
    with FileLock(str(state_dir / ".ingest.lock"), timeout=float(os.environ.get("RAG_LOCK_WAIT", "10"))):
        keyring = open_keyring(settings, state_dir, create=False)
        keys = keyring.collection(settings.collections[0])
        manifest = Manifest.load(state_dir, keys)
        store = open_store(settings, keys)
        counts = Counter(meta["src"] for _, _, meta, _ in store.scan())
        orphans = [sid for sid in counts if sid not in manifest.entries]
        mismatched = [sid for sid, e in manifest.entries.items() if counts.get(sid, 0) != e.chunks]
        report.orphan_chunks = sum(counts[sid] for sid in orphans)
        report.mismatched = sorted(manifest.entries[sid].path for sid in mismatched)
        lexicon = LexiconWriter.open(state_dir, keys) if repair else None
        try:
            if repair and not report.clean:
                for sid in orphans + mismatched:
                    store.delete(store.ids_for_source(sid))
                    manifest.entries.pop(sid, None)
                lexicon.remove(orphans + mismatched)
                lexicon.commit()
                manifest.save(state_dir, keys)
                compact(store, settings)
                lexicon.purge()
                AuditLog(state_dir, keyring).append("check", "repaired", {"orphan_chunks": report.orphan_chunks,
                                                                           "mismatched": len(report.mismatched)})
                report.repaired = True
            if lexicon:
                # The lexical index follows the manifest (built here once for a store made before it).
                vault = Vault.open(settings.collections[0], keys, state_dir)
                lexicon.sync(vault, store)
        finally:
            if lexicon:
                lexicon.close()
    return report
