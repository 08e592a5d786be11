"""The in-memory lexical index (rag/retrieve.py): what it knows of the store's words."""
from rag.language.english import ENGLISH
from rag.retrieve import LexicalIndex, Passage

OFFICERS = ["The Chief Information Security Officer owns this policy.",
            "Gifts are declared to the Compliance Officer.",
            "The Chief Financial Officer presented the results.",
            "The Chief Operating Officer presented the project."]


def test_a_word_few_chunks_hold_is_rarer_than_one_most_hold_and_an_unknown_word_is_rarest():
    index = LexicalIndex({f"c{i}": Passage(f"c{i}", text, "a.txt", None, 0, len(text))
                          for i, text in enumerate(OFFICERS)}, ENGLISH)
    assert index.rarity("Compliance") > index.rarity("chief") > index.rarity("officer")
    assert index.rarity("parking") > index.rarity("compliance")
