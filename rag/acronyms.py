"""Acronyms of the question read as the documents spell them out ("CEO" → "Chief Executive Officer").

A handbook that names "the Chief Executive Officer, Magnus Dahl" never says "CEO", so neither the
embedder nor BM25 links the question to that sentence, and the mismatch gate rightly refuses a
question whose key word no passage mentions. The long forms come from the user's own documents
(in memory only, like the lexical index: they are document words), never from a built-in list.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable

_ACRONYM = re.compile(r"(?<![\w-])([A-Z]{2,6})(?:'s)?\b(?!-?\d)")  # not a code's letters ("HS-7", "AHU-3")
_ROMAN = re.compile(r"[IVXLCDM]+")  # "Henry II", "XX Valeria": numerals, not acronyms
# A run of capitalised words ("Chief Executive Officer"); its initials are a candidate acronym.
_CAPITALISED_RUN = re.compile(r"\b[A-Z][a-z]+(?:(?: ?\n ?| |-)[A-Z][a-z]+){1,5}\b")  # a PDF may wrap it
# "Halvorsen Maritime Insurance (HMI)": the document defines the acronym itself.
_DEFINITION = re.compile(r"\b((?:[A-Z][a-z]+(?: ?\n ?| |-)){1,5}[A-Z][a-z]+)\s\(([A-Z]{2,6})\)")


def _words(phrase: str) -> list[str]:
    return re.split(r"[\s-]+", phrase)


def _initials(phrase: str) -> str:
    return "".join(word[0] for word in _words(phrase)).upper()


DEFINED_WEIGHT = 10  # one explicit definition outweighs several runs that merely share the initials


@dataclass
class AcronymFeatures:
    """What one text says about acronyms: each used as itself (with its count), each run of capitalised words
    with its initials (every tail too: "The Chief Executive Officer" also holds "Chief Executive Officer"), and
    each acronym it defines itself with its long form."""
    used: Counter
    runs: list[tuple[str, str]]  # (initials, phrase)
    defined: list[tuple[str, str]]  # (acronym, long form)


def features(text: str) -> AcronymFeatures:
    runs = []
    for match in _CAPITALISED_RUN.finditer(text):
        words = _words(match.group())
        runs += [(_initials(phrase), phrase) for phrase in (" ".join(words[start:]) for start in range(len(words) - 1))]
    defined = []
    for long_form, acronym in _DEFINITION.findall(text):
        # The definition's own long form is its last len(acronym) words ("the policy of Halvorsen ...").
        tail = " ".join(_words(long_form)[-len(acronym):])
        if _initials(tail) == acronym:
            defined.append((acronym, tail))
    return AcronymFeatures(Counter(_ACRONYM.findall(text)), runs, defined)


class AcronymIndex:
    def __init__(self, texts: Iterable[str]):
        self._long_forms: dict[str, Counter] = defaultdict(Counter)
        self._used = Counter()  # how often each acronym appears as itself
        self._written = Counter()  # how often each long form appears
        for text in texts:
            found = features(text)
            self._used.update(found.used)
            for initials, phrase in found.runs:
                self._written[phrase] += 1
                self._long_forms[initials][phrase] += 1
            for acronym, long_form in found.defined:
                self._long_forms[acronym][long_form] += DEFINED_WEIGHT

    def long_form(self, acronym: str) -> str | None:
        """The documents' most frequent spelling-out of `acronym`, or None if none or a tie.

        Documents that write the acronym itself more often than its long form need no reading, and a
        reading would cost more than it brings: "How much does HMI contribute to the pension?" read as
        "HMI (Halvorsen Maritime Insurance)" retrieves every page that names the company instead of
        the page on pensions. Such documents may also mean something else by it ("IP" in a text on
        complexity classes, "Iberian Peninsula" once in another)."""
        ranked = self._long_forms.get(acronym, Counter()).most_common(2)
        if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
            return None
        phrase = ranked[0][0]
        return phrase if self._written[phrase] >= self._used[acronym] else None

    def read(self, question: str, plausible: Callable[[str], bool] = lambda long_form: True) -> dict[str, str]:
        """Each acronym of the question the documents spell out, with that long form (`plausible` may
        still turn a long form down)."""
        read_as: dict[str, str] = {}
        for acronym in dict.fromkeys(_ACRONYM.findall(question)):
            long_form = None if _ROMAN.fullmatch(acronym) else self.long_form(acronym)
            if long_form and long_form.lower() not in question.lower() and plausible(long_form):
                read_as[acronym] = long_form
        return read_as


def expand(question: str, read_as: dict[str, str]) -> str:
    """The question with each acronym followed by its long form: what retrieval and the model read.
    Both forms stay, since a passage may use either."""
    if not read_as:
        return question
    return _ACRONYM.sub(lambda m: f"{m.group()} ({read_as[m.group(1)]})" if m.group(1) in read_as else m.group(),
                        question, 0)


def long_forms_in(text: str, question: str) -> list[str]:
    """Runs of capitalised words in `text` that spell out an acronym of `question`."""
    acronyms = set(_ACRONYM.findall(question))
    if not acronyms:
        return []
    found = []
    for match in _CAPITALISED_RUN.finditer(text):
        words = _words(match.group())
        found += [" ".join(words[start:]) for start in range(len(words) - 1)
                  if _initials(" ".join(words[start:])) in acronyms]
    return found
