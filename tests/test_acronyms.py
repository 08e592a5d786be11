"""Acronyms in a question are read as the user's documents spell them out."""
from __future__ import annotations

from rag.acronyms import AcronymIndex, expand
from rag.answer import Draft
from rag.cite import coverage
from rag.language.english import ENGLISH
from rag.retrieve import Passage
from rag.rules import Rules

HANDBOOK = ["This handbook is approved by the Chief\nExecutive Officer, Magnus Dahl.",
            "It applies to Halvorsen Maritime Insurance (HMI) in Bergen. Ask Human Resources."]


def test_an_acronym_is_read_as_the_long_form_the_documents_use_even_across_a_pdf_line_break():
    read_as = AcronymIndex(HANDBOOK).read("Who is the CEO?")
    assert read_as == {"CEO": "Chief Executive Officer"}
    assert expand("Who is the CEO?", read_as) == "Who is the CEO (Chief Executive Officer)?"


def test_a_definition_in_the_documents_outweighs_words_that_merely_share_the_initials():
    texts = HANDBOOK + ["Hamburg Marine Institute and Harbour Main Inlet are places."] * 3
    assert AcronymIndex(texts).read("What does HMI insure?") == {"HMI": "Halvorsen Maritime Insurance"}


def test_an_acronym_the_documents_use_more_than_its_long_form_is_left_as_asked():
    """Reading it would pull every page that names the company instead of the page asked about."""
    texts = HANDBOOK + ["HMI pays 7 percent into the pension.", "HMI staff work in Bergen."]
    assert AcronymIndex(texts).read("How much does HMI pay into the pension?") == {}


def test_numerals_unknown_acronyms_ties_and_spelled_out_questions_are_left_as_asked():
    index = AcronymIndex(HANDBOOK + ["Henry Irving met Harold Ives."])
    for question in ["When did Henry II die?", "What is the USB rule?", "Who is the HR CEO Chief Executive Officer?",
                     "Is the VPN (Virtual Private Network) on?"]:
        read_as = index.read(question)
        assert "CEO" not in read_as and "II" not in read_as and "USB" not in read_as and "VPN" not in read_as
    assert index.read("Who are the HI staff?") == {}  # "Henry Irving" and "Harold Ives" tie


def test_a_sentence_that_names_the_long_form_covers_the_acronym_and_is_no_mismatch():
    read_as = {"CEO": "Chief Executive Officer"}
    assert coverage("Who is the CEO?", HANDBOOK[0], ENGLISH, read_as) == 1.0
    passages = [Passage(id=f"c{i}", text=t, source="h.md", page=None, start=0, end=len(t)) for i, t in enumerate(HANDBOOK)]

    def reason(question, read_as):
        draft = Draft(question, passages, read_as=read_as, quote=HANDBOOK[0])
        found = Rules(ENGLISH).refusal(draft, skip={"not-quoted", "low-confidence"})
        return found and found.text

    assert reason("Who is the CEO?", read_as) is None
    assert reason("Who is the CFO?", {}) == "the passages found do not mention 'CFO'"


def test_a_long_form_from_a_document_the_question_is_not_about_is_not_used(isolated, embedder):
    from rag import Assistant
    from rag.ingest import run
    from rag.settings import Settings

    docs = isolated / "docs"
    docs.mkdir()
    (docs / "history.txt").write_text("Norman knights reached the Iberian Peninsula in the eleventh century.\n")
    for n, topic in enumerate(["Interactive proof systems define complexity classes by a verifier.",
                               "A proof system is complete when every true statement has a proof.",
                               "Complexity classes group problems by the resources a machine needs.",
                               "The class IP equals PSPACE, as Shamir proved for interactive proof systems."]):
        (docs / f"complexity-{n}.txt").write_text(topic + "\n")
    (docs / "handbook.txt").write_text("Leave requests are approved by the Chief People Officer, Sigrid Aasen.\n")
    run([docs], Settings.from_env(), embedder=embedder)
    with Assistant.open() as assistant:
        assert assistant.retriever.interpret("Which proof system defines IP?") == ("Which proof system defines IP?", {})
        assert assistant.retriever.interpret("Does the CPO approve leave?")[1] == {"CPO": "Chief People Officer"}
