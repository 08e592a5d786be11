"""Everything that depends on the language of a text or a question, behind one interface.

The answer stage (evidence choice, rules, prompt, messages) and the lexical index ask a `Language`
for words, stems, sentences, question kinds and phrases; none of them holds a word list of its own.
A language is an implementation of this interface registered in `LANGUAGES` (English and French today).
"""
from __future__ import annotations

import functools
import importlib
import re
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rag.errors import UsageError

if TYPE_CHECKING:
    from rag.segment import Quote

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Prompt:
    """What a base model is shown before the question: the instruction and invented examples (never
    items of an evaluation set) in the question's language."""

    instruction: str
    unknown_instruction: str
    examples: str  # question/answer pairs whose context answers them
    unknown_examples: str  # ... whose context does not: the model's "unknown" (see AskPipeline.unknown_margin)
    unknown: str  # the word the model answers when the context does not say


@dataclass(frozen=True)
class Language:
    code: str  # ISO 639-1, as the store records it and --lang takes it
    name: str
    stopwords: frozenset[str]  # function words: no content, no answer starts or ends on one
    snowball: str  # the Snowball stemmer's name for this language
    lexical_stopwords: str  # bm25s's stopword list for this language
    # The Snowball stemmer of the lexical index, or None to index words as written: measured per language
    # on its design questions (docs/design.md#languages).
    lexical_stemmer: str | None
    articles: frozenset[str]  # function words an answer may start with ("the Normans")
    magnitudes: frozenset[str]  # words that scale the number before them ("million")
    # (kind, pattern on the normalised question padded with spaces), first match wins
    kind_patterns: tuple[tuple[str, re.Pattern], ...]
    prompt: Prompt
    messages: dict[str, str] = field(repr=False)  # every user-facing phrase, by key (see english.py)
    elisions: tuple[str, ...] = ()  # "l'", "d'": split off a word before it is looked up
    # Follow-up questions (rag/conversation.py): what opens one ("and", "what about"), the words that ask
    # ("when", "how long") and the pronouns that point back to an earlier question's subject ("it", "they").
    follow_up_openers: tuple[str, ...] = ()
    question_words: frozenset[str] = frozenset()
    referring: frozenset[str] = frozenset()
    # Sentence segmentation (rag/segment.py). Function words that make a line prose rather than code (a
    # programming language's keywords, "if", "in", "for", are left out); a line is judged with every
    # language's, as a document quotes others ("1 an ;" in French is an English article's look-alike too):
    prose_words: frozenset[str] = frozenset()
    # Words of sentencex's abbreviation lists that end sentences as whole words far more often ("in May."):
    whole_word_abbreviations: frozenset[str] = frozenset()
    # Abbreviations written before a name or number that sentencex's lists lack, never a sentence's end:
    titles: frozenset[str] = frozenset()

    # -- words ---------------------------------------------------------------------------
    @staticmethod
    def normalise(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        return re.sub(r"\s+", " ", text).strip()

    def words(self, text: str) -> list[str]:
        """Word tokens of the normalised text, elided articles split off ("l'employé", "l’employé" → "employé")."""
        text = self.normalise(text)
        if self.elisions:
            text = _elided(self.elisions).sub(" ", apostrophes(text))
        return _WORD.findall(text)

    def content_words(self, text: str) -> list[str]:
        return [w for w in self.words(text) if w not in self.stopwords]

    def terms(self, text: str) -> list[str]:
        """What the lexical index keeps of a text, in order: words of two letters or more less the lexical
        stopwords, stemmed where the language's lexical stemmer says (French "congés" finds "congé")."""
        drop = _lexical_stopwords(self.lexical_stopwords)
        words = [w for w in self.words(text) if len(w) > 1 and w not in drop]
        return _stemmer(self.lexical_stemmer).stemWords(words) if self.lexical_stemmer else words

    def stems(self, text: str) -> set[str]:
        """The content words' Snowball stems: "answers" and "answered", "incident" and "incidents" meet."""
        return set(_stemmer(self.snowball).stemWords(self.content_words(text)))

    # -- text ----------------------------------------------------------------------------
    def segments(self, text: str) -> list["Quote"]:
        """The text's sentences, code blocks and list items, with their offsets."""
        from rag.segment import segments

        return segments(text, self, _all_prose_words())

    # -- questions -----------------------------------------------------------------------
    def asked_kind(self, question: str) -> str | None:
        """"year", "amount", "time", "measure" or "reason" when the question's wording asks for one, else None
        (a feature of the span's calibrated check: whether the question says what kind of answer it wants)."""
        padded = f" {apostrophes(self.normalise(question))} "
        return next((kind for kind, pattern in self.kind_patterns if pattern.search(padded)), None)

    def say(self, key: str, **values) -> str:
        """A user-facing message in this language."""
        return self.messages[key].format(**values)


# Apostrophes a text may elide with: the typographic ’ (U+2019) and the modifier letter ʼ (U+02BC), which \w
# would even take for a letter ("lʼemployé" one word), are read as the ASCII ' the patterns are written with.
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'"})


def apostrophes(text: str) -> str:
    return text.translate(_APOSTROPHES)


@functools.lru_cache(maxsize=None)
def _elided(elisions: tuple[str, ...]) -> re.Pattern:
    """One pattern for all of a language's elisions, longest first ("jusqu'" before "qu'"), each at a word's
    start and before a letter: "l'" of "l'employé", not of "aujourd'hui"."""
    alternatives = "|".join(re.escape(e) for e in sorted(elisions, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?=\w)")


@functools.lru_cache(maxsize=None)
def _lexical_stopwords(name: str) -> frozenset[str]:
    from bm25s.tokenization import _infer_stopwords

    return frozenset(_infer_stopwords(name))


@functools.lru_cache(maxsize=None)
def _stemmer(name: str):
    import Stemmer

    return Stemmer.Stemmer(name)


LANGUAGES = {"en": "rag.language.english:ENGLISH", "fr": "rag.language.french:FRENCH"}
DEFAULT = "en"


@functools.lru_cache(maxsize=None)
def _all_prose_words() -> frozenset[str]:
    return frozenset().union(*(get(code).prose_words for code in LANGUAGES))


def get(code: str = DEFAULT) -> Language:
    """The language registered under `code`; a clear error naming the ones there are."""
    target = LANGUAGES.get((code or DEFAULT).lower())
    if target is None:
        raise UsageError(f"unknown language '{code}'; use one of: {', '.join(sorted(LANGUAGES))}")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def of(text: str, chosen: str | None = None) -> Language:
    """The language a question or document is in: `chosen` (`--lang`) when given, else detected."""
    if chosen and chosen != "auto":
        return get(chosen)
    from rag.language.detect import detect

    return get(detect(text))
