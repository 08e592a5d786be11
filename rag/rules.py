"""Every check that can refuse or reshape an answer, each a named rule in one registry.

A rule has a stable code (the JSON `reason` carries it), a one-line docstring, the languages it
applies to and a stage: `evidence` rules say which sentences may be cited, `gate` rules refuse an
answer outright, `shown` rules say whether the short answer is shown or the quote stands in for it,
`sentence` rules check each sentence of a written answer (rag/written.py). `AskPipeline(disabled={"code"})`
and `bench/evaluate.py --ablate CODE` switch one off to measure what it does; a rule that did not help on
held-out questions was removed (docs/design.md#rules).
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Callable, Iterable

from rag.errors import UsageError
from rag.language import Language

# Checks take an answer's `draft` (rag.answer.Draft) or a written sentence's `claim` (rag.written.Claim); both
# modules import this one, so those parameters go unannotated rather than make an import cycle.

ALL_LANGUAGES = ()


@dataclass(frozen=True)
class Rule:
    code: str
    stage: str  # "evidence", "gate", "shown" or "sentence"
    check: Callable
    languages: tuple[str, ...] = ALL_LANGUAGES  # empty: every language

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip().splitlines()[0]

    def applies_to(self, language: Language) -> bool:
        return not self.languages or language.code in self.languages


RULES: dict[str, Rule] = {}


def rule(code: str, stage: str, languages: tuple[str, ...] = ALL_LANGUAGES):
    def register(check: Callable) -> Callable:
        RULES[code] = Rule(code, stage, check, languages)
        return check
    return register


@dataclass(frozen=True)
class Reason:
    """Why an answer was refused: a rule's code and its message in the question's language."""

    code: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "text": self.text}


class Rules:
    """The registry's rules that apply to one language, minus those switched off."""

    def __init__(self, language: Language, disabled: Iterable[str] = ()):
        disabled = set(disabled)
        unknown = disabled - set(RULES)
        if unknown:
            raise UsageError(f"unknown rule {', '.join(sorted(unknown))}; rules are: {', '.join(RULES)}")
        self.language = language
        self.active = [r for r in RULES.values() if r.code not in disabled and r.applies_to(language)]

    def _of(self, stage: str) -> list[Rule]:
        return [r for r in self.active if r.stage == stage]

    def may_cite(self, question: str, sentence: str) -> bool:
        return all(r.check(question, sentence, self.language) for r in self._of("evidence"))

    def refusal(self, draft, skip: Iterable[str] = ()) -> Reason | None:
        """The first gate the draft fails (but those in `skip`), with its message; None if it passes them all."""
        for r in self._of("gate"):
            if r.code in skip:
                continue
            values = r.check(draft, self.language)
            if values is not None:
                return Reason(r.code, self.language.say(r.code, **values))
        return None

    def shows_span(self, draft) -> bool:
        return all(r.check(draft, self.language) for r in self._of("shown"))

    def unsupported(self, claim) -> Reason | None:
        """The first `sentence` rule a written sentence fails, with its message; None if it passes them all."""
        for r in self._of("sentence"):
            values = r.check(claim, self.language)
            if values is not None:
                return Reason(r.code, self.language.say(r.code, **values))
        return None

    def reason(self, code: str, **values) -> Reason:
        return Reason(code, self.language.say(code, **values))


def _squash(text: str) -> str:
    return " ".join(text.split())


# -- evidence: which sentences may be cited ------------------------------------------------------
_SECTION_NUMBER = re.compile(r"(\d+\.)+\d*\s+[A-Z]")
_HEADING_CAP = 80


def is_heading(text: str, language: Language) -> bool:
    """A Markdown heading, a numbered section title ("6.1 Code of Conduct") or a line in capitals
    ("COMPLAINTS"). Other short capitalised lines stay evidence: a contact table's row ("Compliance
    Officer Mats Engebretsen") looks the same as a title."""
    text = text.strip()
    if text.startswith("#"):
        return True
    if not text or "\n" in text or len(text) > _HEADING_CAP or text[-1] in ".!?:;,)\"'":
        return False
    words = [w for w in re.findall(r"\w+", text) if w.lower() not in language.stopwords]
    titled = bool(words) and all(w[0].isupper() or w[0].isdigit() for w in words)
    return titled and (bool(_SECTION_NUMBER.match(text)) or text.upper() == text)


@rule("states-something", "evidence")
def states_something(question: str, sentence: str, language: Language) -> bool:
    """A heading, a question (an FAQ's "Q: ...?") or a sentence with no word beyond the question's is no evidence."""
    return bool(language.stems(sentence) - language.stems(question)) and not is_heading(sentence, language) \
        and not sentence.rstrip().endswith("?")


# -- gates: evidence that cannot answer the question ---------------------------------------------
@rule("not-quoted", "gate")
def not_quoted(draft, language: Language) -> dict | None:
    """The answer must be quoted verbatim from a sentence of the passages found."""
    if draft.passage and draft.quote and draft.span and _squash(draft.span) in _squash(draft.quote):
        return None
    return {}


@rule("unmentioned", "gate")
def unmentioned(draft, language: Language) -> dict | None:
    """A number, code or proper name of the question that no passage found mentions (misspellings forgiven)."""
    text = " ".join(p.text for p in draft.passages)
    found = set(re.findall(r"[\w'-]+", language.normalise(text)))
    squashed = language.normalise(text)
    missing = [w for w in _specifics(draft.question, language) if not _mentioned(w, found)
               and not (w in draft.read_as and language.normalise(draft.read_as[w]) in squashed)]
    return {"words": ", ".join(repr(w) for w in missing)} if missing else None


@rule("low-confidence", "gate")
def low_confidence(draft, language: Language) -> dict | None:
    """The calibrated probability that the evidence answers the question is under the threshold."""
    if draft.confidence >= draft.threshold:
        return None
    return {"confidence": draft.confidence, "threshold": draft.threshold}


# -- shown: the short answer, or the quote in its place ------------------------------------------
@rule("span-sure", "shown")
def span_sure(draft, language: Language) -> bool:
    """The short answer is shown only when its calibrated probability of being right reaches the fitted threshold."""
    return draft.span_confidence >= draft.span_threshold


# -- helpers of the rules above ------------------------------------------------------------------
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_IDENTIFIER = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]+")  # "7C", "B2", "HR-17": a letter and a digit


def _specifics(question: str, language: Language) -> list[str]:
    """Numbers, codes and proper names of the question ("1974", "Ward 7C", "Hamburg")."""
    words = [re.sub(r"'s?$", "", w) for w in re.findall(r"[\w'-]+", question)]
    return [w for i, w in enumerate(words)
            if _NUMBER.fullmatch(w) or _IDENTIFIER.fullmatch(w)
            or (i > 0 and w[:1].isupper() and w.lower() not in language.stopwords)]


def _mentioned(word: str, words: set[str]) -> bool:
    """`word` or a misspelling of it ("Hatmanis" for "Hartmanis"). A word with a digit is never
    misspelt: "FL-14" is another forklift than "FL-12"."""
    word = Language.normalise(word)
    if word in words:
        return True
    if any(c.isdigit() for c in word):
        return False
    return any(abs(len(w) - len(word)) <= 2 and difflib.SequenceMatcher(None, word, w).ratio() >= 0.8
               for w in words if w[:1] == word[:1])


# -- sentence: each sentence of a written answer (rag/written.py) --------------------------------------------------
@rule("cites-given", "sentence")
def cites_given(claim, language: Language) -> dict | None:
    """A written sentence cites at least one of the passages the model was given."""
    return None if claim.cited else {}


@rule("facts-in-passages", "sentence")
def facts_in_passages(claim, language: Language) -> dict | None:
    """Every number, date, time, code, e-mail address, URL and proper name of a written sentence is in a cited passage."""
    missing = claim.missing_facts(language)
    return {"facts": ", ".join(missing)} if missing else None


# Under this support no sentence of the cited passages says what the written sentence says: on invented cases the
# best sentence of the right passage scored 0.742 or more, of a wrong passage (the section next to it) 0.697 or less.
SUPPORT_THRESHOLD = 0.72


@rule("quote-found", "sentence")
def quote_found(claim, language: Language) -> dict | None:
    """A sentence of a cited passage supports the written sentence well enough to be quoted for it."""
    found = claim.quote(language)
    return None if found and found[2] >= SUPPORT_THRESHOLD else {}
