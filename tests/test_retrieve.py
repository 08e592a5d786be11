"""The in-memory lexical index (rag/retrieve.py): what it knows of the store's words."""
from rag.language.english import ENGLISH
from rag.language.french import FRENCH
from rag.retrieve import LexicalIndex, Passage

OFFICERS = ["The Chief Information Security Officer owns this policy.",
            "Gifts are declared to the Compliance Officer.",
            "The Chief Financial Officer presented the results.",
            "The Chief Operating Officer presented the project."]


def _index(texts: dict[str, tuple[str, str]]) -> LexicalIndex:
    return LexicalIndex({i: Passage(i, text, "a.txt", None, 0, len(text), language=lang)
                         for i, (text, lang) in texts.items()})


def test_a_word_few_chunks_hold_is_rarer_than_one_most_hold_and_an_unknown_word_is_rarest():
    index = _index({f"c{i}": (text, "en") for i, text in enumerate(OFFICERS)})
    assert index.rarity("Compliance", ENGLISH) > index.rarity("chief", ENGLISH) > index.rarity("officer", ENGLISH)
    assert index.rarity("parking", ENGLISH) > index.rarity("compliance", ENGLISH)


def test_each_chunk_and_question_is_analysed_in_its_own_language():
    index = _index({
        "fr": ("Les congés annuels des agents sont de 25 jours ouvrés ; l'employé dépose sa demande.", "fr"),
        "en": ("Annual leave for staff is 25 working days; the employee files a request.", "en"),
        "other": ("The canteen opens at noon.", "en")})
    # French stems and elisions: "congé" finds "congés", "employés" finds "l'employé".
    assert index.search("Combien de jours de congé pour un employé ?", 3, FRENCH)[0][0] == "fr"
    assert index.search("How many days of annual leave does an employee get?", 3, ENGLISH)[0][0] == "en"
    # A function word of one language is not a content word of the other.
    assert index.search("les des", 3, FRENCH) == []
