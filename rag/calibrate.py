"""`python -m rag.calibrate QUESTIONS [--store DIR]`: fit when to abstain to your own documents.

The packaged calibration was fitted on Wikipedia paragraphs (SQuAD 2.0 train). How strong the
evidence must be before the assistant answers does not carry over to every corpus: on the project's
own workplace questions the packaged model abstains on a third of the answerable ones. A few dozen
questions about your documents, each with its expected answer or marked as not answered by them,
refit it for one store. The fit lives beside the store, authenticated with the store's key, so a
changed file is refused rather than trusted.

QUESTIONS is JSONL, one object per line: {"question": "...", "answer": "..."} for a question the
documents answer ("answers": [...] for several accepted answers), {"question": "...", "answer": null}
for one they do not. A SQuAD 2.0 JSON file works too.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import rag.offline  # noqa: F401
from rag.cli import run_main
from rag.errors import UsageError
from rag.fitted import save_for_store

if TYPE_CHECKING:  # the pipeline pulls in LangChain: too slow for --help
    from rag.answer import Calibration

FALSE_ABSTENTION_BUDGET = 0.12  # the share of answerable questions the fit may refuse
MIN_PER_CLASS = 10  # fewer labelled questions of a kind give a threshold that is mostly noise


@dataclass
class LabelledQuestion:
    question: str
    answers: list[str]  # empty: the documents do not answer it

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass
class Sample:
    """What the pipeline saw for one labelled question."""

    features: dict[str, float]
    answerable: bool
    span: str
    gated: bool = True  # passed the pipeline's gates, so the calibrated threshold decides it


def read_questions(path: Path) -> list[LabelledQuestion]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the questions file {path}: {exc.strerror}") from None
    if text.lstrip().startswith("{") and '"data"' in text[:200]:
        try:
            return _squad_questions(json.loads(text))
        except (ValueError, KeyError, TypeError):
            pass  # not SQuAD after all: read it as JSONL and report the first bad line
    questions = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            question = str(obj["question"]).strip()
            answers = obj["answers"] if "answers" in obj else [obj["answer"]] if obj.get("answer") else []
            answers = [str(a) for a in answers if str(a).strip()]
        except (ValueError, KeyError, TypeError):
            raise UsageError(f"{path}:{number}: expected {{\"question\": ..., \"answer\": ... or null}}") from None
        if question:
            questions.append(LabelledQuestion(question, answers))
    return questions


def _squad_questions(data: dict) -> list[LabelledQuestion]:
    return [LabelledQuestion(qa["question"], [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]])
            for article in data["data"] for paragraph in article["paragraphs"] for qa in paragraph["qas"]]


def collect(pipeline, questions: list[LabelledQuestion], progress=None) -> list[Sample]:
    """Run retrieval and span choice (not the decision) on each question and keep its evidence features."""
    samples = []
    for question in questions:
        draft = pipeline.extract(pipeline.retrieve(question.question))
        # The threshold is what is being fitted: every other gate stands.
        gated = bool(draft.passages) and pipeline.rules(draft.language).refusal(draft, skip={"low-confidence"}) is None
        samples.append(Sample(draft.features, question.answerable, draft.span, gated))
        if progress:
            progress()
    return samples


def fit(samples: list[Sample], budget: float = FALSE_ABSTENTION_BUDGET, fitted_on: str = "") -> Calibration:
    """L2-regularised logistic regression "the documents answer this" over the samples that pass the
    gates (the others abstain whatever the threshold), and the highest threshold whose false abstention,
    gates included, stays within `budget` of the answerable samples."""
    import numpy as np

    from rag.answer import CALIBRATED_FEATURES, Calibration

    names = list(CALIBRATED_FEATURES)
    decided = [s for s in samples if s.gated]
    neutral = {n: float(np.mean(values)) if values else 0.0
               for n in names for values in [[s.features[n] for s in decided if n in s.features]]}
    x = np.array([[s.features.get(n, neutral[n]) for n in names] for s in decided],
                 dtype=float).reshape(-1, len(names))
    y = np.array([float(s.answerable) for s in decided])
    weights, bias = _logistic(x, y)
    p = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    answerable_total = sum(s.answerable for s in samples)
    refused_by_gates = sum(s.answerable and not s.gated for s in samples)
    # The threshold may refuse this many more answerable questions; ties sit on the answering side.
    spare = int(np.floor(budget * answerable_total)) - refused_by_gates
    passed = np.sort(p[y == 1])
    threshold = float(passed[min(max(spare, 0), len(passed) - 1)]) if len(passed) else 0.5
    abstain = np.array([not s.gated for s in samples])
    abstain[[i for i, s in enumerate(samples) if s.gated]] = p < threshold
    labels = np.array([s.answerable for s in samples])
    report = {"questions": len(samples), "answerable": int(labels.sum()),
              "abstention_recall": float(abstain[~labels].mean()) if (~labels).any() else 0.0,
              "false_abstention": float(abstain[labels].mean()) if labels.any() else 0.0}
    return Calibration(dict(zip(names, map(float, weights))), float(bias), threshold, fitted_on, report, neutral)


WRONG_SPANS_BUDGET = 0.10  # the share of shown short answers that may be wrong on the fitted questions
RIGHT_F1 = 0.5  # a short answer with at least this token F1 against a gold answer counts as right


def fit_span(samples: list[Sample], correct: list[float], budget: float = WRONG_SPANS_BUDGET) -> dict:
    """"Is the chosen span right?" over the samples that pass the gates (a wrong span of an unanswerable
    question that slips through is wrong too), and the lowest threshold at which at most `budget` of the
    spans it would show are wrong. Empty (never show a span) when no threshold keeps within it."""
    import numpy as np

    from rag.answer import SPAN_FEATURES

    names = list(SPAN_FEATURES)
    decided = [(s, c) for s, c in zip(samples, correct) if s.gated]
    if len(decided) < 2 * MIN_PER_CLASS:
        return {}
    neutral = {n: float(np.mean([s.features[n] for s, _ in decided if n in s.features] or [0.0])) for n in names}
    x = np.array([[s.features.get(n, neutral[n]) for n in names] for s, _ in decided], dtype=float)
    y = np.array([float(s.answerable and c >= RIGHT_F1) for s, c in decided])
    if y.min() == y.max():
        return {}
    weights, bias = _logistic(x, y)
    p = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
    for threshold in np.sort(p):
        shown = p >= threshold
        if (1.0 - y[shown]).mean() <= budget:
            return {"weights": dict(zip(names, map(float, weights))), "bias": float(bias), "threshold": float(threshold),
                    "report": {"shown": int(shown.sum()), "right": int(y[shown].sum()), "decided": len(decided)}}
    return {}


def answer_f1(prediction: str, answers: list[str]) -> float:
    """SQuAD's token F1 against the best of the gold answers (lower-cased, punctuation and articles dropped)."""
    if not answers:
        return 0.0
    return max(_token_f1(prediction, gold) for gold in answers)


def _tokens(text: str) -> list[str]:
    import re
    import string

    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return re.sub(r"\b(a|an|the)\b", " ", text).split()


def _token_f1(prediction: str, gold: str) -> float:
    from collections import Counter

    p, g = _tokens(prediction), _tokens(gold)
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def _logistic(x, y, l2: float = 1.0, steps: int = 50):
    """Newton's method on log loss + l2/2·|w|² (the bias is not penalised): few features, few samples."""
    import numpy as np

    design = np.hstack([x, np.ones((len(x), 1))])
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ theta, -30, 30)))
        gradient = design.T @ (p - y) + penalty * theta
        hessian = (design * (p * (1 - p))[:, None]).T @ design + np.diag(penalty) + 1e-9 * np.eye(len(theta))
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta[:-1], theta[-1]


def run_calibrate(settings, questions_file: Path, budget: float = FALSE_ABSTENTION_BUDGET) -> Calibration:
    """Fit the store's calibration on labelled questions and save it beside the store."""
    from rag.answer import AskPipeline, Calibration
    from rag.api import Assistant
    from rag.store.chroma import state_dir_for

    questions = read_questions(questions_file)
    answerable = sum(q.answerable for q in questions)
    if min(answerable, len(questions) - answerable) < MIN_PER_CLASS:
        raise UsageError(f"{questions_file} has {answerable} answered and {len(questions) - answerable} unanswered "
                         f"questions; give at least {MIN_PER_CLASS} of each")
    with Assistant.open(settings=settings) as assistant:
        # The fit starts from nothing: the store's current calibration must not decide what is fitted.
        pipeline = AskPipeline(assistant.retriever, assistant.generator, k=settings.k,
                               calibration=Calibration({}, 0.0, 0.0), max_new_tokens=settings.max_new_tokens)
        started = time.time()
        counter = iter(range(1, len(questions) + 1))

        def progress() -> None:
            done = next(counter)
            if done % 10 == 0 or done == len(questions):
                print(f"{done}/{len(questions)} questions ({time.time() - started:.0f} s)", file=sys.stderr)

        samples = collect(pipeline, questions, progress)
        calibration = fit(samples, budget, fitted_on=f"{Path(questions_file).name}: {len(samples)} labelled questions")
        calibration.span = fit_span(samples, [answer_f1(s.span, q.answers) for s, q in zip(samples, questions)])
        calibration.models = assistant.model_names
        path = save_for_store(calibration, state_dir_for(settings), assistant.keyring)
        assistant.audit.append("calibrate", "fitted", {"questions": len(samples), **calibration.report})
    print(f"saved {path}: on these questions it abstains on {calibration.report['abstention_recall']:.0%} of the "
          f"unanswered and {calibration.report['false_abstention']:.0%} of the answered ones")
    return calibration


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from rag.settings import add_common_flags

    parser = argparse.ArgumentParser(prog="python -m rag.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path, help="labelled questions (JSONL, or SQuAD 2.0 JSON)")
    add_common_flags(parser)
    parser.add_argument("--llm", help="the generator the assistant uses (env RAG_LLM): fit with the same one")
    parser.add_argument("--budget", type=float, default=FALSE_ABSTENTION_BUDGET,
                        help=f"largest share of answered questions it may abstain on (default {FALSE_ABSTENTION_BUDGET})")
    args = parser.parse_args(argv)
    if not 0.0 <= args.budget < 1.0:
        parser.error("--budget must be between 0 and 1")
    return args


def main(argv: list[str] | None = None) -> int:
    from rag.settings import settings_from_args

    args = parse_args(argv)
    run_calibrate(settings_from_args(args), args.questions, args.budget)
    return 0


if __name__ == "__main__":
    run_main(main)
