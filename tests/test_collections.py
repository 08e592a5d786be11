"""Collections: departments in one store that never see each other's documents, enforced by keys.

Two collections, `hr` and `finance`, each with a canary fact; the real embedder and generator answer.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import DEMO_DOCS, ROOT, run_cli

HR_FACT = "New staff at Harrowgate meet their onboarding buddy, Solveig Brekkestad, on their first Monday."
FINANCE_FACT = "The Harrowgate treasury reserve for the Quillmoor acquisition is 7.4 million euros."
FINANCE_QUESTION = "How large is the treasury reserve for the Quillmoor acquisition?"
HR_QUESTION = "Who is the onboarding buddy for new staff?"
# The release before collections (record and keyring format 1): the upgrade test builds a store with it.
PREVIOUS_RELEASE = "4fb86c5"


def _folder(base: Path, name: str, fact: str, filler: str) -> Path:
    folder = base / name
    (folder / "policies").mkdir(parents=True)
    (folder / "policies" / f"{name}-notes.md").write_text(f"# {name.upper()} notes\n\n{fact}\n\n{filler}\n")
    (folder / "other.txt").write_text(filler + "\n")
    return folder


@pytest.fixture(scope="module")
def two_collections(tmp_path_factory, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("collections")
    settings = Settings(store=str(base / "store"), key_file=base / "keys" / "key")
    folders = {"hr": _folder(base, "hr", HR_FACT, "The canteen opens at eight."),
               "finance": _folder(base, "finance", FINANCE_FACT, "Invoices are paid within thirty days.")}
    for name, folder in folders.items():
        summary = run_ingest([folder], replace(settings, collection=name), embedder=embedder)
        assert summary.exit_code == 0 and len(summary.ingested) == 2, summary.failed
    return settings, folders


def _assistant(settings, collection, embedder, generator):
    from rag.api import Assistant
    from rag.store.keyring import open_keyring
    from rag.store.vault import open_collections

    scoped = replace(settings, collection=collection)
    keyring = open_keyring(scoped, Path(settings.store), create=False)
    return Assistant(scoped, keyring, open_collections(scoped, keyring, embedder), embedder, generator)


def _env(settings) -> dict:
    return {"RAG_STORE": settings.store, "RAG_KEY_FILE": str(settings.key_file)}


def test_a_reader_of_hr_gets_nothing_of_finance(two_collections, embedder, generator):
    settings, _ = two_collections
    hr = _assistant(settings, "hr", embedder, generator)
    answer = hr.ask(FINANCE_QUESTION)
    assert answer.abstained, answer.render_text()
    shown = answer.to_json()
    for leaked in ("7.4 million", "finance-notes", "Harrowgate treasury", "Invoices are paid"):  # not in the question
        assert leaked not in shown
    finance_ids = {i for i, _, _, _ in _assistant(settings, "finance", embedder, generator).store.scan()}
    assert not any(i in shown for i in finance_ids)
    assert all(p.source != "policies/finance-notes.md" for p in hr.search("treasury reserve Quillmoor", k=10))
    assert {d.collection for d in hr.documents()} == {"hr"}
    own = hr.ask(HR_QUESTION)
    assert not own.abstained and "Solveig Brekkestad" in own.answer + own.citations[0].quote


def test_asking_hr_decrypts_no_finance_record(two_collections, embedder, generator, monkeypatch):
    from rag.store import vault
    from rag.store.keyring import open_keyring

    settings, _ = two_collections
    opened = []
    real_unseal = vault.unseal

    def counting(keys, collection, record_id, blob):
        opened.append(collection)
        return real_unseal(keys, collection, record_id, blob)

    monkeypatch.setattr(vault, "unseal", counting)
    _assistant(settings, "hr", embedder, generator).ask(FINANCE_QUESTION)
    keyring = open_keyring(settings, Path(settings.store), create=False)
    assert opened and set(opened) == {keyring.collection("hr").chroma_name}


def test_several_collections_answer_together_and_the_cli_takes_them(two_collections):
    settings, _ = two_collections
    both = run_cli("-m", "rag.ask", "--json", "--collection", "hr,finance", FINANCE_QUESTION, env=_env(settings))
    assert both.returncode == 0, both.stderr
    answer = json.loads(both.stdout)
    assert not answer["abstained"] and answer["citations"][0]["source"] == "policies/finance-notes.md"
    hr_only = run_cli("-m", "rag.ask", "--json", "--collection", "hr", FINANCE_QUESTION, env=_env(settings))
    assert json.loads(hr_only.stdout)["abstained"] and "7.4 million" not in hr_only.stdout
    missing = run_cli("-m", "rag.ask", "--collection", "payroll", HR_QUESTION, env=_env(settings))
    assert missing.returncode == 2 and "no collection 'payroll'" in missing.stderr
    assert "Traceback" not in missing.stderr
    listed = run_cli("-m", "rag.collections", "list", env=_env(settings))
    assert listed.returncode == 0 and listed.stdout.split() == ["finance", "2", "documents", "2", "chunks",
                                                                 "hr", "2", "documents", "2", "chunks"]


def test_in_scopes_retrieval_to_a_folder_or_a_file(two_collections, embedder, generator):
    settings, _ = two_collections
    hr = _assistant(settings, "hr", embedder, generator)
    assert {p.source for p in hr.search("canteen onboarding buddy", k=10, within=["policies"])} == \
        {"policies/hr-notes.md"}
    assert {p.source for p in hr.search("canteen onboarding buddy", k=10, within=["other.txt"])} == {"other.txt"}
    assert hr.search("canteen onboarding buddy", k=10, within=["nothing/here"]) == []


def _every_key(settings) -> list[bytes]:
    """Every key the store's current keyring and manifests hold."""
    import base64

    from rag.store.keyring import open_keyring
    from rag.store.manifest import Manifest

    keyring = open_keyring(settings, Path(settings.store), create=False)
    keys = [keyring.index_key]
    for collection in keyring.collections.values():
        keys += [collection.index_key, *collection.data_keys.values()]
        for entry in Manifest.load(Path(settings.store), collection).entries.values():
            keys += [base64.b64decode(k) for k in (entry.document_key, entry.retiring_key) if k]
    return keys


def _opens_with_any(settings, chroma_name: str, record_id: str, blob: str) -> bool:
    from rag.errors import IntegrityError
    from rag.store.records import unseal

    try:
        unseal(lambda *_: _every_key(settings), chroma_name, record_id, blob)
        return True
    except IntegrityError:
        return False


def test_deleting_a_document_then_its_collection_leaves_nothing_any_key_opens(tmp_path, embedder):
    from rag.ingest import run_ingest
    from rag.settings import Settings
    from rag.store.keyring import open_keyring
    from rag.store.vault import open_collections

    settings = Settings(store=str(tmp_path / "store"), key_file=tmp_path / "keys" / "key", collection="hr")
    folder = _folder(tmp_path, "hr", HR_FACT, "The canteen opens at eight.")
    run_ingest([folder], settings, embedder=embedder)
    keyring = open_keyring(settings, Path(settings.store), create=False)
    chroma_name = keyring.collection("hr").chroma_name
    records = {i: s for i, s, m, _ in open_collections(settings, keyring).scan()}
    notes = {i: s for i, s in records.items() if _opens_with_any(settings, chroma_name, i, s)}
    assert notes == records  # everything opens while the documents exist

    (folder / "policies" / "hr-notes.md").unlink()
    run_ingest([folder], settings, embedder=embedder, prune=True)
    still = {i for i, s in records.items() if _opens_with_any(settings, chroma_name, i, s)}
    assert still and len(still) < len(records)  # the pruned document's copies open with no key any more

    done = run_cli("-m", "rag.collections", "delete", "hr", env=_env(settings))
    assert done.returncode == 0, done.stderr
    assert not any(_opens_with_any(settings, chroma_name, i, s) for i, s in records.items())
    shown = run_cli("-m", "rag.audit", "show", "--collection", "hr", env=_env(settings)).stdout
    assert "collection-delete" in shown and "verify" not in shown


def test_a_collections_keys_export_alone_and_open_only_it(two_collections, tmp_path):
    settings, _ = two_collections
    out, key = tmp_path / "hr.keys", tmp_path / "export-key"
    done = run_cli("-m", "rag.collections", "export", "hr", "--out", str(out), "--export-key-file", str(key),
                   env=_env(settings))
    assert done.returncode == 0, done.stderr
    raw = out.read_bytes()
    for phrase in ("finance", "Solveig", "index_key"):
        assert phrase.encode() not in raw
    other = {"RAG_STORE": str(tmp_path / "other"), "RAG_KEY_FILE": str(tmp_path / "other-key")}
    assert run_cli("-m", "rag.collections", "create", "scratch", env=other).returncode == 0
    imported = run_cli("-m", "rag.collections", "import", "hr", str(out), "--export-key-file", str(key), env=other)
    assert imported.returncode == 0, imported.stderr
    listed = run_cli("-m", "rag.collections", "list", env=other).stdout
    assert "hr\t" in listed and "finance" not in listed
    wrong = run_cli("-m", "rag.collections", "import", "hr2", str(out), "--export-key-file", str(tmp_path / "x"),
                    env=other)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory) -> Path:
    """The code of the release before collections, as a user upgrading has it installed."""
    if not shutil.which("git") or subprocess.run(["git", "cat-file", "-e", PREVIOUS_RELEASE], cwd=ROOT,
                                                 capture_output=True).returncode != 0:
        pytest.skip(f"the previous release ({PREVIOUS_RELEASE}) is not in this checkout's history")
    target = tmp_path_factory.mktemp("previous-release")
    archive = subprocess.run(["git", "archive", PREVIOUS_RELEASE, "rag", "ingest"], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def test_a_store_of_the_previous_format_opens_as_default_and_answers_the_same(previous_release, tmp_path):
    import sys

    env = {"RAG_STORE": str(tmp_path / "store"), "RAG_KEY_FILE": str(tmp_path / "key")}
    old = lambda *args: subprocess.run([sys.executable, *args], cwd=previous_release, capture_output=True,  # noqa: E731
                                       text=True, env={**__import__("os").environ, **env}, timeout=900)
    assert old("-m", "ingest", str(DEMO_DOCS)).returncode == 0
    questions = tmp_path / "questions.txt"
    questions.write_text("How many days of paid annual leave do employees get?\nWho chaired the board meeting?\n")
    before = [json.loads(line) for line in old("-m", "rag.ask", "--batch", str(questions)).stdout.splitlines()]
    assert json.loads((tmp_path / "store" / "keyring.json").read_text())["format"] == 1

    after = [json.loads(line) for line in run_cli("-m", "rag.ask", "--batch", str(questions), env=env).stdout.splitlines()]
    # The same evidence; the release before showed every span, this one the quote where it is not sure of it.
    assert [(a["citations"][0]["source"], a["citations"][0]["quote"]) for a in after] == \
        [(b["citations"][0]["source"], b["citations"][0]["quote"]) for b in before]
    assert all(b["answer"].removesuffix(" [1]") in a["answer"] for a, b in zip(after, before))
    # New documents join the upgraded collection under their own keys; the old records keep opening.
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "note.txt").write_text(HR_FACT + "\n")
    assert run_cli("-m", "ingest", str(extra), env=env).returncode == 0
    assert json.loads((tmp_path / "store" / "keyring.json").read_text())["format"] == 2
    listed = run_cli("-m", "rag.collections", "list", env=env).stdout
    assert listed.startswith("default\t5 documents")
    again = json.loads(run_cli("-m", "rag.ask", "--json", "--collection", "default",
                               "How many days of paid annual leave do employees get?", env=env).stdout)
    assert again["answer"] == after[0]["answer"]
    assert run_cli("-m", "rag.audit", "verify", env=env).returncode == 0


def test_ask_in_a_folder_answers_only_from_it(two_collections):
    settings, _ = two_collections
    inside = run_cli("-m", "rag.ask", "--json", "--collection", "hr", "--in", "policies/", HR_QUESTION,
                     env=_env(settings))
    outside = run_cli("-m", "rag.ask", "--json", "--collection", "hr", "--in", "other.txt", HR_QUESTION,
                      env=_env(settings))
    assert json.loads(inside.stdout)["citations"][0]["source"] == "policies/hr-notes.md"
    refused = json.loads(outside.stdout)
    assert refused["abstained"] and all(n["source"] == "other.txt" for n in refused["nearest"])
