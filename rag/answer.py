"""The ask pipeline: retrieve → extract an answer span from the evidence → cite → verify or abstain.

Built from LangChain runnables (`AskPipeline.runnable`) so users can compose it. The model can
only copy a span of the retrieved passages (constrained decoding), the system picks the quoted
sentence around that span, the rules of `rag.rules` refuse evidence that answers another question,
and a calibrated check turns weak evidence into an honest abstention. The short span is shown only
when a second calibrated check says it is right; otherwise the answer is the quote itself.
"""
from __future__ import annotations

import html
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from langchain_core.runnables import Runnable, RunnableLambda

from rag import language as languages
from rag import written
from rag.acronyms import expand
from rag.cite import answer_candidates, coverage, quote_for, standalone
from rag.errors import UsageError
from rag.language import Language
from rag.retrieve import Passage, Retriever
from rag.rules import Reason, Rules
from rag.segment import Quote

# Question-word coverage is left out on purpose: SQuAD 2.0's unanswerable questions were written to
# overlap their paragraph, so a model fitted there learns "overlap means unanswerable", which is
# wrong for real questions.
CALIBRATED_FEATURES = ("top_score", "cited_score", "sentence_similarity", "mean_logprob", "allowed_mass",
                       "span_words", "echo", "unknown_margin")
# Whether the span is right also depends on whether the question's wording says what kind of answer it wants.
SPAN_FEATURES = CALIBRATED_FEATURES + ("kind_asked",)
SENTENCE_COVERAGE_WEIGHT = 0.75  # all the question's words found in a sentence count as much as 0.75 cosine
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")  # English; other languages: calibration.<code>.json


def calibration_file(code: str) -> Path:
    """The packaged fit for questions in language `code` (it may not exist: the default language's then serves)."""
    return CALIBRATION_FILE if code == languages.DEFAULT else CALIBRATION_FILE.with_name(f"calibration.{code}.json")


@dataclass
class Citation:
    n: int
    source: str
    page: int | None
    chunk_id: str
    quote: str
    score: float
    ocr: bool = False  # the quote was read from a scanned page or image by OCR


@dataclass
class Answer:
    question: str
    answer: str  # what is shown: the short span when it is sure, else the supporting quote; both cite [1]
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    nearest: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0  # calibrated probability that the question is answered by the evidence
    reason: Reason | None = None  # why it abstained: a rule's code and text
    read_as: dict[str, str] = field(default_factory=dict)  # acronyms read as the documents spell them out
    span: str | None = None  # the short answer, when its own calibrated check says it is right
    span_confidence: float = 0.0
    language: str = "en"
    # "extractive" (a span or quote of one sentence) or "written" (sentences the model wrote, each verified).
    mode: str = "extractive"
    sentences: list[dict] = field(default_factory=list)  # written: [{"text", "citations", "quote"}], as verified
    dropped: list[dict] = field(default_factory=list)  # written: [{"text", "citations", "code", "reason"}], not shown
    fallback: bool = False  # written mode was asked for, no sentence survived: this is the extractive answer

    def to_dict(self) -> dict:
        data = asdict(self)
        data["reason"] = self.reason.to_dict() if self.reason else None
        if not self.abstained:
            data.pop("nearest")
            data.pop("reason")
        if not self.read_as:
            data.pop("read_as")
        if self.mode != "written":
            data.pop("sentences")
            if not self.fallback:
                data.pop("dropped")
        if not self.fallback:
            data.pop("fallback")
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def render_text(self) -> str:
        say = languages.get(self.language).say
        lines = [_squash(self.answer)]
        lines += [say("read_as", acronym=acronym, long_form=long_form) for acronym, long_form in self.read_as.items()]
        if self.citations:
            lines.append(say("sources"))
            # JSON keeps the quote verbatim; on screen a PDF's own line breaks would only break it up.
            lines += [f"[{c.n}] {_where(c.source, c.page, c.ocr, say)}: {_quoted(c.quote)}" for c in self.citations]
        if self.reason:
            lines.append(say("why", text=self.reason.text))
        if self.nearest:
            lines.append(say("nearest"))
            lines += [f"- {_where(p['source'], p['page'], False, say)} ({say('score')} {p['score']:.2f})"
                      + (f": {say('closest')} \"{_squash(p['quote'])}\"" if "quote" in p else "") for p in self.nearest]
        if self.fallback:
            lines.append(say("written.fallback"))
        return "\n".join(lines)

    __str__ = render_text

    def _repr_html_(self) -> str:
        body = html.escape(self.answer)
        if self.abstained:
            body = f"<p><em>{body}</em></p>"
        else:
            body = f"<p><strong>{body}</strong></p>"
        rows = "".join(
            f"<tr><td>[{c.n}]</td><td>{html.escape(c.source)}</td><td>{c.page or ''}</td>"
            f"<td><mark>{html.escape(c.quote)}</mark></td><td>{c.score:.2f}</td></tr>" for c in self.citations)
        if rows:
            body += ("<table><thead><tr><th></th><th>source</th><th>page</th><th>quote</th><th>score</th></tr>"
                     f"</thead><tbody>{rows}</tbody></table>")
        return f"<div class='private-rag-answer'><p>{html.escape(self.question)}</p>{body}</div>"


_PAGE_NAMES = {".pptx": "slide", ".xlsx": "sheet", ".tif": "frame", ".tiff": "frame"}


def _quoted(quote: str) -> str:
    """A citation's quote on screen: a written answer's several quotes of one passage each in its own marks."""
    return " … ".join(f"\"{_squash(part)}\"" for part in quote.split(QUOTE_SEPARATOR))


QUOTE_SEPARATOR = "\n…\n"  # between the quotes of one passage that support different sentences of a written answer


def _where(source: str, page: int | None, ocr: bool, say) -> str:
    """"deck.pptx, slide 3", "scan.pdf, p. 2 (scanned)": what `page` counts depends on the format."""
    where = f"{source}, {say(_PAGE_NAMES.get(Path(source).suffix.lower(), 'page'))} {page}" if page else source
    return f"{where} ({say('scanned')})" if ocr else where


@dataclass
class Calibration:
    """Logistic model over evidence features: packaged (fitted on SQuAD 2.0 *train* by
    `bench/calibrate.py`) or fitted to one store's documents by `python -m rag.calibrate`."""

    weights: dict[str, float]
    bias: float
    threshold: float
    fitted_on: str = ""
    report: dict = field(default_factory=dict)
    neutral: dict[str, float] = field(default_factory=dict)  # a feature's mean in the fit: used when it is missing
    models: dict[str, str] = field(default_factory=dict)  # the embedder and generator it was fitted with
    # "Is the chosen span right?" (F1 >= 0.5): a second model over the same features, fitted on the
    # answerable questions; a span under its threshold is not shown, its quote is the answer instead.
    span: dict = field(default_factory=dict)  # {"weights", "bias", "threshold"}; empty: never show a span
    # Fits of other languages, by code (rag/calibration.<code>.json): a language's evidence features may sit on
    # other scales (docs/design.md#abstention-per-language). A store's own fit has none and serves every language.
    by_language: dict[str, "Calibration"] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path | None = None) -> "Calibration":
        """`path`'s fit alone; without one, the packaged fits: the default language's and each other's there is."""
        if path is not None:
            return cls.from_dict(json.loads(Path(path).read_text()))
        packaged = cls.load(CALIBRATION_FILE)
        packaged.by_language = {code: cls.load(calibration_file(code)) for code in languages.LANGUAGES
                                if code != languages.DEFAULT and calibration_file(code).exists()}
        return packaged

    def for_language(self, code: str) -> "Calibration":
        """The fit that decides a question in language `code`."""
        return self.by_language.get(code, self)

    @classmethod
    def from_dict(cls, data: dict) -> "Calibration":
        return cls(data["weights"], data["bias"], data["threshold"], data.get("fitted_on", ""),
                   data.get("report", {}), data.get("neutral", {}), data.get("models", {}), data.get("span", {}))

    def to_dict(self) -> dict:
        return {"weights": self.weights, "bias": self.bias, "threshold": self.threshold,
                "fitted_on": self.fitted_on, "report": self.report, "neutral": self.neutral, "models": self.models, "span": self.span}

    def probability(self, features: dict[str, float]) -> float:
        return self._logistic(self.weights, self.bias, features)

    def span_probability(self, features: dict[str, float]) -> float:
        """Calibrated probability that the chosen span is right; 0 without a fitted span model."""
        return self._logistic(self.span["weights"], self.span["bias"], features) if self.span else 0.0

    def _logistic(self, weights: dict[str, float], bias: float, features: dict[str, float]) -> float:
        z = bias + sum(w * features.get(name, self.neutral.get(name, 0.0)) for name, w in weights.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@dataclass
class Draft:
    """Everything between retrieval and the final answer; also what calibration learns from."""

    question: str  # as the user asked it
    passages: list[Passage]
    language: Language = field(default_factory=languages.get)  # the question's: its words, rules and messages
    read_as: dict[str, str] = field(default_factory=dict)  # acronyms and the long forms the documents use
    span: str = ""
    passage: Passage | None = None
    quote: str = ""
    # The sentence the span was read from, kept even when it does not answer: an abstention shows it.
    evidence: tuple[Passage, str] | None = None
    features: dict[str, float] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    confidence: float = 0.0
    threshold: float = 0.0
    span_confidence: float = 0.0
    span_threshold: float = math.inf  # without a fitted span model the quote is always the answer

    @property
    def expanded(self) -> str:
        """The question as retrieval and the model read it: each acronym followed by its long form."""
        return expand(self.question, self.read_as)


def features_of(draft: Draft, language: Language, mean_logprob: float, allowed_mass: float,
                sentence_similarity: float, unknown_margin: float | None = None) -> dict[str, float]:
    top = draft.passages[0]
    cited = draft.passage or top
    answer_words = set(language.content_words(draft.span))
    echo = (len(answer_words & set(language.content_words(draft.expanded))) / len(answer_words)
            if answer_words else 1.0)
    return {
        "top_score": top.score,
        "cited_score": cited.score,
        "coverage_passage": coverage(draft.question, cited.text, language, draft.read_as),
        "coverage_quote": coverage(draft.question, draft.quote, language, draft.read_as),
        "mean_logprob": max(mean_logprob, -10.0),
        "allowed_mass": allowed_mass,
        "echo": echo,
        "span_words": min(len(draft.span.split()), 20) / 20,
        "sentence_similarity": sentence_similarity,
        "kind_asked": float(language.asked_kind(draft.question) is not None),
        # A generator that cannot score given answers (a server) leaves it out: the calibration's neutral value.
        **({"unknown_margin": max(-20.0, min(20.0, unknown_margin))} if unknown_margin is not None else {}),
    }


class AskPipeline:
    """`disabled`: codes of rules (rag/rules.py) to switch off, to measure what each one does."""

    def __init__(self, retriever: Retriever, generator, k: int = 4, context_passages: int = 3,
                 calibration: Calibration | None = None, max_new_tokens: int = 32,
                 language: Language | None = None, disabled: Iterable[str] = (), mode: str = "auto",
                 written_tokens: int = written.WRITTEN_TOKENS):
        """`language`: every question's (`--lang`); None detects each question's own. `mode`: "extractive",
        "written" or "auto" (written with a chat model or a server, see `rag.written.resolve`)."""
        self.retriever, self.generator = retriever, generator
        self.k, self.context_passages, self.max_new_tokens = k, context_passages, max_new_tokens
        self.calibration = calibration or Calibration.load()
        self.language = language
        self.disabled = frozenset(disabled)
        self._rules: dict[str, Rules] = {}
        self.mode, self.written_tokens = mode, written_tokens

    def rules(self, language: Language) -> Rules:
        """The registry's rules for questions in `language`."""
        if language.code not in self._rules:
            self._rules[language.code] = Rules(language, self.disabled)
        return self._rules[language.code]

    # -- stages ------------------------------------------------------------------------
    def retrieve(self, question: str) -> Draft:
        started = time.perf_counter()
        language = self.language or languages.of(question)
        read_as = self.retriever.read_acronyms(question, language)
        passages = self.retriever.search(expand(question, read_as), self.k, phrases=list(read_as.values()),
                                         language=language)
        return Draft(question, passages, language, read_as=read_as,
                     timings={"retrieve_ms": (time.perf_counter() - started) * 1000})

    def prompt(self, question: str, evidence: list[str], unknown_allowed: bool = False,
               language: Language | None = None) -> str:
        language = language or self.language or languages.get()
        shown = language.prompt
        say = language.say
        context = "\n".join(f"[{i}] {text}" for i, text in enumerate(evidence, start=1))
        user = f"{say('context')}:\n{context}\n{say('question')}: {question}\n{say('answer')}:"
        if self.generator.chat:
            return self.generator.render(shown.unknown_instruction if unknown_allowed else shown.instruction, user)
        # The extra examples go after the shared ones, so both prompts start alike and share their cache.
        return f"{shown.instruction}\n\n{shown.examples}{shown.unknown_examples if unknown_allowed else ''}{user}"

    def unknown_margin(self, question: str, sentence: str, span: str, language: Language) -> float:
        """How much likelier the model finds "unknown" than the chosen span once it may say so: a second
        look at the same sentence, asked with examples whose context does not answer their question.

        On its own it ranks answerable above unanswerable questions with AUC 0.62 on SQuAD train."""
        unknown, chosen = self.generator.score(self.prompt(question, [sentence], True, language),
                                               [language.prompt.unknown, span])
        return unknown - chosen

    def evidence_sentence(self, draft: Draft) -> tuple[Passage, Quote, float]:
        """The one sentence of the top passages that best matches the question.

        A small model picks the right span far more often from one sentence than from whole
        passages (span F1 on SQuAD train: 0.25 with three passages, 0.41 with one, 0.49 with one
        sentence), and that sentence is then the quote. Only sentences the `evidence` rules allow
        compete, unless none does.
        """
        language, rules = draft.language, self.rules(draft.language)
        # Each passage is cut into sentences by its own document's language.
        candidates = [(passage, quote) for passage in draft.passages[:self.context_passages]
                      for quote in languages.get(passage.language).segments(passage.text)]
        candidates = [c for c in candidates if rules.may_cite(draft.expanded, c[1].text)] or candidates
        embedder = self.retriever.embedder
        similarity = embedder.encode([quote.text for _, quote in candidates]) @ embedder.encode_queries(
            [draft.expanded])[0]
        # Rare words weigh more: "Who is the Compliance Officer?" is about compliance, not any officer
        # (sentence holding a gold answer on SQuAD train: 0.73 with plain word shares, 0.77 weighted).
        scores = [sim + SENTENCE_COVERAGE_WEIGHT * coverage(draft.question, quote.text, language, draft.read_as,
                                                            lambda word: self.retriever.rarity(word, language))
                  for sim, (_, quote) in zip(similarity, candidates)]
        best = max(range(len(candidates)), key=scores.__getitem__)
        return candidates[best][0], candidates[best][1], float(similarity[best])

    def extract(self, draft: Draft) -> Draft:
        started = time.perf_counter()
        if draft.passages:
            passage, evidence, similarity = self.evidence_sentence(draft)
            sentence = evidence.text
            draft.evidence = (passage, sentence)
            language = draft.language
            prompt = self.prompt(draft.expanded, [sentence], language=language)
            candidates = answer_candidates(sentence, draft.expanded, language)
            if candidates and self.generator.scores_answers:
                # Whole-span scoring: greedy decoding commits to its first token and sometimes
                # copies half the sentence ("The Normans (Norman: ...) were" for "In what country?").
                result = self.generator.choose(prompt, candidates)
                unknown = self.unknown_margin(draft.expanded, sentence, result.text, language)
            else:  # servers, or a sentence that offers no candidate: constrained greedy decoding
                result = self.generator.extract(prompt, [sentence], self.max_new_tokens)
                unknown = None
            draft.span = result.text
            written_in = languages.get(passage.language)
            quote = quote_for(draft.span, passage.text, written_in, evidence)
            if quote:
                draft.passage, draft.quote = passage, standalone(quote, passage.text, written_in).text
            draft.features = features_of(draft, language, result.mean_logprob, result.allowed_mass,
                                         similarity, unknown)
        draft.timings["generate_ms"] = (time.perf_counter() - started) * 1000
        return draft

    def decide(self, draft: Draft) -> Answer:
        timings = dict(draft.timings)
        timings["total_ms"] = timings.get("retrieve_ms", 0.0) + timings.get("generate_ms", 0.0)
        calibration = self.calibration.for_language(draft.language.code)
        draft.confidence = calibration.probability(draft.features) if draft.features else 0.0
        draft.threshold = calibration.threshold
        rules = self.rules(draft.language)
        reason = rules.refusal(draft) if draft.passages else rules.reason("no-passage")
        code = draft.language.code
        if reason:
            nearest = [_nearest(p, draft.evidence) for p in sorted(draft.passages[:3], key=lambda p: -p.score)]
            return Answer(draft.question, draft.language.say("abstain"), True, [], nearest, timings, draft.confidence,
                          reason, draft.read_as, language=code)
        p = draft.passage
        citation = Citation(1, p.source, p.page, p.id, draft.quote, round(p.score, 4), p.ocr)
        draft.span_confidence = calibration.span_probability(draft.features)
        draft.span_threshold = calibration.span["threshold"] if calibration.span else math.inf
        span = draft.span if rules.shows_span(draft) else None
        shown = span if span is not None else draft.quote
        return Answer(draft.question, f"{shown} [1]", False, [citation], [], timings, draft.confidence,
                      read_as=draft.read_as, span=span, span_confidence=round(draft.span_confidence, 4),
                      language=code)

    # -- composition -------------------------------------------------------------------
    @property
    def runnable(self) -> Runnable:
        return RunnableLambda(self.retrieve) | RunnableLambda(self.extract) | RunnableLambda(self.decide)

    def ask(self, question: str, mode: str | None = None) -> Answer:
        if written.resolve(mode or self.mode, self.generator) == "extractive":
            return self.runnable.invoke(question)
        answer = None
        for event in self.stream(question, "written"):
            if event.kind == "answer":
                answer = event.data
        return answer

    # -- written answers (rag/written.py) ----------------------------------------------
    def stream(self, question: str, mode: str | None = None) -> Iterator[written.Event]:
        """The answer as it is made: in written mode `text` events as the model writes, a `kept` or `dropped`
        event for each sentence once it is verified, then `answer`; in extractive mode only `answer`."""
        if written.resolve(mode or self.mode, self.generator) == "extractive":
            yield written.Event("answer", self.runnable.invoke(question))
            return
        draft = self.retrieve(question)
        if not draft.passages:
            yield written.Event("answer", self.decide(self.extract(draft)))
            return
        language, rules = draft.language, self.rules(draft.language)
        given = dict(enumerate(draft.passages[:self.context_passages], start=1))
        support = written.Support(written.idf(self.retriever, language), written.cosine_with(self.retriever.embedder))
        system, user = written.prompt(draft.expanded, list(given.values()), language)
        started = time.perf_counter()
        kept: list[written.Sentence] = []
        dropped: list[written.Dropped] = []
        reply, verifying = "", 0.0
        for kind, value in written.sentences_as_written(self.generator.write(system, user, self.written_tokens),
                                                         language):
            if kind == "first":
                draft.timings["first_token_ms"] = value * 1000
            elif kind == "text":
                reply += value
                yield written.Event("text", value)
            elif not written.is_unknown(value.text, language) and value.text not in {k.text for k in kept}:
                checking = time.perf_counter()  # a sentence the model repeats is shown once
                result = written.verify(value, given, rules, support)
                verifying += time.perf_counter() - checking
                (kept if isinstance(result, written.Sentence) else dropped).append(result)
                yield written.Event("kept" if isinstance(result, written.Sentence) else "dropped", result)
        draft.timings["generate_ms"] = (time.perf_counter() - started - verifying) * 1000
        draft.timings["verify_ms"] = verifying * 1000
        if not kept:  # nothing verified: the extractive answer, or its abstention
            timings = dict(draft.timings)
            answer = self.decide(self.extract(draft))
            answer.timings = {**timings, "extract_ms": answer.timings["generate_ms"],
                              "total_ms": answer.timings["total_ms"] + timings["generate_ms"] + timings["verify_ms"]}
            answer.fallback, answer.dropped = True, [d.to_dict() for d in dropped]
            yield written.Event("answer", answer)
            return
        yield written.Event("answer", self.written_answer(draft, given, kept, dropped))

    def written_answer(self, draft: Draft, given: dict[int, Passage], kept: list["written.Sentence"],
                       dropped: list["written.Dropped"]) -> Answer:
        """The verified sentences with their markers; each cited passage once, with the quotes its sentences rest on."""
        quotes: dict[int, list[str]] = {}
        for sentence in kept:
            for n, quote in sentence.quotes.items():
                if quote not in quotes.setdefault(n, []):
                    quotes[n].append(quote)
        cited = sorted({n for sentence in kept for n in sentence.citations})
        citations = []
        for n in cited:
            p = given[n]
            shown = sorted(quotes.get(n, []), key=p.text.find)
            citations.append(Citation(n, p.source, p.page, p.id, QUOTE_SEPARATOR.join(shown), round(p.score, 4), p.ocr))
        timings = dict(draft.timings)
        timings["total_ms"] = sum(timings.get(key, 0.0) for key in ("retrieve_ms", "generate_ms", "verify_ms"))
        return Answer(draft.question, " ".join(s.shown() for s in kept), False, citations, [], timings, 0.0,
                      read_as=draft.read_as, language=draft.language.code, mode="written",
                      sentences=[s.to_dict() for s in kept], dropped=[d.to_dict() for d in dropped])


def _nearest(passage: Passage, evidence: tuple[Passage, str] | None) -> dict:
    """A passage that was not enough to answer; the one the closest sentence came from also quotes it,
    so a user can judge a refusal (a right answer under the threshold, or a near miss) at a glance."""
    near = {"source": passage.source, "page": passage.page, "chunk_id": passage.id, "score": round(passage.score, 4)}
    if evidence and evidence[0].id == passage.id:
        near["quote"] = evidence[1]
    return near


def _squash(text: str) -> str:
    return " ".join(text.split())


MAX_QUESTION_CHARS = 1000  # ~250 embedder tokens: longer questions would be cut silently by the model


def checked_question(question: str) -> str:
    """The question as asked, stripped; an empty one is a usage error, a too long one is cut with a warning."""
    question = (question or "").strip()
    if not question:
        raise UsageError("the question is empty; ask something, e.g. python -m rag.ask \"How many leave days?\"")
    if len(question) > MAX_QUESTION_CHARS:
        warnings.warn(f"question truncated to its first {MAX_QUESTION_CHARS} characters", stacklevel=3)
        question = question[:MAX_QUESTION_CHARS]
    return question
