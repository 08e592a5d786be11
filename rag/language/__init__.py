"""Everything that depends on the language of a text or a question, behind one interface.

The answer stage (evidence choice, rules, prompt, messages) and the lexical index ask a `Language`
for words, stems, sentences, question kinds and phrases; none of them holds a word list of its own.
A language is an implementation of this interface registered in `LANGUAGES` (English today).
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
    articles: frozenset[str]  # function words an answer may start with ("the Normans")
    negations: frozenset[str]  # words that turn a question around
    opposites: tuple[tuple[str, str], ...]  # words that name the other end of a scale
    negating_prefixes: tuple[str, ...]  # "un"paid, "non"-resident
    amount_words: frozenset[str]  # number words: an amount without digits
    time_words: frozenset[str]  # names of times and periods
    frequencies: frozenset[str]  # "once", "twice"
    magnitudes: frozenset[str]  # words that scale the number before them ("million")
    calendar: tuple[frozenset[str], ...]  # month names, day names: a code-like family of names
    # (kind, pattern on the normalised question padded with spaces), first match wins
    kind_patterns: tuple[tuple[str, re.Pattern], ...]
    counted_pattern: re.Pattern  # what a "how many" question counts: its first group
    prompt: Prompt
    messages: dict[str, str] = field(repr=False)  # every user-facing phrase, by key (see english.py)
    elisions: tuple[str, ...] = ()  # "l'", "d'": split off a word before it is looked up

    # -- words ---------------------------------------------------------------------------
    @staticmethod
    def normalise(text: str) -> str:
        text = unicodedata.normalize("NFKC", text).lower()
        return re.sub(r"\s+", " ", text).strip()

    def words(self, text: str) -> list[str]:
        """Word tokens of the normalised text, elided articles split off ("l'employé" → "employé")."""
        text = self.normalise(text)
        for elision in self.elisions:
            text = re.sub(rf"\b{re.escape(elision)}(?=\w)", " ", text.replace("’", "'"))
        return _WORD.findall(text)

    def content_words(self, text: str) -> list[str]:
        return [w for w in self.words(text) if w not in self.stopwords]

    def stems(self, text: str) -> set[str]:
        """The content words' Snowball stems: "answers" and "answered", "incident" and "incidents" meet."""
        return set(_stemmer(self.snowball).stemWords(self.content_words(text)))

    # -- text ----------------------------------------------------------------------------
    def segments(self, text: str) -> list["Quote"]:
        """The text's sentences, code blocks and list items, with their offsets."""
        from rag.segment import segments

        return segments(text, self.code)

    # -- questions -----------------------------------------------------------------------
    def asked_kind(self, question: str) -> str | None:
        """"year", "amount", "time", "measure" or "reason" when the question's wording asks for one, else None."""
        padded = f" {self.normalise(question)} "
        return next((kind for kind, pattern in self.kind_patterns if pattern.search(padded)), None)

    def counted(self, question: str) -> list[str]:
        """What a "how many" question counts: its first words after the question words, up to a function
        word ("days" of "How many days of leave ...")."""
        match = self.counted_pattern.search(self.normalise(question))
        words = []
        for word in (match.group(1).split() if match else [])[:2]:
            if word in self.stopwords:
                break
            words.append(word)
        return words

    def say(self, key: str, **values) -> str:
        """A user-facing message in this language."""
        return self.messages[key].format(**values)


@functools.lru_cache(maxsize=None)
def _stemmer(name: str):
    import Stemmer

    return Stemmer.Stemmer(name)


LANGUAGES = {"en": "rag.language.english:ENGLISH"}
DEFAULT = "en"


def get(code: str = DEFAULT) -> Language:
    """The language registered under `code`; a clear error naming the ones there are."""
    target = LANGUAGES.get((code or DEFAULT).lower())
    if target is None:
        raise UsageError(f"unknown language '{code}'; use one of: {', '.join(sorted(LANGUAGES))}")
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
