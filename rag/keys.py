"""Key operations behind `python -m rag.keys status|rotate [--reencrypt]`.

`rotate` re-wraps the store's keys under a new wrapping key in one atomic file replace: the old key
file or passphrase stops opening the store at that instant. `rotate --reencrypt` also gives every
collection a new data key and every document a new key, and re-seals every record and manifest under
them. It is resumable: the keyring holds both collection keys and a `reencrypting` mark, and each
document both its keys, until every record carries the new version, so the store stays readable
throughout and a second run after a kill finishes the job; only then are the old keys destroyed.
"""
from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rag.errors import UsageError
from rag.fsutil import now_iso
from rag.settings import Settings
from rag.store.audit import AuditLog
from rag.store.chroma import open_store, state_dir_for
from rag.store.chroma_internals import scrub_vector_files
from rag.store.keyring import Keyring, existing_kek, new_protector, read_keyring_doc, unwrap, write_keyring
from rag.store.manifest import SourceEntry
from rag.store.records import seal
from rag.store.vault import Vault

BATCH = 500


def _open(settings: Settings) -> tuple[Path, dict, Keyring, bytes]:
    state_dir = state_dir_for(settings)
    doc = read_keyring_doc(state_dir)
    if doc is None:
        raise UsageError(f"no keyring at {state_dir}: nothing has been ingested there yet")
    kek = existing_kek(settings, state_dir, doc["protector"])
    return state_dir, doc, unwrap(doc, kek, state_dir), kek


def status(settings: Settings) -> dict:
    """Which key protects the store; per collection, when its data keys were made and records per key
    version. No secrets."""
    state_dir, doc, keyring, _ = _open(settings)
    collections = {}
    for name, keys in sorted(keyring.collections.items()):
        counts: dict[int, int] = {}
        for _, _, meta, _ in open_store(settings, keys).scan():
            counts[int(meta["kv"])] = counts.get(int(meta["kv"]), 0) + 1
        collections[name] = {"current_data_key": keys.current,
                             "data_keys": {v: keys.created.get(v, "?") for v in sorted(keys.data_keys)},
                             "records_per_key_version": counts}
    protector = doc["protector"]["type"]
    return {"store": str(state_dir), "protected_by": protector,
            "key_file": str(settings.key_file) if protector == "keyfile" else None,
            "collections": collections, "reencrypting": bool(doc.get("reencrypting"))}


def rotate(settings: Settings, new_key_file: Path | None = None, new_passphrase: str | None = None,
           reencrypt: bool = False, progress=None) -> dict:
    state_dir, doc, keyring, kek = _open(settings)
    resuming = bool(doc.get("reencrypting"))
    if new_key_file or new_passphrase:
        if new_key_file and Path(new_key_file).expanduser().resolve() == Path(settings.key_file).expanduser().resolve() \
                and doc["protector"]["type"] == "keyfile":
            raise UsageError("--new-key-file is the current key file; name a new file")
        kek, protector = new_protector(state_dir, new_passphrase,
                                       Path(new_key_file).expanduser() if new_key_file else None)
    elif not (reencrypt or resuming):
        raise UsageError("say where the new wrapping key comes from: --new-key-file PATH or RAG_NEW_PASSPHRASE")
    else:
        protector = doc["protector"]
    audit = AuditLog(state_dir, keyring)
    if not (reencrypt or resuming):
        write_keyring(state_dir, keyring, kek, protector)
        audit.append("key-rotate", "ok", {"protected_by": protector["type"]})
        return {"rewrapped": True, "reencrypted": 0}
    if not resuming:
        for keys in keyring.collections.values():
            keys.current = max(keys.data_keys) + 1
            keys.data_keys[keys.current] = AESGCM.generate_key(256)
            keys.created[keys.current] = now_iso()
    # The new keys, and the mark, are on disk before the first record changes: a kill from here on resumes.
    write_keyring(state_dir, keyring, kek, protector, extra={"reencrypting": True})
    done = 0
    for name, keys in keyring.collections.items():
        done += _reseal_collection(settings, Vault.open(name, keys, state_dir), progress)
    for keys in keyring.collections.values():
        for version in [v for v in keys.data_keys if v != keys.current]:
            del keys.data_keys[version]  # the old data key is destroyed with this write
            keys.created.pop(version, None)
    write_keyring(state_dir, keyring, kek, protector)
    audit.append("key-reencrypt", "ok", {"records": done})
    return {"rewrapped": True, "reencrypted": done,
            "data_keys": {name: keys.current for name, keys in keyring.collections.items()}}


def _reseal_collection(settings: Settings, vault: Vault, progress) -> int:
    """Give each document a new key (the old one kept as retiring until its records are re-sealed), re-seal
    every record not yet under the collection's current key, then forget the retiring keys."""
    keys, manifest = vault.keys, vault.manifest
    for entry in manifest.entries.values():
        if not entry.retiring_key:
            entry.retiring_key, entry.document_key = entry.document_key, SourceEntry.new_document_key()
    manifest.save(vault.state_dir, keys)
    store = open_store(settings, keys)
    done = 0

    def reseal(stale: list) -> int:
        sealed = [seal(base64.b64decode(manifest.entries[m["src"]].document_key), keys.current, m["src"],
                       store.name, i, vault.open_record(i, s)) for i, s, m, _ in stale]
        store.upsert_records([r[0] for r in stale], np.asarray([r[3] for r in stale], dtype=np.float32),
                             [{**r[2], "sealed": blob, "kv": keys.current} for r, blob in zip(stale, sealed)])
        return len(stale)

    # One pass by key over the records not yet under the current key (a resumed run finds fewer).
    stale = []
    for record in store.scan(include_vectors=True, where={"kv": {"$ne": keys.current}}):
        if record[2]["src"] not in manifest.entries:
            continue  # leftovers of no document stay (and never open)
        stale.append(record)
        if len(stale) >= BATCH:
            done += reseal(stale)
            stale = []
            if progress:
                progress(done)
    if stale:
        done += reseal(stale)
        if progress:
            progress(done)
    for entry in manifest.entries.values():
        entry.retiring_key = ""
    manifest.save(vault.state_dir, keys)
    _reseal_lexicon(vault, keys)
    scrub_vector_files(settings)  # this process held every record in clear
    return done


def _reseal_lexicon(vault: Vault, keys) -> None:
    """The collection's lexical index, rewritten under the new data key before the old one is destroyed."""
    from filelock import FileLock

    from rag.store.lexicon import Files, LexiconWriter

    if Files(vault.state_dir, keys).stamp() is None:
        return  # none yet: the next open builds it under the new key
    with FileLock(str(Path(vault.state_dir) / ".ingest.lock"), timeout=float(os.environ.get("RAG_LOCK_WAIT", "10"))):
        writer = LexiconWriter.open(vault.state_dir, keys)
        try:
            writer.reseal()
        finally:
            writer.close()


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from rag.settings import add_common_flags, settings_from_args

    parser = argparse.ArgumentParser(prog="python -m rag.keys", description="Inspect and rotate the store's keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("status", "which key protects the store; records per key version (no secrets)"),
                           ("rotate", "re-wrap the keys under a new key file or passphrase")):
        command = sub.add_parser(name, help=helptext)
        add_common_flags(command)
    rotate_parser = sub.choices["rotate"]
    rotate_parser.add_argument("--new-key-file", type=Path, help="new wrapping key file (created 0600 if absent); "
                               "or set RAG_NEW_PASSPHRASE")
    rotate_parser.add_argument("--reencrypt", action="store_true",
                               help="also make new collection and document keys and re-encrypt every record (resumable)")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if args.command == "status":
        print(json.dumps(status(settings), indent=1))
        return 0
    result = rotate(settings, args.new_key_file, os.environ.get("RAG_NEW_PASSPHRASE") or None, args.reencrypt)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    from rag.cli import run_main

    run_main(main)
