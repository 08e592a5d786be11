"""The gates and the evidence choice (rag/rules.py, rag/answer.py): what may be cited and what passes."""
from rag.answer import Draft
from rag.language.english import ENGLISH
from rag.retrieve import Passage
from rag.rules import Rules


def gate_failure(draft: Draft) -> str | None:
    reason = Rules(ENGLISH).refusal(draft, skip={"low-confidence"})
    return reason.text if reason else None

BOARD = ("The board met on 12 March 2026. Present: Kari Nilsen (chair), Jonas Berg and Eva Dahl. "
         "The board approved the new claims system.")


def _draft(question: str, span: str, quote: str) -> Draft:
    passage = Passage(id="c1", text=BOARD, source="board.md", page=None, start=0, end=len(BOARD), score=0.6)
    return Draft(question, [passage], span=span, passage=passage, quote=quote,
                 features={"coverage_quote": 0.5})


def test_a_fitting_span_passes():
    quote = "The board met on 12 March 2026."
    assert gate_failure(_draft("When did the board meet?", "12 March 2026", quote)) is None
    assert gate_failure(_draft("In what year did the board meet?", "12 March 2026", quote)) is None


class _Store:
    """What the evidence choice needs of a retriever: the real embedder and word weights."""

    def __init__(self, embedder):
        self.embedder = embedder

    @staticmethod
    def rarity(word: str, language) -> float:
        return 1.0


def test_an_faq_question_is_not_the_evidence_and_its_answer_is_quoted_from_the_right_sentence(embedder):
    from rag.answer import AskPipeline

    faq = ("Expenses FAQ, Finance Office.\nQ: How many days do I have to get an expense claim to Finance?\n"
           "A: Claims must reach Finance within 30 days of the expense.")
    passage = Passage(id="c1", text=faq, source="faq.md", page=None, start=0, end=len(faq), score=0.6)
    pipeline = AskPipeline(_Store(embedder), generator=None)
    _, evidence, _ = pipeline.evidence_sentence(Draft("How many days do staff have to get an expense claim to Finance?",
                                                      [passage]))
    assert evidence.text == "A: Claims must reach Finance within 30 days of the expense."
