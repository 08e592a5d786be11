"""French behind the Language interface (rag/language/french.py), language identification (rag/language/detect.py)
and what every registered language must have. No model: fast."""
import string

import pytest

from rag import language as languages
from rag.answer import Draft
from rag.errors import UsageError
from rag.language import detect as lid
from rag.language.english import ENGLISH
from rag.language.french import FRENCH
from rag.retrieve import Passage
from rag.rules import Rules

_OTHER_GATES = {"not-quoted", "low-confidence"}


def mismatch(question: str, sentence: str, passages: list[str]) -> str | None:
    found = [Passage(id=f"c{i}", text=t, source="doc.md", page=None, start=0, end=len(t)) for i, t in enumerate(passages)]
    draft = Draft(question, found, span=sentence, passage=found[0], quote=sentence)
    reason = Rules(FRENCH).refusal(draft, skip=_OTHER_GATES)
    return reason.text if reason else None


# -- words ---------------------------------------------------------------------------------------------
def test_elided_articles_are_split_off_with_either_apostrophe():
    assert FRENCH.words("L'employé") == ["employé"]
    assert FRENCH.words("l’employé") == ["employé"]
    assert FRENCH.words("lʼemployé") == ["employé"]  # U+02BC, which \w takes for a letter
    assert FRENCH.words("trente d'heures, jusqu'à lorsqu’il qu'un") == ["trente", "heures", "à", "il", "un"]
    assert FRENCH.words("aujourd'hui") == ["aujourd", "hui"]  # an apostrophe inside a word is no elision
    assert FRENCH.content_words("Combien de jours de congé l'employé a-t-il ?") == ["jours", "congé", "employé"]


def test_english_words_are_unchanged():
    assert ENGLISH.words("The employee's l'avion") == ["the", "employee", "s", "l", "avion"]


def test_stems_meet_across_plural_and_accents():
    assert FRENCH.stems("congés payés") == FRENCH.stems("le congé payé")
    assert FRENCH.stems("les employés") == FRENCH.stems("l'employé")
    assert FRENCH.stems("remboursements") & FRENCH.stems("remboursement")


# -- questions -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("question, kind", [
    ("Pourquoi le projet a-t-il été retardé ?", "reason"),
    ("Pour quelle raison le site a-t-il fermé ?", "reason"),
    ("En quelle année l'entreprise a-t-elle été fondée ?", "year"),
    ("Quelle année le bâtiment a-t-il été construit ?", "year"),
    ("Combien de jours de congé payé ai-je par an ?", "amount"),
    ("Combien coûte l'abonnement annuel ?", "amount"),
    ("Quel pourcentage du budget va à la formation ?", "amount"),
    ("Quelle proportion des salariés télétravaille ?", "amount"),
    ("Quel est le montant de la prime ?", "amount"),
    ("Quel montant est remboursé ?", "amount"),
    ("Quel âge faut-il avoir ?", "amount"),
    ("Pendant combien de temps dure la période d'essai ?", "measure"),
    ("Combien de temps faut-il pour obtenir un badge ?", "measure"),
    ("À quelle fréquence les sauvegardes ont-elles lieu ?", "measure"),
    ("Tous les combien le comité se réunit-il ?", "measure"),
    ("Quelle est la durée du préavis ?", "measure"),
    ("Quelle durée pour le préavis ?", "measure"),
    ("Quand la bibliothèque ferme-t-elle le samedi ?", "time"),
    ("Quand est-ce que la bibliothèque ferme ?", "time"),
    ("La bibliothèque ferme quand ?", "time"),
    ("À quelle heure commence la réunion ?", "time"),
    ("Quelle date limite pour le rapport ?", "time"),
    ("Quelle est la date limite pour le rapport ?", "time"),
    ("Quel jour a lieu la réunion ?", "time"),
    ("Quel mois les primes sont-elles versées ?", "time"),
    ("À partir de quand le nouveau règlement s’applique-t-il ?", "time"),  # typographic apostrophe
    ("Jusqu'à quand puis-je poser mes congés ?", "time"),
    ("Quand le serveur tombe en panne, qui faut-il appeler ?", None),  # "quand" opens a clause
    ("Qui signe les notes de frais ?", None),
    ("Où dois-je envoyer ma demande ?", None),
])
def test_french_question_kinds(question, kind):
    assert FRENCH.asked_kind(question) == kind


@pytest.mark.parametrize("question, kind", [
    ("Why was the project delayed?", "reason"),
    ("In what year was the company founded?", "year"),
    ("How many days of leave do I get?", "amount"),
    ("What percentage of the budget goes to training?", "amount"),
    ("How long is the probation period?", "measure"),
    ("How often are backups taken?", "measure"),
    ("What time does the meeting start?", "time"),
    ("When does the library close?", "time"),
    ("When the server is down, who do I call?", None),
    ("Who signs expense claims?", None),
])
def test_english_question_kinds_are_unchanged(question, kind):
    assert ENGLISH.asked_kind(question) == kind


def test_french_gates_speak_french():
    laptops = "Tous les ordinateurs portables sont chiffrés avec BitLocker."
    assert mismatch("Quels appareils de Quimper sont chiffrés ?", laptops, [laptops]) == \
        "les passages trouvés ne mentionnent pas 'Quimper'"
    assert mismatch("Quels appareils sont chiffrés ?", laptops, [laptops]) is None


def test_lexical_stopwords_are_a_list_bm25s_has():
    import bm25s

    tokens = bm25s.tokenize(["Les congés de l'employé sont payés"], stopwords=FRENCH.lexical_stopwords,
                            return_ids=False, show_progress=False)
    assert tokens == [["congés", "employé", "payés"]]


# -- sentences -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("Le congé est accordé. À partir de janvier, la règle change.",
     ["Le congé est accordé.", "À partir de janvier, la règle change."]),
    ("La demande est validée. École et mairie sont fermées le lundi.",
     ["La demande est validée.", "École et mairie sont fermées le lundi."]),
    ("Le directeur a tranché. « Nous fermons le site », a-t-il dit.",
     ["Le directeur a tranché.", "« Nous fermons le site », a-t-il dit."]),
    ("Le dossier est suivi par M. Dupont depuis mars. Il répond sous deux jours.",
     ["Le dossier est suivi par M. Dupont depuis mars.", "Il répond sous deux jours."]),
    ("Certains frais, p. ex. les taxis, sont remboursés. Les autres non.",
     ["Certains frais, p. ex. les taxis, sont remboursés.", "Les autres non."]),
    ("Selon l'art. 12 du règlement, le délai est de trente jours. Passé ce délai, la demande est close.",
     ["Selon l'art. 12 du règlement, le délai est de trente jours.", "Passé ce délai, la demande est close."]),
    ("Selon l’art. L. 1234-5 du code, le préavis est dû. Il court dès la notification.",
     ["Selon l’art. L. 1234-5 du code, le préavis est dû.", "Il court dès la notification."]),
    ("Le taux est de 0,42 pour cent. Le site compte 58 000 visiteurs. Il en comptait 58\u202f100.",
     ["Le taux est de 0,42 pour cent.", "Le site compte 58 000 visiteurs.", "Il en comptait 58\u202f100."]),
    ("Voir Mme. Martin. Elle signe.", ["Voir Mme. Martin.", "Elle signe."]),
])
def test_french_sentences(text, expected):
    assert [q.text for q in FRENCH.segments(text)] == expected


# -- every registered language -------------------------------------------------------------------------
def _values(template: str) -> dict:
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return {name: 0.5 if name in ("confidence", "threshold") else f"<{name}>" for name in names}


@pytest.mark.parametrize("code", sorted(languages.LANGUAGES))
def test_every_language_has_every_message_and_field(code):
    language = languages.get(code)
    assert language.code == code
    assert set(language.messages) == set(ENGLISH.messages), "a message key is missing or extra"
    for key, template in language.messages.items():
        assert _values(template).keys() == _values(ENGLISH.messages[key]).keys(), key
        said = language.say(key, **_values(template))
        assert said and "{" not in said
    for name in ("stopwords", "articles", "magnitudes", "kind_patterns"):
        assert getattr(language, name), name
    prompt = language.prompt
    assert prompt.unknown in prompt.unknown_examples and prompt.unknown in prompt.unknown_instruction
    for examples in (prompt.examples, prompt.unknown_examples):  # the labels the question prompt uses
        assert f"{language.say('context')}:\n[1] " in examples
        assert f"\n{language.say('question')}: " in examples and f"\n{language.say('answer')}: " in examples


def test_an_unknown_language_code_names_the_registered_ones():
    with pytest.raises(UsageError, match="use one of: en, fr"):
        languages.get("de")
    assert languages.get("FR") is FRENCH


# -- language identification ---------------------------------------------------------------------------
@pytest.mark.parametrize("question, code", [
    ("Combien de jours de congé payé ai-je par an ?", "fr"),
    ("Quand la bibliothèque ferme-t-elle le samedi ?", "fr"),
    ("Qui signe les notes de frais ?", "fr"),
    ("Quel est le SLA du support premium ?", "fr"),
    ("combien de jours de conge ai je", "fr"),  # no accents, no capitals
    ("How many days of paid leave do I get?", "en"),
    ("When does the library close on Saturdays?", "en"),
    ("What does the Code du travail say on overtime?", "en"),
    ("how many vacation days", "en"),
])
def test_detects_the_language_of_short_questions(question, code):
    assert lid.detect(question, default="xx") == code


@pytest.mark.parametrize("text", ["", "Bergen", "VPN", "Paris 2024", "Wi-Fi SSID", "Question ?", "3.2.1"])
def test_too_short_text_gets_the_default(text):
    assert lid.detect(text, default="fr") == "fr"
    assert lid.detect(text) == "en"


def test_too_few_words_are_not_even_looked_at_and_unsure_ones_fall_back():
    assert lid.identify("Bergen office") is None  # two words
    code, probability = lid.identify("Wi-Fi SSID")  # three words, but names: the model hesitates
    assert probability < lid.MIN_CONFIDENCE


def test_document_language_from_a_bounded_sample():
    fr = ("La période d'essai est de quatre mois pour les cadres et de deux mois pour les employés. "
          "Elle peut être renouvelée une fois, par accord écrit entre les parties. ") * 40
    en = "The probation period is four months for managers and two months for other staff. " * 40
    pages = ["Annual report of the Lyon office"] + [fr] * 50  # an English title page does not decide
    assert len(lid.sample(pages)) <= lid.DOCUMENT_SAMPLE
    assert lid.detect_document(pages, default="xx") == "fr"
    assert lid.detect_document(en * 10, default="xx") == "en"
    assert lid.detect_document(["", " "], default="xx") == "xx"
    assert lid.sample("court texte") == "court texte"
