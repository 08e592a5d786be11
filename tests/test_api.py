"""The Python API: the same facts as the CLI, through `Assistant` and `ingest.run`."""
from __future__ import annotations

from conftest import copy_docs


def test_ingest_run_reports_progress_and_returns_a_summary(isolated, embedder):
    from rag.ingest import run
    from rag.settings import Settings

    events = []
    summary = run([copy_docs(isolated / "docs")], Settings.from_env(), embedder=embedder, progress=events.append)
    assert summary.exit_code == 0 and len(summary.ingested) == 4
    assert events[-1].files_done == events[-1].files_total == 4
    assert events[-1].chunks == summary.chunks > 0


def test_assistant_opens_with_explicit_arguments_and_answers(isolated, demo_store, generator):
    from rag import Assistant

    with Assistant.open(store=demo_store.store, key_file=demo_store.key_file) as assistant:
        assistant._generator = generator  # reuse the session's loaded model: same object a first ask would load
        answer = assistant.ask("How many days of paid annual leave do employees get?")
        assert not answer.abstained and "27" in answer.answer
        assert (answer.citations[0].source, answer.citations[0].page) == ("hr-policy.pdf", 2)
        assert assistant.ask("What is the parking fee at the Bergen office?").abstained


def test_answer_renders_as_html_and_text(assistant):
    answer = assistant.ask("How long must passwords be?")
    html = answer._repr_html_()
    assert "<mark>" in html and "it-security-policy.pdf" in html and "<table>" in html
    text = str(answer)
    assert text.splitlines()[1] == "Sources:" and 'it-security-policy.pdf, p. 3: "' in text
    abstention = assistant.ask("What is the capital of Peru?")
    assert "could not find" in abstention._repr_html_()


def test_search_returns_decrypted_passages_best_first(assistant):
    passages = assistant.search("incident response exercise", k=5)
    assert len(passages) == 5
    assert passages[0].source == "it-security-policy.pdf" and "Bluefin Harbor" in passages[0].text
    assert all(p.text and p.id for p in passages)


def test_documents_lists_every_source_with_pages_and_chunks(assistant):
    documents = {d.source: d for d in assistant.documents()}
    assert set(documents) == {"hr-policy.pdf", "it-security-policy.pdf", "meetings/2026-03-board-meeting.md",
                              "procedures/claims-procedure.txt"}
    assert documents["hr-policy.pdf"].pages == 5 and documents["hr-policy.pdf"].chunks >= 5
    assert documents["procedures/claims-procedure.txt"].pages == 1


def test_chunks_come_with_their_vectors(assistant):
    passages, vectors = assistant.chunks()
    assert len(passages) == vectors.shape[0] == assistant.store.count()
    assert vectors.shape[1] == 384


def test_an_open_assistant_never_serves_the_old_text_of_a_re_ingested_file(isolated, embedder):
    from rag import Assistant
    from rag.ingest import run
    from rag.settings import Settings

    docs = isolated / "docs"
    docs.mkdir()
    note = docs / "note.txt"
    note.write_text("The Quillfeather Lagoon office opens at nine in the morning.\n")
    run([docs], Settings.from_env(), embedder=embedder)
    with Assistant.open() as assistant:
        assert "nine" in assistant.search("When does the Quillfeather Lagoon office open?", k=1)[0].text
        # Same length, same chunk count, different words: the store changes under the open assistant.
        note.write_text("The Quillfeather Lagoon office opens at ten in the morning.\n")
        run([docs], Settings.from_env(), embedder=embedder)
        texts = [p.text for p in assistant.search("Quillfeather Lagoon office opens nine morning", k=3)]
        assert texts and all("nine" not in t for t in texts) and "ten" in texts[0]
