"""Compaction: what a prune deletes must not survive anywhere in the store's files."""
from __future__ import annotations

import sqlite3
import threading
import time
import uuid

from rag.store.chroma_internals import vacuum

SECRET = b"sealed-ciphertext-of-a-pruned-record"


def _chroma_like_database(path, live: str, dropped: str) -> None:
    with sqlite3.connect(path) as connection:
        connection.executescript("""
            CREATE TABLE collections (id TEXT PRIMARY KEY);
            CREATE TABLE segments (id TEXT PRIMARY KEY, collection TEXT);
            CREATE TABLE embeddings (id INTEGER PRIMARY KEY, segment_id TEXT, payload BLOB);
            CREATE TABLE embeddings_queue (seq_id INTEGER PRIMARY KEY, topic TEXT, payload BLOB);
        """)
        connection.execute("INSERT INTO collections VALUES (?)", (live,))
        connection.execute("INSERT INTO segments VALUES (?, ?)", (live + "-s", live))
        for n in range(200):
            connection.execute("INSERT INTO embeddings (segment_id, payload) VALUES (?, ?)", (live + "-s", b"live" * 50))
            connection.execute("INSERT INTO embeddings (segment_id, payload) VALUES (?, ?)", (dropped + "-s", SECRET * 5))
            connection.execute("INSERT INTO embeddings_queue (topic, payload) VALUES (?, ?)",
                               (f"persistent://default/default/{dropped}", SECRET * 5))


def test_rows_of_a_dropped_collection_deleted_after_a_vacuum_leave_no_bytes_behind(tmp_path):
    # Chroma drops a collection's rows on its own connection and, on a busy machine, after our
    # VACUUM has started: their bytes would then stay on free pages of the file.
    database = tmp_path / "chroma.sqlite3"
    live, dropped = str(uuid.uuid4()), str(uuid.uuid4())
    _chroma_like_database(database, live, dropped)

    def chroma_deletes_late():
        time.sleep(0.5)
        with sqlite3.connect(database, timeout=30) as connection:
            connection.execute("PRAGMA secure_delete = OFF")  # Chroma's own SQLite leaves deleted bytes in place
            connection.execute("DELETE FROM embeddings WHERE segment_id = ?", (dropped + "-s",))
            connection.execute("DELETE FROM embeddings_queue WHERE topic LIKE ?", (f"%{dropped}",))

    deleter = threading.Thread(target=chroma_deletes_late)
    deleter.start()
    vacuum(database)
    deleter.join()
    assert SECRET not in database.read_bytes()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT count(*) FROM embeddings").fetchone() == (200,)
