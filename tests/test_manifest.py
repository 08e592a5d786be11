"""The manifest (rag/store/manifest.py): sealed list of sources; file names never on disk in clear."""
from dataclasses import replace

import pytest

from rag.errors import IntegrityError
from rag.store.keyring import CollectionKeys as Keyring
from rag.store.manifest import Manifest, SourceEntry, manifest_path

SOURCE = "Vertraulich/Quartalsbericht_Q3.pdf"
ROOT = "/home/alice/Documents/secret-project"


def entry():
    return SourceEntry(path=SOURCE, root=ROOT, content_hash="ab" * 32, pages=12, chunks=40,
                       ingested_at="2024-05-01T10:00:00+00:00")


def saved(tmp_path, keyring):
    m = Manifest({"sid1": entry()})
    m.save(tmp_path, keyring)
    return manifest_path(tmp_path, keyring)


def test_round_trip(tmp_path):
    ring = Keyring.new()
    saved(tmp_path, ring)
    loaded = Manifest.load(tmp_path, ring)
    assert loaded.entries == {"sid1": entry()}


def test_missing_manifest_is_empty(tmp_path):
    assert Manifest.load(tmp_path, Keyring.new()).entries == {}


def test_file_does_not_show_source_path(tmp_path):
    raw = saved(tmp_path, Keyring.new()).read_bytes()
    for needle in (SOURCE, "Quartalsbericht", ROOT, "secret-project"):
        assert needle.encode() not in raw


def test_flipped_byte_is_detected(tmp_path):
    ring = Keyring.new()
    path = saved(tmp_path, ring)
    raw = path.read_bytes()
    for i in (0, 3, 10, len(raw) // 2, len(raw) - 1):
        tampered = bytearray(raw)
        tampered[i] ^= 0x04
        path.write_bytes(bytes(tampered))
        with pytest.raises(IntegrityError):
            Manifest.load(tmp_path, ring)


def test_other_keyring_cannot_open(tmp_path):
    ring = Keyring.new()
    saved(tmp_path, ring)
    with pytest.raises(IntegrityError, match="integrity"):
        Manifest.load(tmp_path, replace(Keyring.new(), chroma_name=ring.chroma_name))
