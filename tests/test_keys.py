"""Key management (rag/keys.py): the store alone opens nothing; wrong keys are refused clearly."""
import base64
import os
import stat

import pytest

from rag.errors import KeyProblem
from rag.settings import Settings
from rag.store.keyring import CollectionKeys, keyring_path, open_keyring, save_keyring


def make_settings(tmp_path, **kw):
    return Settings(store=str(tmp_path / "store"), key_file=tmp_path / "keys" / "key",
                    cache_dir=tmp_path / "cache", **kw)


def test_create_makes_private_key_file_and_keyring_without_secrets(tmp_path):
    s = make_settings(tmp_path)
    state = tmp_path / "store"
    ring = open_keyring(s, state, create=True)

    assert s.key_file.exists()
    assert stat.S_IMODE(s.key_file.stat().st_mode) == 0o600
    doc = keyring_path(state).read_bytes()
    key_file_bytes = s.key_file.read_bytes().strip()
    kek = base64.b64decode(key_file_bytes)
    assert key_file_bytes not in doc and kek not in doc
    ring.collections["hr"] = CollectionKeys.new()
    save_keyring(s, state, ring)
    doc = keyring_path(state).read_bytes()
    for secret in [ring.index_key, ring.collections["hr"].index_key, *ring.collections["hr"].data_keys.values()]:
        assert secret not in doc
        assert base64.b64encode(secret) not in doc


def test_reopen_with_same_key_gives_same_keys(tmp_path):
    s = make_settings(tmp_path)
    state = tmp_path / "store"
    first = open_keyring(s, state, create=True)
    again = open_keyring(s, state, create=False)
    assert again == first
    # create=True on an existing store also opens rather than replacing it
    assert open_keyring(s, state, create=True) == first


def test_other_key_file_is_refused_and_keyring_untouched(tmp_path):
    s = make_settings(tmp_path)
    state = tmp_path / "store"
    open_keyring(s, state, create=True)
    before = keyring_path(state).read_bytes()

    other = tmp_path / "other" / "key"
    other.parent.mkdir()
    other.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    other.chmod(0o600)
    with pytest.raises(KeyProblem, match="wrong key file"):
        open_keyring(Settings(store=s.store, key_file=other), state, create=True)
    assert keyring_path(state).read_bytes() == before


def test_group_readable_key_file_is_refused_with_chmod_hint(tmp_path):
    s = make_settings(tmp_path)
    s.key_file.parent.mkdir()
    s.key_file.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")
    s.key_file.chmod(0o644)
    with pytest.raises(KeyProblem, match="chmod 600"):
        open_keyring(s, tmp_path / "store", create=True)
    assert not keyring_path(tmp_path / "store").exists()


def test_key_file_inside_store_is_refused(tmp_path):
    state = tmp_path / "store"
    s = Settings(store=str(state), key_file=state / "key", cache_dir=tmp_path / "cache")
    with pytest.raises(KeyProblem, match="inside the store"):
        open_keyring(s, state, create=True)
    assert not keyring_path(state).exists()


def test_passphrase_store(tmp_path):
    state = tmp_path / "store"
    ring = open_keyring(make_settings(tmp_path, passphrase="correct horse"), state, create=True)
    assert not (tmp_path / "keys" / "key").exists()  # no key file needed
    assert b"correct horse" not in keyring_path(state).read_bytes()

    assert open_keyring(make_settings(tmp_path, passphrase="correct horse"), state,
                        create=False) == ring
    with pytest.raises(KeyProblem, match="wrong passphrase"):
        open_keyring(make_settings(tmp_path, passphrase="battery staple"), state, create=False)
    with pytest.raises(KeyProblem, match="RAG_PASSPHRASE"):
        open_keyring(make_settings(tmp_path), state, create=False)


def test_open_without_create_on_empty_dir_says_ingest_first(tmp_path):
    with pytest.raises(KeyProblem, match="ingest"):
        open_keyring(make_settings(tmp_path), tmp_path / "store", create=False)
    assert not (tmp_path / "keys" / "key").exists()
