"""Cite: the system, not the model, picks each quote, and every quote is verbatim passage text."""
from __future__ import annotations

import re
from typing import Callable

from rag.acronyms import long_forms_in
from rag.language import Language
from rag.segment import Quote

_EDGE_PUNCTUATION = " ,.;:()[]\"'"
_LIST_MARKER = re.compile(r"\(?(\d{1,3}|[a-z])[.)]|[-*•]")  # "3.", "(b)", "-", a bullet
STANDALONE_WORDS = 6  # a shorter prose quote ("Yes.", a table cell) does not stand alone
_SENTENCE_END = re.compile(r"[.!?…][\"'»”)\]]*$")


def quote_for(answer: str, passage_text: str, language: Language, evidence: Quote | None = None) -> Quote | None:
    """The segment(s) of the passage that contain the answer verbatim (whitespace-insensitive).

    The answer is looked for in `evidence` (the sentence it was read from) before the rest of the
    passage: "£20" may appear in two sentences, and only the one the answer came from supports it.
    """
    found = _locate(answer, passage_text[evidence.start:evidence.end]) if evidence else None
    found = (evidence.start + found[0], evidence.start + found[1]) if found else _locate(answer, passage_text)
    if found is None:
        return None
    a, b = found
    parts = [q for q in language.segments(passage_text) if q.end > a and q.start < b]
    if not parts:
        return None
    return Quote(passage_text[parts[0].start:parts[-1].end], parts[0].start, parts[-1].end)


def standalone(quote: Quote, passage_text: str, language: Language) -> Quote:
    """The quote with what it needs to be understood: a code line or option with the sentence that
    introduces it, a sentence that leads into code ("... by running", "as follows:") with that code, a
    fragment of a few words with the sentence before it."""
    parts = language.segments(passage_text)
    before = [q for q in parts if q.end <= quote.start]
    after = [q for q in parts if q.start >= quote.end]
    start, end = quote.start, quote.end
    if quote.kind != "prose" or len(quote.text.split()) < STANDALONE_WORDS:
        if before and before[-1].kind == "prose":
            start = before[-1].start
    elif not _SENTENCE_END.search(quote.text.rstrip()) and after and after[0].kind != "prose":
        end = after[0].end
    return Quote(passage_text[start:end], start, end, quote.kind)


def _locate(answer: str, text: str) -> tuple[int, int] | None:
    """Where `answer` occurs in `text`, preferably as whole words ("Q" in "Q: How ...", not in "FAQ").
    PDF text breaks lines where the model's answer has spaces: any run of whitespace matches."""
    answer = answer.strip()
    if not answer:
        return None
    pattern = r"\s+".join(re.escape(part) for part in answer.split())
    whole = (r"(?<!\w)" if answer[0].isalnum() else "") + pattern + (r"(?!\w)" if answer[-1].isalnum() else "")
    match = re.search(whole, text) or re.search(pattern, text)
    return (match.start(), match.end()) if match else None


# A number grouped by spaces ("58 000", "1 607 heures" in French and SI style) is one word, never cut apart.
_WORD_OR_NUMBER = re.compile(r"(?<!\S)\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[,.]\d+)?(?!\d)\S*|\S+")


def answer_candidates(sentence: str, question: str, language: Language, max_words: int = 8) -> list[str]:
    """Word spans of the evidence sentence that could answer the question.

    An answer says something the question does not already say (at least one content word of
    its own) and does not begin or end on a function word ("of the", "was"), articles excepted
    at the start ("the Normans"). A list item's number is layout, not content ("3." of "3. Business
    class requires approval"). Nor does a span part a number from its magnitude: "4.2" of "4.2 million
    euros" is another amount, not a shorter answer.
    """
    # The long form of an acronym of the question ("Halvorsen Maritime Insurance" for "What does HMI
    # insure?") is the question's own subject, not an answer.
    asked = set(language.content_words(question)) | set(
        language.content_words(" ".join(long_forms_in(sentence, question))))
    words = [m.span() for m in _WORD_OR_NUMBER.finditer(sentence)]
    if words and _LIST_MARKER.fullmatch(sentence[words[0][0]:words[0][1]]):
        words = words[1:]
    tokens_at = [sentence[a:b] for a, b in words]
    found: dict[str, None] = {}
    for i in range(len(words)):
        if i and _magnitude_of(tokens_at[i - 1], tokens_at[i], language):
            continue
        for j in range(i, min(i + max_words, len(words))):
            if j + 1 < len(words) and _magnitude_of(tokens_at[j], tokens_at[j + 1], language):
                continue
            text = sentence[words[i][0]:words[j][1]].strip(_EDGE_PUNCTUATION)
            own = language.content_words(text)
            if not own or all(w in asked for w in own):
                continue
            tokens = language.words(text)
            if (tokens[0] in language.stopwords and tokens[0] not in language.articles) \
                    or tokens[-1] in language.stopwords:
                continue
            found.setdefault(text)
    return list(found)


def _magnitude_of(number: str, following: str, language: Language) -> bool:
    """Whether `following` scales `number` ("4.2" "million", "12" "%"): the two are one amount."""
    return bool(re.fullmatch(r"[^\w]*\d[\d,.]*", number)) and (
        following.lower().strip(_EDGE_PUNCTUATION) in language.magnitudes or following.startswith("%"))


def coverage(question: str, text: str, language: Language, read_as: dict[str, str] | None = None,
             weight: Callable[[str], float] | None = None) -> float:
    """Share of the question's content words present in `text` (each counted by `weight`, if given):
    unanswerable questions often ask about something the evidence never mentions. An acronym counts
    once, named by itself or by its long form (`read_as`). Words, not stems: matched as stems, on
    SQuAD dev false abstention rose from 0.094 to 0.123."""
    wanted = set(language.content_words(question))
    have = set(language.content_words(text))
    squashed = language.normalise(text)
    have |= {acronym.lower() for acronym, long_form in (read_as or {}).items()
             if language.normalise(long_form) in squashed}
    weight = weight or (lambda word: 1.0)
    total = sum(weight(w) for w in wanted)
    return sum(weight(w) for w in wanted & have) / total if total else 0.0
