"""What this project does inside Chroma's own files, which Chroma's API does not offer.

Tested with chromadb 1.x (pyproject pins `chromadb>=1.0,<2`): the
HNSW header layout of Chroma's hnswlib fork, the names of its SQLite tables. A Chroma release that changes
either is noticed here (an unknown HNSW header is logged and left alone), not silently mishandled.
"""
from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import struct
import time
import uuid
from pathlib import Path

from rag.errors import StoreProblem
from rag.settings import Settings

# header.bin of Chroma's hnswlib fork: version, offsetLevel0, max_elements, cur_element_count,
# size_data_per_element, then fields not needed here.
_HNSW_HEADER = struct.Struct("<IQQQQ")
_HNSW_HEADER_SIZE = 100


def scrub_vector_files(settings: Settings) -> None:
    """Zero every byte of the HNSW files past their live elements (see HNSW_CONFIGURATION): what lies
    there is whatever this process had in memory, plaintext included. Call it once a writer is done, under
    the ingest lock: Chroma writes these files only when records change."""
    if settings.store_is_url:
        return  # a server's own memory only ever held ciphertext, vectors and keyed hashes
    for header in (Path(settings.store).expanduser() / "chroma").glob("*/header.bin"):
        raw = header.read_bytes()
        version, _, _, live, per_element = _HNSW_HEADER.unpack_from(raw) if len(raw) >= _HNSW_HEADER.size else (0,) * 5
        if version != 1 or len(raw) != _HNSW_HEADER_SIZE:
            logging.getLogger("rag").warning("%s: unknown HNSW header format; its unused space was not zeroed",
                                             header.parent)
            continue
        _zero_from(header.with_name("data_level0.bin"), live * per_element)
        _zero_from(header.with_name("length.bin"), live * 4)  # one float norm per element


def _zero_from(path: Path, offset: int) -> None:
    size = path.stat().st_size if path.exists() else 0
    if size <= offset:
        return
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes(size - offset))
        handle.flush()
        os.fsync(handle.fileno())


def vacuum(database: Path, attempts: int = 50) -> None:
    """VACUUM until nothing of a dropped collection is left in the file.

    Old pages (with deleted ciphertext) live on in WAL frames until a checkpoint completes, which it
    cannot while Chroma's connection is mid-read; and rows Chroma deletes after a VACUUM (its log purge,
    a dropped collection's rows on a slow machine) leave their bytes on free pages. So the loop ends only
    once, after a VACUUM, no page is free and no row belongs to a collection or segment that is gone."""
    connection = sqlite3.connect(database, timeout=30)
    try:
        for _ in range(attempts):
            connection.execute("VACUUM")
            busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy and _nothing_dropped_left(connection):
                return
            time.sleep(0.1)
        raise StoreProblem(f"could not compact {database}: another process keeps it open; run the ingest again")
    finally:
        connection.close()


def _nothing_dropped_left(connection: sqlite3.Connection) -> bool:
    (free,), = connection.execute("PRAGMA freelist_count").fetchall()
    (orphans,), = connection.execute(
        "SELECT (SELECT count(*) FROM embeddings WHERE segment_id NOT IN (SELECT id FROM segments))"
        " + (SELECT count(*) FROM embeddings_queue"
        "    WHERE substr(topic, -36) NOT IN (SELECT id FROM collections))").fetchall()
    return free == 0 and orphans == 0


def remove_dropped_segments(chroma_dir: Path) -> None:
    """Delete the vector files of dropped collections: Chroma leaves a dropped segment's folder
    behind, and in a large store it holds the deleted records' vectors."""
    with sqlite3.connect(chroma_dir / "chroma.sqlite3", timeout=30) as connection:
        live = {segment for (segment,) in connection.execute("SELECT id FROM segments")}
    for folder in chroma_dir.iterdir():
        if folder.is_dir() and _is_uuid(folder.name) and folder.name not in live:
            shutil.rmtree(folder)


def _is_uuid(name: str) -> bool:
    try:
        return str(uuid.UUID(name)) == name
    except ValueError:
        return False


def drop_process_view(client) -> None:
    """Chroma keeps one in-memory view of an embedded store (its SQLite connection, the HNSW indexes) per path and
    process, shared by every client of that path, and never reads what other processes wrote after it was made. A
    client's `close` frees it only when no other client holds it; this stops and forgets it in any case, so the
    next client of the path reads the files as they are now. Every other client of the path is dead after it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    if not client.get_settings().is_persistent:
        return  # a server's clients hold no copy of the store
    identifier = client._identifier
    SharedSystemClient._identifier_to_refcount.pop(identifier, None)
    system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    if system is not None:
        system.stop()
