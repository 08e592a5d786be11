"""`python -m rag.keys`: rotation of the wrapping key and re-encryption under a new data key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import copy_docs, run_cli, store_bytes


@pytest.fixture
def small_store(isolated, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings

    settings = Settings.from_env()
    run_ingest([copy_docs(isolated / "docs")], settings, embedder=embedder)
    return settings


def test_rotate_rewraps_and_the_old_key_stops_working(small_store, isolated):
    new_key = isolated / "keys" / "new-key"
    result = run_cli("-m", "rag.keys", "rotate", "--new-key-file", str(new_key))
    assert result.returncode == 0, result.stderr
    assert oct(new_key.stat().st_mode & 0o777) == "0o600"
    old = run_cli("-m", "rag.keys", "status")
    assert old.returncode == 2 and "wrong key file" in old.stderr
    status = run_cli("-m", "rag.keys", "status", "--key-file", str(new_key))
    assert status.returncode == 0, status.stderr
    assert new_key.read_text().strip() not in status.stdout
    info = json.loads(status.stdout)
    assert info["protected_by"] == "keyfile" and info["collections"]["default"]["current_data_key"] == 1


def test_reencrypt_moves_every_record_to_a_new_data_key_and_destroys_the_old(small_store, embedder):
    from rag.api import Assistant
    from rag.errors import IntegrityError
    from rag.keys import rotate, status

    from rag.store.keyring import open_keyring
    from rag.store.manifest import Manifest
    from rag.store.records import unseal
    from rag.store.vault import open_collections

    before = status(small_store)["collections"]["default"]
    total = sum(before["records_per_key_version"].values())
    keyring = open_keyring(small_store, Path(small_store.store), create=False)
    manifest = Manifest.load(Path(small_store.store), keyring.collection("default"))
    old_keys = [k for sid in manifest.entries for k in manifest.document_keys(sid)]
    old_records = {i: s for i, s, _, _ in open_collections(small_store, keyring).scan()}
    result = rotate(small_store, reencrypt=True)
    assert result["reencrypted"] == total
    after = status(small_store)
    assert after["collections"]["default"]["records_per_key_version"] == {2: total}
    assert list(after["collections"]["default"]["data_keys"]) == [2] and not after["reencrypting"]
    now = open_collections(small_store, open_keyring(small_store, Path(small_store.store), create=False))
    for record_id, blob in list(now.get(list(old_records)).items())[:5]:
        with pytest.raises(IntegrityError):  # the old document keys open none of the re-sealed records
            unseal(lambda *_: old_keys, now.members[0][0].keys.chroma_name, record_id, blob)
    passages = Assistant.open(settings=small_store).search("paid annual leave", k=3)
    assert any("27 days" in p.text for p in passages)


def test_interrupted_reencryption_stays_readable_and_a_rerun_finishes(small_store, monkeypatch):
    from rag import keys as keyadmin
    from rag.api import Assistant

    monkeypatch.setattr(keyadmin, "BATCH", 5)

    def interrupt(done):
        raise KeyboardInterrupt  # as if the process were stopped after the first batch

    with pytest.raises(KeyboardInterrupt):
        keyadmin.rotate(small_store, reencrypt=True, progress=interrupt)
    mixed = keyadmin.status(small_store)
    assert mixed["reencrypting"] and set(mixed["collections"]["default"]["records_per_key_version"]) == {1, 2}
    assert Assistant.open(settings=small_store).search("board meeting chair", k=4)  # readable meanwhile
    keyadmin.rotate(small_store, reencrypt=True)
    done = keyadmin.status(small_store)["collections"]["default"]
    assert set(done["records_per_key_version"]) == {2} and list(done["data_keys"]) == [2]


def test_rotate_without_a_new_key_is_a_usage_error(small_store, isolated):
    before = store_bytes(isolated / "store")
    result = run_cli("-m", "rag.keys", "rotate")
    assert result.returncode == 2 and "--new-key-file" in result.stderr
    assert store_bytes(isolated / "store") == before
