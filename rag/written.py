"""Written answers: a chat model writes a short answer from numbered passages, the system checks every sentence.

The model is shown the top passages, numbered, and asked to end each sentence with the markers of the passages it
comes from (`[1]`, `[1][2]`, `[1, 2]`). Each sentence is then held to the `sentence` rules of `rag.rules`:
it cites a passage it was given (`cites-given`), every fact in it (number, amount, date, time, code or identifier,
e-mail address, URL, proper name) occurs in the passages it cites (`facts-in-passages`), and a verbatim sentence of
a cited passage supports it (`quote-found`). A sentence that fails is dropped, never shown; when none is left the
pipeline answers in extractive mode instead (rag/answer.py).

Facts are compared normalised, whichever decimal convention a text uses: `0,42` is `0.42`, `58 000` (normal,
no-break or narrow no-break spaces) and `58,000` are one number, `14 h 30`, `14h30`, `2:30 pm` and `14:30` one time,
`1er mars` is `1 mars`, and a month or weekday is its number, so `1 March` matches `1er mars` across languages.

The supporting quote is the passage sentence with the highest IDF-weighted share of the written sentence's stems
plus half the embedder's cosine; chosen over simpler measures on hand-written paraphrases of the workplace documents
by `bench/written_bench.py --quotes` (figures at `SUPPORT_COSINE_WEIGHT`).
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Sequence

from rag import language as languages
from rag.language import Language, apostrophes
from rag.rules import SUPPORT_THRESHOLD
from rag.segment import Quote

if TYPE_CHECKING:
    from rag.retrieve import Passage

MODES = ("auto", "extractive", "written")
WRITTEN_TOKENS = 200  # a short answer: three or four sentences
# Support of a quote: IDF-weighted stem recall + this much of the embedder's cosine. Measured by
# `bench/written_bench.py --quotes` on 44 hand-written paraphrases (22 English, 22 French) of the workplace documents:
# the gold sentence is the best of its passage for 43/44 with stem recall, 43/44 IDF-weighted, 41/44 cosine alone,
# 44/44 with IDF recall + 0.5 cosine (and + 0.25 or + 1.0 cosine).
SUPPORT_COSINE_WEIGHT = 0.5

# -- the model's text: sentences and their markers ---------------------------------------------------------------
_MARKERS = re.compile(r"\s*\[(\s*\d{1,3}(?:\s*[,;]\s*\d{1,3})*\s*)\]")
_LEAD = re.compile(r"^\s*(?:[-*•]\s+|\d{1,2}[.)]\s+)")  # a list item's bullet or number is layout


@dataclass
class Sentence:
    """A written sentence as the model wrote it (markers taken out) and the passages it cites."""

    text: str
    citations: list[int]
    quote: str = ""  # the verbatim passage sentence(s) that support it best, once verified
    quoted: int | None = None  # the passage number that quote comes from
    quotes: dict[int, str] = field(default_factory=dict, repr=False)  # each cited passage's best support

    def shown(self) -> str:
        """The sentence with its markers, as the answer shows it."""
        return f"{self.text} {markers(self.citations)}".strip()

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "quote": self.quote}


@dataclass
class Dropped:
    """A written sentence that failed a rule: never part of the answer, listed with the rule's code."""

    text: str
    citations: list[int]
    code: str
    reason: str

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": self.citations, "code": self.code, "reason": self.reason}


def markers(citations: Iterable[int]) -> str:
    return "".join(f"[{n}]" for n in citations)


def parse(text: str, language: Language) -> list[Sentence]:
    """The model's text as sentences, each with the passage numbers it cites. A marker the segmenter left at the
    start of the next sentence ("... leave. [1] Part-time ...") belongs to the sentence before it, unless the model
    puts its markers first ("[1] Employees get ... [2] Part-time ..."): then a sentence's markers are the ones it
    starts with."""
    sentences: list[Sentence] = []
    if re.match(r"\s*\[\s*\d", text):  # markers first: each group of markers opens what it cites
        parts = re.split(r"(?:^|(?<=[.!?…\n]))\s*((?:\[\s*\d[\d\s,;]*\]\s*)+)", text.strip())
        for opening, body in zip(parts[1::2], parts[2::2]):
            for sentence in _sentences(body, language):
                sentence.citations = list(dict.fromkeys(_numbers(opening) + sentence.citations))
                sentences.append(sentence)
        return sentences
    for segment in language.segments(text.strip()):
        raw = segment.text
        leading = re.match(r"(?:\s*\[[\d\s,;]+\])+", raw)
        if leading and sentences:
            sentences[-1].citations += [n for n in _numbers(leading.group()) if n not in sentences[-1].citations]
            raw = raw[leading.end():]
        sentences += _sentences(raw, language, segmented=True)
    return sentences


def _sentences(text: str, language: Language, segmented: bool = False) -> list[Sentence]:
    """The sentences of a text, each with the markers in it (taken out of its words)."""
    out = []
    for raw in [text] if segmented else [q.text for q in language.segments(text.strip())]:
        citations = list(dict.fromkeys(_numbers(" ".join(m.group() for m in _MARKERS.finditer(raw)))))
        words = _MARKERS.sub("", raw)
        words = _LEAD.sub("", " ".join(words.split()))
        words = re.sub(r"\s+([.,;:!?…])", r"\1", words).strip()
        if re.search(r"\w", words):
            out.append(Sentence(words, citations))
    return out


def _numbers(markers_text: str) -> list[int]:
    return [int(n) for group in re.findall(r"\[([\d\s,;]+)\]", markers_text) for n in re.findall(r"\d+", group)]


# -- facts -----------------------------------------------------------------------------------------------------------
_SPACES = "[ \u00a0\u202f\u2009'’]"  # thousands separators: space, no-break, narrow no-break, thin, apostrophe
_NUMBER = re.compile(rf"(?<![\w.,])\d+(?:{_SPACES}\d{{3}}(?!\d))*(?:[.,]\d+)*(?:(?:er|re|ère|e|ème|eme|st|nd|rd|th)\b)?")
_ORDINAL = re.compile(r"(?:er|re|ère|e|ème|eme|st|nd|rd|th)$")
_TIME = re.compile(r"(?<![\w.,:])(?P<h>\d{1,2})\s?(?::|\s?[hH]\s?)(?P<m>\d{2})(?!\d)(?:\s?(?P<half>[ap])\.?\s?m\b\.?)?"
                   r"|(?<![\w.,:])(?P<h2>\d{1,2})\s?(?P<half2>[ap])\.?\s?m\b\.?"
                   r"|(?<![\w.,:])(?P<h3>\d{1,2})\s?h\b(?![\d'])", re.IGNORECASE)
_NUMERIC_DATE = re.compile(r"(?<![\w/.])(\d{1,2})[/.](\d{1,2})[/.](\d{2,4})(?![\w/])")
_URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'()\[\]]+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_TOKEN = re.compile(r"[^\W_](?:[\w'’./-]*[^\W_])?")
_IDENTIFIER = re.compile(r"(?=.*\d)(?=.*[^\W\d_])[\w./-]+|[A-Z]{2,}(?:[-./][A-Z0-9]+)*")
_UNIT = re.compile(r"\d+(?:[.,]\d+)?[a-zµ%°]{1,3}")  # "12km", "5go", "20kg": a number and its unit


@dataclass(frozen=True)
class Fact:
    """Something a sentence states that the cited passages must hold: its words and the keys it may match."""

    written: str
    keys: frozenset[tuple[str, str]]


def number_values(written: str) -> set[str]:
    """Every value a written number may mean: `58,000` is 58000 or 58 (a decimal comma), `0,42` is 0.42, `1er` 1."""
    text = _ORDINAL.sub("", written)
    text = re.sub(_SPACES, "", text)
    values = set()
    separators = re.findall(r"[.,]", text)
    if not separators:
        return {_canonical(text)}
    for decimal, thousands in ((".", ","), (",", ".")):
        head, _, tail = text.rpartition(decimal) if decimal in text else (text, "", "")
        if decimal in text and thousands in tail:
            continue
        groups = head.split(thousands) if head else [tail]
        if head and (not groups[0] or any(len(g) != 3 for g in groups[1:]) or decimal in head):
            continue
        if not head:  # no decimal separator: every separator is a thousands one
            groups = text.split(thousands)
            if decimal in text or any(len(g) != 3 for g in groups[1:]):
                continue
            values.add(_canonical("".join(groups)))
            continue
        values.add(_canonical("".join(groups) + "." + tail))
    return values or {_canonical(re.sub(r"[.,]", "", text))}


def _canonical(number: str) -> str:
    try:
        value = Decimal(number)
    except InvalidOperation:
        return number
    return format(value.normalize(), "f") if value else "0"


def _calendar(language: Language, key: str) -> list[str]:
    """The language's month or weekday names in order (its `written.months`/`written.days` messages)."""
    try:
        return languages.Language.normalise(language.say(key)).split()
    except KeyError:
        return []


def _calendar_words(text: str, language: Language) -> list[tuple[str, str, str]]:
    """(word, "m"/"d", number) for each month and weekday name in the text."""
    months, days = _calendar(language, "written.months"), _calendar(language, "written.days")
    found = []
    capitalised = getattr(language, "capitalised_calendar", False)
    for match in re.finditer(r"[^\W\d_]+", text):
        word = match.group()
        lower = Language.normalise(word)
        if capitalised and not word[:1].isupper():
            continue  # "may" the verb is not May
        for kind, names in (("m", months), ("d", days)):
            if lower in names:
                found.append((word, kind, str(names.index(lower) + 1)))
    return found


def _times(text: str) -> list[tuple[str, set[tuple[str, str]], tuple[int, int]]]:
    """Each time of day in the text: its words, its keys ("t", "14:30"), where it is."""
    out = []
    for m in _TIME.finditer(text):
        hour = int(m["h"] or m["h2"] or m["h3"])
        minute = int(m["m"] or 0)
        if hour > 24 or minute > 59:
            continue
        keys: set[tuple[str, str]] = set()
        half = m["half"] or m["half2"]
        if half:
            hour = hour % 12 + (12 if half.lower() == "p" else 0)
            keys.add(("t", f"{hour}:{minute:02d}"))
        else:
            keys.add(("t", f"{hour}:{minute:02d}"))
            if hour < 12 and not m["h3"]:
                keys.add(("t", f"{hour + 12}:{minute:02d}"))  # "2:30" may be 2:30 pm
        if m["h3"]:
            keys.add(("n", str(hour)))  # "9 h" is also nine hours
        out.append((m.group(), keys, m.span()))
    return out


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        chars[a:b] = " " * (b - a)
    return "".join(chars)


def facts(sentence: str, language: Language) -> list[Fact]:
    """The facts of a written sentence: URLs, e-mail addresses, times, numbers (and dates' numbers), codes and
    identifiers, months and weekdays, proper names. Each is looked for in the cited passages by `Holdings`."""
    found: list[Fact] = []
    text = sentence
    for pattern, kind in ((_URL, "u"), (_EMAIL, "e")):
        spans = []
        for m in pattern.finditer(text):
            written = m.group().rstrip(".,;:!?")
            found.append(Fact(written, frozenset({(kind, _address(written))})))
            spans.append(m.span())
        text = _blank(text, spans)
    times = _times(text)
    found += [Fact(written, frozenset(keys)) for written, keys, _ in times]
    text = _blank(text, [span for *_, span in times])
    for m in _NUMERIC_DATE.finditer(text):
        found.append(Fact(m.group(), frozenset({("n", _canonical(m[1])), ("n", _canonical(m[2]))})))
        found.append(Fact(m.group(), frozenset({("n", _canonical(m[3]))})))
    text = _blank(text, [m.span() for m in _NUMERIC_DATE.finditer(text)])
    calendar = {word for word, *_ in _calendar_words(text, language)}
    found += [Fact(word, frozenset({(kind, number)})) for word, kind, number in _calendar_words(text, language)]
    # Codes and identifiers ("HR-17", "B2", "CP-07"); a number with its unit ("12km") or an ordinal ("1er") is a number.
    spans = []
    for m in _TOKEN.finditer(apostrophes(text)):
        word = _bare(m.group(), language)
        if any(c.isdigit() for c in word) and _IDENTIFIER.fullmatch(word) and not (
                _NUMBER.fullmatch(word) or _UNIT.fullmatch(word)):
            found.append(Fact(word, frozenset({("w", Language.normalise(word))})))
            spans.append(m.span())
    text = _blank(text, spans)
    for m in _NUMBER.finditer(text):
        found.append(Fact(m.group(), frozenset(("n", v) for v in number_values(m.group()))))
    text = _blank(text, [m.span() for m in _NUMBER.finditer(text)])
    tokens = list(_TOKEN.finditer(apostrophes(text)))
    for i, m in enumerate(tokens):
        word = _bare(m.group(), language)
        if not word or not word[:1].isalpha():
            continue
        if _IDENTIFIER.fullmatch(word) and word.upper() == word and len(word) > 1:  # "CISO", "RTT", "MC-YYYY"
            found.append(Fact(word, frozenset({("w", Language.normalise(word))})))
        elif word[:1].isupper() and word not in calendar and Language.normalise(word) not in language.stopwords:
            first = i == 0 or _starts_clause(text, tokens[i - 1].end(), m.start())
            following = _bare(tokens[i + 1].group(), language) if i + 1 < len(tokens) else ""
            if not first or (following[:1].isupper() and Language.normalise(following) not in language.stopwords):
                found.append(Fact(word, frozenset({("w", Language.normalise(word))})))
    return found


def _starts_clause(text: str, previous_end: int, start: int) -> bool:
    """A word after a colon, a bullet or an opening quote is capitalised as a sentence's first word is."""
    return bool(re.search(r"[:.!?«“\"(]\s*$", text[previous_end:start]))


def _bare(word: str, language: Language) -> str:
    """The word without an elided article before it ("l'Agence") nor an English possessive ("HMI's")."""
    word = re.sub(r"'s$", "", word)
    for elision in sorted(language.elisions, key=len, reverse=True):
        if word.lower().startswith(elision) and len(word) > len(elision):
            return word[len(elision):]
    return word.strip("'./-")


def _address(text: str) -> str:
    return re.sub(r"^(?:https?|ftp)://", "", text.lower()).rstrip("/.")


class Holdings:
    """Everything a set of passages holds that a fact may match, normalised the way `facts` normalises."""

    def __init__(self, texts: Iterable[tuple[str, Language]]):
        self.keys: set[tuple[str, str]] = set()
        for text, language in texts:
            self._add(text, language)

    def _add(self, text: str, language: Language) -> None:
        keys = self.keys
        for pattern, kind in ((_URL, "u"), (_EMAIL, "e")):
            keys |= {(kind, _address(m.group().rstrip(".,;:!?"))) for m in pattern.finditer(text)}
        times = _times(text)
        for _, found, _ in times:
            keys |= found
        rest = _blank(text, [span for *_, span in times])
        for m in _NUMERIC_DATE.finditer(rest):
            keys |= {("n", _canonical(m[1])), ("n", _canonical(m[2])), ("n", _canonical(m[3])),
                     ("m", str(int(m[2]))), ("m", str(int(m[1])))}
        keys |= {(kind, number) for _, kind, number in _calendar_words(rest, language)}
        for m in _NUMBER.finditer(rest):
            keys |= {("n", v) for v in number_values(m.group())}
        for m in _TOKEN.finditer(rest):  # "HR-17", "12km", "1er": a number inside a code, a unit, an ordinal
            if re.search(r"[^\W\d_]", m.group()):
                keys |= {("n", _canonical(d)) for d in re.findall(r"\d+", m.group())}
        for m in _TOKEN.finditer(apostrophes(Language.normalise(text))):
            word = m.group()
            keys.add(("w", word))
            bare = _bare(word, language)
            keys.add(("w", bare.lower()))
            keys |= {("w", part) for part in re.split(r"[-./']", word) if part}

    def holds(self, fact: Fact) -> bool:
        return bool(fact.keys & self.keys)


# -- quotes ----------------------------------------------------------------------------------------------------------
@dataclass
class Support:
    """How a written sentence is supported: the measure of `support` and the inputs it needs."""

    rarity: Callable[[str], float] = lambda stem: 1.0  # a stem's IDF; 1.0 for all: plain stem recall
    cosine: Callable[[str, Sequence[str]], Sequence[float]] | None = None  # the sentence's cosine to each quote
    cosine_weight: float = SUPPORT_COSINE_WEIGHT


def stem_recall(sentence: str, quote: str, language: Language, quote_language: Language | None = None,
                rarity: Callable[[str], float] = lambda word: 1.0) -> float:
    """Share of the sentence's content words whose stems the quote holds, each word counted by its rarity."""
    have = (quote_language or language).stems(quote)
    wanted: dict[str, float] = {}
    for word in language.content_words(sentence):
        for stem in language.stems(word):
            wanted[stem] = max(wanted.get(stem, 0.0), rarity(word))
    total = sum(wanted.values())
    return sum(w for stem, w in wanted.items() if stem in have) / total if total else 0.0


def fact_recall(sentence: str, quote: str, language: Language, quote_language: Language) -> float:
    """Share of the sentence's facts the quote holds (0 for a sentence without facts): support across languages."""
    wanted = facts(sentence, language)
    holdings = Holdings([(quote, quote_language)])
    return sum(holdings.holds(f) for f in wanted) / len(wanted) if wanted else 0.0


def best_quote(sentence: str, passages: dict[int, "Passage"], cited: Sequence[int], language: Language,
               support: Support) -> tuple[int, Quote, float] | None:
    """The cited passages' sentence that best supports `sentence`: (passage number, quote, support)."""
    candidates = []
    for n in cited:
        if n not in passages:
            continue
        passage = passages[n]
        written_in = languages.get(passage.language)
        for quote in written_in.segments(passage.text):
            if re.search(r"\w", quote.text) and not quote.text.lstrip().startswith("#"):
                candidates.append((n, quote, written_in))
    if not candidates:
        return None
    # Across languages ("What is the allowance?" on French documents) stems cannot meet: a sentence's facts can.
    scores = [stem_recall(sentence, q.text, language, lang, support.rarity) if lang.code == language.code
              else fact_recall(sentence, q.text, language, lang) for _, q, lang in candidates]
    if support.cosine is not None:
        similarity = support.cosine(sentence, [q.text for _, q, _ in candidates])
        scores = [s + support.cosine_weight * float(c) for s, c in zip(scores, similarity)]
    best = max(range(len(candidates)), key=scores.__getitem__)
    n, quote, written_in = candidates[best]
    return n, _with_neighbour(sentence, quote, passages[n].text, language, written_in), scores[best]


def _with_neighbour(sentence: str, quote: Quote, text: str, language: Language, written_in: Language) -> Quote:
    """The quote, with the sentence after or before it when that one holds facts of `sentence` it lacks
    ("Claims above 250,000 euros ... two senior adjusters." split over two passage sentences)."""
    wanted = facts(sentence, language)
    missing = [f for f in wanted if not Holdings([(quote.text, written_in)]).holds(f)]
    if not missing:
        return quote
    parts = written_in.segments(text)
    at = next((i for i, p in enumerate(parts) if p.start == quote.start), None)
    if at is None:
        return quote
    for j in (at + 1, at - 1):
        if 0 <= j < len(parts):
            joined = Quote(text[min(quote.start, parts[j].start):max(quote.end, parts[j].end)],
                           min(quote.start, parts[j].start), max(quote.end, parts[j].end), quote.kind)
            if sum(Holdings([(joined.text, written_in)]).holds(f) for f in missing) > 0:
                return joined
    return quote


# -- checking one sentence -------------------------------------------------------------------------------------------
@dataclass
class Claim:
    """One written sentence with what the `sentence` rules read: the numbered passages the model was given."""

    sentence: Sentence
    passages: dict[int, "Passage"]
    support: Support = field(default_factory=Support)
    _found: dict[int, tuple[int, Quote, float]] | None = None

    @property
    def text(self) -> str:
        return self.sentence.text

    @property
    def cited(self) -> list[int]:
        """The sentence's markers that name a passage it was given."""
        return [n for n in self.sentence.citations if n in self.passages]

    def missing_facts(self, language: Language) -> list[str]:
        holdings = Holdings((self.passages[n].text, languages.get(self.passages[n].language)) for n in self.cited)
        return list(dict.fromkeys(f.written for f in facts(self.text, language) if not holdings.holds(f)))

    def quotes(self, language: Language) -> dict[int, tuple[int, Quote, float]]:
        """Each cited passage's sentence that best supports this one."""
        if self._found is None:
            found = {n: best_quote(self.text, self.passages, [n], language, self.support) for n in self.cited}
            self._found = {n: q for n, q in found.items() if q}
        return self._found

    def quote(self, language: Language) -> tuple[int, Quote, float] | None:
        """The best supporting sentence of all the cited passages: (passage number, quote, support)."""
        return max(self.quotes(language).values(), key=lambda q: q[2], default=None)


def verify(sentence: Sentence, passages: dict[int, "Passage"], rules, support: Support) -> Sentence | Dropped:
    """The sentence with its quote when it passes every `sentence` rule, else what it failed."""
    claim = Claim(sentence, passages, support)
    reason = rules.unsupported(claim)
    if reason:
        return Dropped(sentence.text, sentence.citations, reason.code, reason.text)
    n, quote, _ = claim.quote(rules.language)
    # A marker stays when its passage supports the sentence too: "[1][2]" where only [1] does becomes "[1]".
    supporting = {m: q for m, q in claim.quotes(rules.language).items() if m == n or q[2] >= SUPPORT_THRESHOLD}
    return Sentence(sentence.text, [m for m in claim.cited if m in supporting], quote.text, n,
                    {m: q[1].text for m, q in supporting.items()})


# -- the prompt ------------------------------------------------------------------------------------------------------
def prompt(question: str, passages: Sequence["Passage"], language: Language) -> tuple[str, str]:
    """(system, user) messages: the instruction in the question's language, the numbered passages, the question."""
    say = language.say
    context = "\n\n".join(f"[{n}] {' '.join(p.text.split())}" for n, p in enumerate(passages, start=1))
    return say("written.instruction"), f"{say('written.passages')}:\n{context}\n\n{say('question')}: {question}"


def writes(generator) -> bool:
    """`auto` mode writes with a chat/instruct model or an OpenAI-compatible server, never with a base model."""
    return bool(getattr(generator, "chat", False) or getattr(generator, "remote", False))


def resolve(mode: str | None, generator) -> str:
    from rag.errors import UsageError

    mode = (mode or "auto").lower()
    if mode not in MODES:
        raise UsageError(f"unknown answer mode '{mode}'; use one of: {', '.join(MODES)}")
    if mode == "auto":
        return "written" if writes(generator) else "extractive"
    return mode


# -- streaming the model's text sentence by sentence -----------------------------------------------------------------
@dataclass
class Event:
    """What a written answer's stream says: `text` (a piece the model wrote), `kept`/`dropped` (a sentence once
    verified), `answer` (the final Answer)."""

    kind: str
    data: object

    def to_dict(self) -> dict:
        data = self.data.to_dict() if hasattr(self.data, "to_dict") else self.data
        return {"event": self.kind, "data": data}


def sentences_as_written(pieces: Iterable[str], language: Language,
                         clock: Callable[[], float] = time.perf_counter) -> Iterator[tuple[str, object]]:
    """("text", piece) for every piece the model writes and ("sentence", Sentence) for each sentence once the next
    one has begun (its markers cannot grow any more) or the text has ended; ("first", seconds) at the first piece."""
    text, done = "", 0
    started = clock()
    for piece in pieces:
        if not text and piece:
            yield "first", clock() - started
        text += piece
        yield "text", piece
        parsed = parse(text, language)
        # The last sentence may still grow; the others are finished once a later one has words.
        for sentence in parsed[done:len(parsed) - 1]:
            yield "sentence", sentence
        done = max(done, len(parsed) - 1)
    for sentence in parse(text, language)[done:]:
        yield "sentence", sentence


def is_unknown(text: str, language: Language) -> bool:
    """The model's "the passages do not say" reply: no claim to check, nothing dropped."""
    return Language.normalise(re.sub(r"[^\w\s]", " ", text)) == language.prompt.unknown


def cosine_with(embedder) -> Callable[[str, Sequence[str]], Sequence[float]]:
    """The embedder's cosine between a written sentence and candidate quotes (its vectors are normalised)."""
    def cosine(sentence: str, quotes: Sequence[str]):
        vectors = embedder.encode([sentence, *quotes])
        return [float(v) for v in vectors[1:] @ vectors[0]]
    return cosine


def idf(retriever, language: Language) -> Callable[[str], float]:
    """A word's rarity in the store, from the retriever's lexical index (1.0 when it has none)."""
    cache: dict[str, float] = {}

    def rarity(word: str) -> float:
        if word not in cache:
            cache[word] = max(0.1, retriever.rarity(word, language)) if retriever is not None else 1.0
        return cache[word]
    return rarity


def log_idf(documents: Sequence[str], language: Language) -> Callable[[str], float]:
    """A word's inverse document frequency (by its stem) over `documents`: the bench's, where there is no store."""
    counts: dict[str, int] = {}
    for text in documents:
        for stem in language.stems(text):
            counts[stem] = counts.get(stem, 0) + 1
    n = len(documents)

    def rarity(word: str) -> float:
        stems = language.stems(word)
        return math.log((n + 1) / (min((counts.get(s, 0) for s in stems), default=0) + 0.5))
    return rarity
