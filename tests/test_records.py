"""Sealed records (rag/store/records.py): what the vector store holds instead of text."""
import base64
import os

import pytest

from rag.errors import IntegrityError
from rag.store.records import MissingKey, keyed_hash, seal, seal_blob, unseal, unseal_blob

KEY = bytes(range(32))
SOURCE = "ab" * 16  # the source id of the document whose own key seals the records


def KEYS(fmt, version, source_id):  # noqa: N802  a key lookup, as a collection's vault gives one
    return [KEY] if source_id == SOURCE else []
PAYLOAD = {"text": "Zahlungsfrist: 28 Tage — naïve café ☕ 東京", "page": 3, "source": "contract.pdf"}


def test_round_trip_keeps_unicode_text():
    blob = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    assert unseal(KEYS, "documents", "chunk-1", blob) == PAYLOAD


def test_sealed_string_reveals_no_plaintext():
    blob = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    raw = base64.b64decode(blob)
    for needle in ("Zahlungsfrist", "28 Tage", "contract.pdf", "東京"):
        assert needle not in blob
        assert needle.encode() not in raw


def test_two_seals_of_same_payload_differ():
    a = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    b = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    assert a != b
    assert unseal(KEYS, "documents", "chunk-1", a) == unseal(KEYS, "documents", "chunk-1", b)


def test_any_flipped_byte_is_detected_and_names_the_record():
    raw = base64.b64decode(seal(KEY, 1, SOURCE, "documents", "rec-42", PAYLOAD))
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        with pytest.raises(IntegrityError, match="rec-42"):
            unseal(KEYS, "documents", "rec-42", base64.b64encode(bytes(tampered)).decode())


def test_garbage_blob_is_integrity_error_naming_record():
    with pytest.raises(IntegrityError, match="rec-7"):
        unseal(KEYS, "documents", "rec-7", "not base64 at all!!")


def test_record_moved_to_another_id_fails():
    blob = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    with pytest.raises(IntegrityError, match="chunk-2"):
        unseal(KEYS, "documents", "chunk-2", blob)


def test_record_moved_to_another_collection_fails():
    blob = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    with pytest.raises(IntegrityError):
        unseal(KEYS, "other", "chunk-1", blob)


def test_swapped_ciphertexts_fail():
    a = seal(KEY, 1, SOURCE, "documents", "a", {"text": "alpha"})
    b = seal(KEY, 1, SOURCE, "documents", "b", {"text": "beta"})
    with pytest.raises(IntegrityError, match="record a "):
        unseal(KEYS, "documents", "a", b)
    with pytest.raises(IntegrityError):
        unseal(KEYS, "documents", "b", a)
    assert unseal(KEYS, "documents", "a", a) == {"text": "alpha"}


def test_wrong_key_fails():
    blob = seal(KEY, 1, SOURCE, "documents", "chunk-1", PAYLOAD)
    with pytest.raises(IntegrityError):
        unseal(lambda *_: [os.urandom(32)], "documents", "chunk-1", blob)


def test_a_record_whose_document_key_is_gone_says_so():
    blob = seal(KEY, 2, "cd" * 16, "documents", "chunk-1", PAYLOAD)
    with pytest.raises(MissingKey, match="its document key"):
        unseal(KEYS, "documents", "chunk-1", blob)


def test_a_document_being_rekeyed_opens_under_either_key():
    blob = seal(KEY, 2, SOURCE, "documents", "chunk-1", PAYLOAD)
    assert unseal(lambda *_: [os.urandom(32), KEY], "documents", "chunk-1", blob) == PAYLOAD


def test_keyed_hash_is_stable_per_key_and_differs_across_keys():
    other = bytes(32)
    assert keyed_hash(KEY, "docs", "a.pdf") == keyed_hash(KEY, "docs", "a.pdf")
    assert keyed_hash(KEY, "docs", "a.pdf") != keyed_hash(other, "docs", "a.pdf")
    assert keyed_hash(KEY, "docs", "a.pdf") != keyed_hash(KEY, "docs", "b.pdf")
    # parts are separated: ("ab", "c") is not ("a", "bc")
    assert keyed_hash(KEY, "ab", "c") != keyed_hash(KEY, "a", "bc")
    assert "a.pdf" not in keyed_hash(KEY, "docs", "a.pdf")


def test_blob_round_trip_and_purpose_binding():
    data = "index bytes \u00e9".encode() * 50
    blob = seal_blob(KEY, "manifest", data)
    assert data not in blob
    assert unseal_blob(KEY, "manifest", blob, "manifest.bin") == data
    with pytest.raises(IntegrityError, match="lexical.bin"):
        unseal_blob(KEY, "lexical", blob, "lexical.bin")
    with pytest.raises(IntegrityError):
        unseal_blob(os.urandom(32), "manifest", blob, "manifest.bin")
    tampered = bytearray(blob)
    tampered[-1] ^= 0x80
    with pytest.raises(IntegrityError):
        unseal_blob(KEY, "manifest", bytes(tampered), "manifest.bin")


def test_truncated_blob_is_integrity_error():
    with pytest.raises(IntegrityError):
        unseal_blob(KEY, "manifest", b"short", "manifest.bin")
