"""The gates (rag/answer.py `gate_failure`): evidence that cannot answer the question abstains, saying why."""
from rag.answer import Draft, gate_failure
from rag.retrieve import Passage

BOARD = ("The board met on 12 March 2026. Present: Kari Nilsen (chair), Jonas Berg and Eva Dahl. "
         "The board approved the new claims system.")


def _draft(question: str, span: str, quote: str) -> Draft:
    passage = Passage(id="c1", text=BOARD, source="board.md", page=None, start=0, end=len(BOARD), score=0.6)
    return Draft(question, [passage], span=span, passage=passage, quote=quote,
                 features={"coverage_quote": 0.5})


def test_a_span_that_does_not_name_what_the_question_asks_for_abstains():
    quote = "Present: Kari Nilsen (chair), Jonas Berg and Eva Dahl."
    assert gate_failure(_draft("How many members sit on the board?", "Kari Nilsen", quote)) == \
        "the question asks for an amount and the best sentence found gives none"
    assert gate_failure(_draft("Who chairs the board?", "Kari Nilsen", quote)) is None


def test_a_fitting_span_passes():
    quote = "The board met on 12 March 2026."
    assert gate_failure(_draft("When did the board meet?", "12 March 2026", quote)) is None
    assert gate_failure(_draft("In what year did the board meet?", "12 March 2026", quote)) is None
