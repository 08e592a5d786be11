"""Cite and verify: the system, not the model, picks each quote and checks that it supports the answer."""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Callable

from rag.acronyms import long_forms_in, spelled_out

# A sentence ends at . ! ? (optionally followed by a closing quote or bracket) before whitespace,
# or at a blank line / line break that starts a list item or heading.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*(?:[-*#]|\d+[.)]\s))")
_FRAGMENT = re.compile(r"(^|\s)(\d{1,3}|[A-Za-z]|e\.g|i\.e|etc|vs|Dr|Mr|Mrs|Ms|No|Fig|Sec|approx)\.$")
# A heading is a line clearly shorter than the text's usual line (PDF body lines wrap near the page width),
# never less than _HEADING_MIN (narrow columns) and never more than _HEADING_CAP characters.
_HEADING_MIN, _HEADING_SHARE, _HEADING_CAP = 48, 0.7, 80
_WORD = re.compile(r"\w+", re.UNICODE)
_SECTION_NUMBER = re.compile(r"(\d+\.)+\d*\s+[A-Z]")
STOPWORDS = frozenset("""a an the of to in on at for from by with and or but is are was were be been being do does did
what which who whom whose when where why how that this these those it its as into than then there their they them he
she his her we our you your i me my not no yes if so such can could should would may might must will shall about
over under between after before during much many most more less least any some all each every other also only very
just ever per s t""".split())


@dataclass(frozen=True)
class Quote:
    text: str
    start: int
    end: int


def _boundaries(text: str) -> list[tuple[int, int]]:
    """(end of one sentence, start of the next): sentence punctuation, blank lines, list items,
    and the line break after a heading (a short line without closing punctuation)."""
    cuts = [(m.start(), m.end()) for m in _SENTENCE_END.finditer(text)]
    lines = text.split("\n")
    lengths = sorted(len(line.strip()) for line in lines if line.strip())
    typical = lengths[len(lengths) // 2] if lengths else 0
    heading_max = max(_HEADING_MIN, min(_HEADING_CAP, int(_HEADING_SHARE * typical)))
    position = 0
    for line in lines[:-1]:
        end = position + len(line)
        stripped = line.strip()
        if stripped and len(stripped) <= heading_max and stripped[-1] not in ".,;:!?-" \
                and text[end + 1:end + 2].isupper():
            cuts.append((end, end + 1))
        position = end + 1
    return sorted(set(cuts))


def sentences(text: str) -> list[Quote]:
    spans, start = [], 0
    for cut_start, cut_end in _boundaries(text):
        if cut_start < start:
            continue
        spans.append((start, cut_start))
        start = cut_end
    spans.append((start, len(text)))
    out: list[Quote] = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b <= a:
            continue
        if out and _FRAGMENT.search(out[-1].text):  # "1." or "e.g." is not a sentence of its own
            a = out.pop().start
        out.append(Quote(text[a:b], a, b))
    return out


def is_heading(text: str) -> bool:
    """A Markdown heading, a numbered section title ("6.1 Code of Conduct") or a line in capitals
    ("COMPLAINTS"): it names a topic and states nothing that could answer a question. Other short
    capitalised lines stay evidence: a contact table's row ("Compliance Officer Mats Engebretsen") looks
    the same as a title."""
    text = text.strip()
    if text.startswith("#"):
        return True
    if not text or "\n" in text or len(text) > _HEADING_CAP or text[-1] in ".!?:;,)\"'":
        return False
    words = [w for w in _WORD.findall(text) if w.lower() not in STOPWORDS]
    titled = bool(words) and all(w[0].isupper() or w[0].isdigit() for w in words)
    return titled and (bool(_SECTION_NUMBER.match(text)) or text.upper() == text)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(normalise(text)) if w not in STOPWORDS]


def quote_for(answer: str, passage_text: str, evidence: Quote | None = None) -> Quote | None:
    """The sentence(s) of the passage that contain the answer verbatim (whitespace-insensitive).

    The answer is looked for in `evidence` (the sentence it was read from) before the rest of the
    passage: "£20" may appear in two sentences, and only the one the answer came from supports it.
    """
    found = _locate(answer, passage_text[evidence.start:evidence.end]) if evidence else None
    found = (evidence.start + found[0], evidence.start + found[1]) if found else _locate(answer, passage_text)
    if found is None:
        return None
    a, b = found
    parts = [q for q in sentences(passage_text) if q.end > a and q.start < b]
    if not parts:
        return None
    start, end = parts[0].start, parts[-1].end
    return Quote(passage_text[start:end], start, end)


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


_EDGE_PUNCTUATION = " ,.;:()[]\"'"
_ARTICLES = frozenset({"the", "a", "an"})
_LIST_MARKER = re.compile(r"\(?(\d{1,3}|[a-z])[.)]|[-*•]")  # "3.", "(b)", "-", a bullet
_MAGNITUDES = frozenset({"hundred", "thousand", "million", "billion", "trillion", "percent", "%"})


def answer_candidates(sentence: str, question: str, max_words: int = 8) -> list[str]:
    """Word spans of the evidence sentence that could answer the question.

    An answer says something the question does not already say (at least one content word of
    its own) and does not begin or end on a function word ("of the", "was"), articles excepted
    at the start ("the Normans"). A list item's number is layout, not content: "3." of "3. Business class
    requires approval from the COO" answered "Which staff grade may fly business class?". Nor does a span
    part a number from its magnitude: "4.2" of "4.2 million euros" is another amount, not a shorter answer.
    """
    # The long form of an acronym of the question ("Halvorsen Maritime Insurance" for "What does HMI
    # insure?") is the question's own subject, not an answer.
    asked = set(content_words(question)) | set(content_words(" ".join(long_forms_in(sentence, question))))
    words = [m.span() for m in re.finditer(r"\S+", sentence)]
    if words and _LIST_MARKER.fullmatch(sentence[words[0][0]:words[0][1]]):
        words = words[1:]
    tokens_at = [sentence[a:b] for a, b in words]
    found: dict[str, None] = {}
    for i in range(len(words)):
        if i and _magnitude_of(tokens_at[i - 1], tokens_at[i]):
            continue
        for j in range(i, min(i + max_words, len(words))):
            if j + 1 < len(words) and _magnitude_of(tokens_at[j], tokens_at[j + 1]):
                continue
            text = sentence[words[i][0]:words[j][1]].strip(_EDGE_PUNCTUATION)
            own = content_words(text)
            if not own or all(w in asked for w in own):
                continue
            tokens = _WORD.findall(normalise(text))
            if (tokens[0] in STOPWORDS and tokens[0] not in _ARTICLES) or tokens[-1] in STOPWORDS:
                continue
            found.setdefault(text)
    return list(found)


def _magnitude_of(number: str, following: str) -> bool:
    """Whether `following` scales `number` ("4.2" "million", "12" "%"): the two are one amount."""
    return bool(re.fullmatch(r"[^\w]*\d[\d,.]*", number)) and (
        following.lower().strip(_EDGE_PUNCTUATION) in _MAGNITUDES or following.startswith("%"))


@functools.lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> set[str]:
    """The content words' Snowball stems: "answers" and "answered", "incident" and "incidents" meet."""
    return set(_stemmer().stemWords(content_words(text)))


def coverage(question: str, text: str, weight: Callable[[str], float] | None = None) -> float:
    """Share of the question's content words present in `text` (each counted by `weight`, if given):
    unanswerable questions often ask about something the evidence never mentions. An acronym counts
    once, named by itself or by its long form. Words, not stems: matched as stems, "Who answers
    complaints?" found "Complaints are answered by ...", but on SQuAD dev false abstention rose from
    0.094 to 0.123."""
    question, long_forms = spelled_out(question)
    wanted = set(content_words(question))
    have = set(content_words(text))
    squashed = normalise(text)
    have |= {acronym.lower() for acronym, long_form in long_forms.items()
             if normalise(long_form) in squashed}
    weight = weight or (lambda word: 1.0)
    total = sum(weight(w) for w in wanted)
    return sum(weight(w) for w in wanted & have) / total if total else 0.0


def supports(answer: str, quotes: list[str]) -> bool:
    """Every content word and number of the answer appears in the quoted sentences."""
    words = content_words(answer)
    if not words:
        return False
    quoted = set(content_words(" ".join(quotes)))
    return all(w in quoted for w in words)


# Words that turn a question around. If the question has one and the evidence sentence has none
# ("Which devices are not encrypted?" against "All laptops use full-disk encryption"), the span
# the model picks answers the opposite question.
_NEGATIONS = frozenset("not never no none nobody nothing neither nor without cannot n't".split())
_OPPOSITES = [("least", "most"), ("least", "best"), ("fewest", "most"), ("lowest", "highest"),
              ("smallest", "largest"), ("smallest", "biggest"), ("worst", "best"), ("minimum", "maximum"),
              ("earliest", "latest"), ("first", "last"), ("before", "after"), ("earlier", "later"),
              ("increase", "decrease"), ("increased", "decreased"), ("more", "less"), ("more", "fewer"),
              ("longer", "shorter"), ("higher", "lower"), ("larger", "smaller"), ("above", "below"),
              ("inside", "outside"), ("internal", "external"), ("minor", "major"), ("weakest", "strongest"), ("lost", "won"),
              ("oldest", "newest"), ("uncommon", "common"), ("unlikely", "likely"), ("impossible", "possible")]
_OPPOSITE: dict[str, set[str]] = {}
for _a, _b in _OPPOSITES:
    _OPPOSITE.setdefault(_a, set()).add(_b)
    _OPPOSITE.setdefault(_b, set()).add(_a)
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_IDENTIFIER = re.compile(r"(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]+")  # "7C", "B2", "HR-17": a letter and a digit


def _tokens(text: str) -> set[str]:
    text = normalise(text).replace("n't", " n't ").replace("whether or not", "whether")
    return set(re.findall(r"[\w']+", text))


def _specifics(question: str) -> list[str]:
    """Numbers, codes and proper names of the question ("1974", "Ward 7C", "Hamburg"): what it is
    specifically about."""
    words = [re.sub(r"'s?$", "", w) for w in re.findall(r"[\w'-]+", question)]
    return [w for i, w in enumerate(words)
            if _NUMBER.fullmatch(w) or _IDENTIFIER.fullmatch(w)
            or (i > 0 and w[:1].isupper() and w.lower() not in STOPWORDS)]


def _mentioned(word: str, words: set[str]) -> bool:
    """`word` or a misspelling of it ("Hatmanis" for "Hartmanis", "Emmrich" for "Emmerich"). A word with
    a digit is never misspelt: "FL-14" is another forklift than "FL-12"."""
    import difflib

    word = normalise(word)
    if word in words:
        return True
    if any(c.isdigit() for c in word):
        return False
    return any(abs(len(w) - len(word)) <= 2 and difflib.SequenceMatcher(None, word, w).ratio() >= 0.8
               for w in words if w[:1] == word[:1])


_CALENDAR = [frozenset("january february march april may june july august september october november december".split()),
             frozenset("monday tuesday wednesday thursday friday saturday sunday".split())]


def _shape(word: str) -> str:
    return re.sub(r"[a-z]", "a", re.sub(r"\d", "0", normalise(word)))


def _sibling(question: str, sentence: str) -> tuple[str, str] | None:
    """A code or a calendar name of the question that the evidence sentence lacks while it names another
    of the same kind: ("P4", "P1"), ("FL-14", "FL-12"), ("February", "March"). The sentence is about a
    neighbour of what was asked, and its answer belongs to the neighbour."""
    words = re.findall(r"[\w'-]+", sentence)
    said = {normalise(w) for w in words}
    for asked in _specifics(question):
        if normalise(asked) in said:
            continue
        if _IDENTIFIER.fullmatch(asked):
            kin = [w for w in words if _IDENTIFIER.fullmatch(w) and _shape(w) == _shape(asked)]
        else:
            group = next((g for g in _CALENDAR if normalise(asked) in g), frozenset())
            kin = [w for w in words if w[:1].isupper() and normalise(w) in group]  # not "may" the verb
        if kin:
            return asked, kin[0]
    return None


def _negated_forms(word: str) -> set[str]:
    """"unpaid" for "paid" and "paid" for "unpaid" (likewise "non"). Only these two prefixes: "dis"
    and "in" make false pairs ("discovered" is not the opposite of "covered", nor "inform" of "form")."""
    forms = {prefix + word for prefix in ("un", "non")}
    for prefix in ("un", "non"):
        if word.startswith(prefix) and len(word) - len(prefix) > 3:
            forms.add(word[len(prefix):])
    return forms if len(word) > 3 else set()


def counted(question: str) -> list[str]:
    """What a "how many" question counts: its first words after "how many", up to a function word
    ("days" of "How many days of leave ...", "new workstations" of "How many new workstations does ...")."""
    match = re.search(r"\bhow many ([\w' -]+)", normalise(question))
    words = []
    for word in (match.group(1).split() if match else [])[:2]:
        if word in STOPWORDS:
            break
        words.append(word)
    return words


def names_what_is_counted(question: str, sentence: str) -> bool:
    """Whether the sentence names what a "how many" question counts (as a stem or misspelt: "kilometres"
    for "kilometers"); true of any other question. A count of something else answers another question:
    "40 castles" for "How many vineyards ...?", "4.2 million euros" for "How many workstations ...?"."""
    words = counted(question)
    if not words:
        return True
    said = set(_WORD.findall(normalise(sentence)))
    return bool(stems(" ".join(words)) & stems(sentence)) or any(_mentioned(w, said) for w in words)


def mismatch(question: str, sentence: str, passages: list[str]) -> str | None:
    """Why the evidence answers another question than the one asked, or None.

    The question names a number or a proper name that none of the retrieved passages mentions
    (misspellings forgiven); or it is negated and the evidence sentence is not; or it asks for
    one end of a scale ("least", "before") and the sentence speaks only of the other ("most",
    "after", "paid" for "unpaid"); or the sentence names a neighbour of the question's code or month
    instead of it ("P1" for "P4", "March" for "February"); or the question counts something the sentence
    does not name. A span picked from such a sentence would answer confidently and wrongly, whatever
    the model's score.
    """
    found = set(re.findall(r"[\w'-]+", normalise(" ".join(passages))))
    question, long_forms = spelled_out(question)  # "CEO (Chief Executive Officer)": either form will do
    squashed = normalise(" ".join(passages))
    missing = [w for w in _specifics(question) if not _mentioned(w, found)
               and not (w in long_forms and normalise(long_forms[w]) in squashed)]
    if missing:
        return f"the passages found do not mention {', '.join(repr(w) for w in missing)}"
    swapped = _sibling(question, sentence)
    if swapped:
        return f"the question is about {swapped[0]!r}, the evidence sentence about {swapped[1]!r}"
    if not names_what_is_counted(question, sentence):
        return f"the question counts {' '.join(counted(question))!r}, the evidence sentence does not name them"
    asked, said = _tokens(question), _tokens(sentence)
    if asked & _NEGATIONS and not said & _NEGATIONS:
        return "the question is negated and the evidence is not"
    # "unknown" is what "no efficient algorithm is known" says: a negation on either side voids the prefix.
    plain = not (asked | said) & _NEGATIONS
    for word in sorted(asked - said):
        opposites = (_OPPOSITE.get(word, set()) | (_negated_forms(word) if plain else set())) & said
        if opposites:
            return f"the question asks '{word}', the evidence says '{sorted(opposites)[0]}'"
    return None


# Answers that name an amount, a year or a time. A question worded to ask for one of these ("how many",
# "in what year", "how long", a question opening with "when") is answered only by a span that has one:
# on SQuAD train and the workplace questions, no gold answer to such a question lacks it. A "why" question
# is answered by a cause: none of their gold answers there or on dev is a bare figure.
_AMOUNT_WORDS = frozenset("""one two three four five six seven eight nine ten eleven twelve thirteen fourteen
fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand
million billion trillion dozen dozens hundreds thousands millions billions half halves third thirds quarter
quarters once twice single double triple several few zero none percent""".split())
_TIME_WORDS = frozenset("""january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday century centuries decade decades year years month months
week weeks day days morning evening night noon midnight afternoon spring summer autumn fall winter daily weekly
monthly annually yearly hour hours minute minutes second seconds era age ages period reign war dynasty bc ad bce
ce today yesterday tomorrow ago end beginning start early late middle""".split())
_FREQUENCIES = frozenset({"once", "twice", "thrice"})
# A number and its unit ("1,230 km", "30-minute", "2.5%", "five working days"): "4" of "Section 4: Probation"
# is no answer to "How long is probation?", nor is "14:00" to "How long does handover last?".
_NUMBER_WORDS = "|".join(sorted(_AMOUNT_WORDS - {"once", "twice", "several", "few", "none", "percent"}))
_MEASURE = re.compile(rf"(?<![\w:])(?:\d[\d,.]*|(?i:{_NUMBER_WORDS}))(?:-?(?P<unit>[a-z%°]\w*)|\s+(?P<word>[a-z%°£€$]\w*))")
# A figure ("£5,000", "14:00", "20th", "1970s"), not a code ("HS-7", "7C", "TA-3"): no letter before its
# first digit, no capital after it.
_QUANTITY = re.compile(r"[^A-Za-z\d]*\d[^A-Z]*$")
_WH_WORDS = re.compile(r"\b(what|which|who|whom|whose|where|why|how)\b")


def asked_kind(question: str) -> str | None:
    """"year", "amount", "time", "measure" or "reason" when the question's wording asks for one, else None."""
    q = f" {normalise(question)} "
    if re.search(r" why ", q):
        return "reason"
    if re.search(r" (what|which) year ", q):
        return "year"
    if re.search(r" how (many|much|old|far) | what (percentage|percent|proportion|fraction) ", q):
        return "amount"
    # A length of time or of anything else ("How long is the Rhine?" is "1,230 km"): a number needs its unit.
    if re.search(r" how (long|often|frequently) ", q):
        return "measure"
    if re.search(r" (what|which) (time|date|day|month|decade|century) ", q):
        return "time"
    # "When ..." asks for a time, unless it opens a clause of a question that asks something else.
    if re.match(r" (since |until |by )?when ", q) and not _WH_WORDS.search(q):
        return "time"
    return None


def fits_kind(span: str, kind: str | None) -> bool:
    """Whether `span` names what a question of that kind asks for."""
    if kind is None:
        return True
    if kind == "year":
        return bool(re.search(r"\d{3,4}", span))
    words = set(_WORD.findall(normalise(span)))
    if kind == "reason":  # a cause, not a figure: "data migration issues", not "3 months" (behind schedule)
        return any(not (_QUANTITY.match(w) or w in _AMOUNT_WORDS or w in _TIME_WORDS) for w in content_words(span))
    amount = any(_QUANTITY.match(token) for token in span.split()) or bool(words & _AMOUNT_WORDS)
    if kind == "measure":
        return bool(words & (_TIME_WORDS | _FREQUENCIES)) or any(
            m["unit"] or m["word"] not in STOPWORDS for m in _MEASURE.finditer(span))
    return amount if kind == "amount" else amount or bool(words & _TIME_WORDS)
