"""French documents and questions, end to end with the real models, in a store that mixes French and English.

The documents are the paired French/English workplace corpus (bench/make_fr_workplace.py: two PDFs and
four Markdown files per language, invented); the questions here are this test's own.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rag.language.french import FRENCH

ROOT = Path(__file__).resolve().parents[1]
LEAVE_FR = "Combien de jours ouvrés de congés annuels a un agent à temps plein ?"
LEAVE_EN = "How many working days of annual leave does a full-time employee get?"


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, embedder, generator):
    """Both languages' documents ingested into one store, languages detected per document."""
    sys.path.insert(0, str(ROOT / "bench"))
    import make_fr_workplace

    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings
    from rag.store.keyring import open_keyring
    from rag.store.vault import open_collections

    base = tmp_path_factory.mktemp("french")
    docs = make_fr_workplace.build(base / "docs", verbose=False)["fr"].parent
    settings = Settings(store=str(base / "store"), key_file=base / "keys" / "key")
    summary = run_ingest([docs], settings, embedder=embedder)
    assert summary.exit_code == 0, summary.failed
    keyring = open_keyring(settings, Path(settings.store), create=False)
    return Assistant(settings, keyring, open_collections(settings, keyring, embedder), embedder, generator)


def test_a_french_question_on_a_french_pdf_is_answered_in_french_with_a_french_quote(mixed):
    answer = mixed.ask(LEAVE_FR)
    assert not answer.abstained and answer.language == "fr"
    cited = answer.citations[0]
    assert (cited.source, cited.page) == ("fr/01_reglement_temps_de_travail_conges.pdf", 2)
    assert "25 jours ouvrés de congés annuels" in cited.quote
    assert "Sources :" in answer.render_text()


def test_a_french_question_on_a_french_markdown_file_quotes_it(mixed):
    answer = mixed.ask("Qui est la responsable de la sécurité des systèmes d'information ?")
    assert not answer.abstained
    assert answer.citations[0].source == "fr/04_securite_informatique_incidents.md"
    assert "Nadia Benali" in answer.answer


def test_in_a_mixed_store_each_question_is_answered_from_the_documents_in_its_language(mixed):
    english = mixed.ask(LEAVE_EN)
    assert not english.abstained and english.language == "en"
    assert english.citations[0].source == "en/01_working_time_and_leave_rules.pdf"
    assert "25 working days" in english.citations[0].quote
    assert mixed.ask(LEAVE_FR).citations[0].source.startswith("fr/")
    assert {p.language for p in mixed.search("congés annuels jours ouvrés", k=3)} == {"fr"}


def test_a_french_refusal_is_in_french_with_its_reason(mixed):
    answer = mixed.ask("Quel est le tarif de la cantine du siège ?")
    assert answer.abstained
    assert answer.answer == FRENCH.say("abstain")
    text = answer.render_text()
    assert "Pourquoi :" in text and "Passages les plus proches" in text
    assert answer.reason.text.split(" ")[0] not in {"the", "no", "a"}  # the reason's words are French too


def test_lang_overrides_the_detected_language_of_a_question(mixed):
    answer = mixed.ask(LEAVE_FR, lang="en")
    assert answer.language == "en"
    assert "Sources:" in answer.render_text() or answer.answer == "I could not find this in your documents."


def test_lang_at_ingest_overrides_the_detected_language_of_a_document(tmp_path, embedder):
    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.md").write_text("Le comité se réunit chaque premier mardi du mois dans la salle Garonne.\n")
    settings = Settings(store=str(tmp_path / "store"), key_file=tmp_path / "key", lang="en")
    assert run_ingest([docs], settings, embedder=embedder).exit_code == 0
    with Assistant.open(settings=settings) as assistant:
        assert [p.language for p in assistant.search("comité salle Garonne", k=1)] == ["en"]


def test_an_unknown_language_is_one_line_naming_the_valid_ones(tmp_path):
    from conftest import run_cli

    result = run_cli("-m", "rag.ask", "--lang", "de", "Wie viele Urlaubstage?")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].endswith("use one of: en, fr")
    assert "Traceback" not in result.stderr
