"""SQuAD 2.0 helpers shared by calibration (train only) and evaluation (dev only)."""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "squad2-subset"
# The project's own questions on invented workplace documents (policies, procedures, minutes), in the
# same format, for evaluation only (`make eval-workplace`): does abstention carry over from Wikipedia?
WORKPLACE = Path(__file__).resolve().parent / "data" / "workplace_qa.json"


@dataclass
class Question:
    id: str
    text: str
    answers: list[str]
    source: str  # the document (paragraph file) that holds the gold paragraph

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


def load(split: str, docs_dir: Path) -> list[Question]:
    """Write each paragraph of the shared `split` as a text document under `docs_dir`; return the questions."""
    return load_file(SHARED / f"{split}.json", docs_dir)


def load_file(path: Path, docs_dir: Path) -> list[Question]:
    data = json.loads(path.read_text())["data"]
    questions = []
    for article in data:
        for number, paragraph in enumerate(article["paragraphs"]):
            source = f"{article['title']}/{number:03d}.txt"
            path = docs_dir / source
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(paragraph["context"] + "\n", encoding="utf-8")
            for qa in paragraph["qas"]:
                answers = [] if qa.get("is_impossible") else [a["text"] for a in qa["answers"]]
                questions.append(Question(qa["id"], qa["question"], answers, source))
    return questions


def without_dev(questions: list[Question]) -> list[Question]:
    """Train questions that are not also dev questions.

    The shared train subset holds the "Normans" article, whose 208 questions are dev's own (same ids),
    so fitting on them would be fitting on dev.
    """
    if not (SHARED / "dev.json").exists():
        return questions
    dev = {qa["id"] for article in json.loads((SHARED / "dev.json").read_text())["data"]
           for paragraph in article["paragraphs"] for qa in paragraph["qas"]}
    return [q for q in questions if q.id not in dev]


def sample(questions: list[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """A fixed random sample that keeps the answerable/unanswerable mix."""
    if not limit or limit >= len(questions):
        return questions
    rng = random.Random(seed)
    picked = rng.sample(questions, limit)
    return sorted(picked, key=questions.index)


def f1(prediction: str, gold: list[str]) -> float:
    """The official SQuAD token F1 (see `rag.calibrate.answer_f1`)."""
    from rag.calibrate import answer_f1

    return answer_f1(prediction, gold)


def _normalise(text: str) -> str:
    from rag.calibrate import _tokens

    return " ".join(_tokens(text))


def exact(prediction: str, gold: list[str]) -> float:
    return float(any(_normalise(prediction) == _normalise(g) for g in gold))


def contains_gold(quote: str, gold: list[str]) -> bool:
    return any(_normalise(g) in _normalise(quote) for g in gold)


def strip_markers(answer: str) -> str:
    return re.sub(r"\s*\[\d+\]", "", answer).strip()
