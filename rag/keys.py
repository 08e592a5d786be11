"""Key operations behind `python -m rag.keys status|rotate [--reencrypt]`.

`rotate` re-wraps the data keys under a new wrapping key in one atomic file replace: the old key
file or passphrase stops opening the store at that instant. `rotate --reencrypt` also makes a
new data key and re-seals every record and the manifest under it. It is resumable: the keyring
holds both keys and a `reencrypting` mark until every record carries the new version, so the
store stays readable throughout and a second run after a kill finishes the job; only then is
the old data key destroyed.
"""
from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from rag.errors import UsageError
from rag.settings import Settings
from rag.store.audit import AuditLog
from rag.store.chroma import open_store, state_dir_for
from rag.store.chroma_internals import scrub_vector_files
from rag.store.keyring import Keyring, existing_kek, new_protector, now_iso, read_keyring_doc, unwrap, write_keyring
from rag.store.records import record_key_version, seal, unseal

BATCH = 500


def _open(settings: Settings) -> tuple[Path, dict, Keyring, bytes]:
    state_dir = state_dir_for(settings)
    doc = read_keyring_doc(state_dir)
    if doc is None:
        raise UsageError(f"no keyring at {state_dir}: nothing has been ingested there yet")
    kek = existing_kek(settings, state_dir, doc["protector"])
    return state_dir, doc, unwrap(doc, kek, state_dir), kek


def status(settings: Settings) -> dict:
    """Which key protects the store, when its data keys were made, records per key version. No secrets."""
    state_dir, doc, keyring, _ = _open(settings)
    counts: dict[int, int] = {}
    for _, sealed, _, _ in open_store(settings).scan():
        version = record_key_version(sealed)
        counts[version] = counts.get(version, 0) + 1
    protector = doc["protector"]["type"]
    return {"store": str(state_dir), "protected_by": protector,
            "key_file": str(settings.key_file) if protector == "keyfile" else None,
            "current_data_key": keyring.current,
            "data_keys": {v: keyring.created.get(v, "?") for v in sorted(keyring.data_keys)},
            "records_per_key_version": counts, "reencrypting": bool(doc.get("reencrypting"))}


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
        keyring.current = max(keyring.data_keys) + 1
        keyring.data_keys[keyring.current] = AESGCM.generate_key(256)
        keyring.created[keyring.current] = now_iso()
    # Both keys, and the mark, are on disk before the first record changes: a kill from here on resumes.
    write_keyring(state_dir, keyring, kek, protector, extra={"reencrypting": True})
    done = _reseal_records(settings, keyring, progress)
    from rag.store.manifest import Manifest

    Manifest.load(state_dir, keyring).save(state_dir, keyring)
    for version in [v for v in keyring.data_keys if v != keyring.current]:
        del keyring.data_keys[version]  # the old data key is destroyed with this write
        keyring.created.pop(version, None)
    write_keyring(state_dir, keyring, kek, protector)
    audit.append("key-reencrypt", "ok", {"records": done, "data_key": keyring.current})
    return {"rewrapped": True, "reencrypted": done, "data_key": keyring.current}


def _reseal_records(settings: Settings, keyring: Keyring, progress) -> int:
    store = open_store(settings)
    done = 0
    while True:
        stale = [(i, s, m, v) for i, s, m, v in store.scan(include_vectors=True)
                 if record_key_version(s) != keyring.current][:BATCH]
        if not stale:
            scrub_vector_files(settings)  # this process held every record in clear
            return done
        ids = [i for i, _, _, _ in stale]
        sealed = [seal(keyring.record_key, keyring.current, store.name, i,
                       unseal(keyring.data_keys, store.name, i, s)) for i, s, _, _ in stale]
        import numpy as np

        store.upsert(ids, np.asarray([v for _, _, _, v in stale], dtype=np.float32), sealed,
                     [m["src"] for _, _, m, _ in stale], keyring.current)
        done += len(ids)
        if progress:
            progress(done)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    from rag.settings import add_common_flags, settings_from_args

    parser = argparse.ArgumentParser(prog="python -m rag.keys", description="Inspect and rotate the store's keys.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("status", "which key protects the store; records per key version (no secrets)"),
                           ("rotate", "re-wrap the data key under a new key file or passphrase")):
        command = sub.add_parser(name, help=helptext)
        add_common_flags(command)
    rotate_parser = sub.choices["rotate"]
    rotate_parser.add_argument("--new-key-file", type=Path, help="new wrapping key file (created 0600 if absent); "
                               "or set RAG_NEW_PASSPHRASE")
    rotate_parser.add_argument("--reencrypt", action="store_true",
                               help="also make a new data key and re-encrypt every record (resumable)")
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
