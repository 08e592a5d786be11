"""Fit the abstention model on SQuAD 2.0 *train* (never dev) and write rag/calibration.json.

Runs the real pipeline (retrieval + span choice) on the train questions that are not also dev
questions (`squad.without_dev`), records the
evidence features of each draft, and fits a logistic regression "is this question answered by
the documents". The threshold is the highest one that keeps false abstention on train <= 12 %.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import rag.offline  # noqa: F401,E402
import squad  # noqa: E402

FALSE_ABSTENTION_BUDGET = 0.12


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="train questions to use (fixed sample; 0 = all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "rag" / "calibration.json")
    parser.add_argument("--from-cache", action="store_true", help="refit on the features of the last run")
    args = parser.parse_args()
    cache = Path(__file__).resolve().parent / "results" / "calibration-features.json"
    if args.from_cache:
        data = json.loads(cache.read_text())
        return fit(data["rows"], data["labels"], data["correct"], args.out)
    if not (squad.SHARED / "train.json").exists():
        print(f"skipped: {squad.SHARED}/train.json not found")
        return 0
    from ingest import run_ingest
    from rag.answer import AskPipeline, Calibration
    from rag.api import Assistant
    from rag.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        questions = squad.sample(squad.without_dev(squad.load("train", tmp / "docs")), args.limit)
        settings = Settings(store=str(tmp / "store"), key_file=tmp / "key")
        run_ingest([tmp / "docs"], settings)
        assistant = Assistant.open(settings=settings)
        pipeline = AskPipeline(assistant.retriever, assistant.generator, k=settings.k,
                               calibration=Calibration({}, 0.0, 0.0))
        rows, labels, correct = [], [], []
        started = time.time()
        for number, question in enumerate(questions, start=1):
            draft = pipeline.extract(pipeline.retrieve(question.text))
            rows.append(draft.features)
            labels.append(int(question.answerable))
            correct.append(squad.f1(draft.span, question.answers))
            if number % 25 == 0:
                print(f"{number}/{len(questions)} ({time.time() - started:.0f} s)", file=sys.stderr)
    cache.parent.mkdir(exist_ok=True)
    cache.write_text(json.dumps({"rows": rows, "labels": labels, "correct": correct}))
    return fit(rows, labels, correct, args.out)


def fit(rows: list[dict], labels: list[int], correct: list[float], out: Path) -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from rag.answer import CALIBRATED_FEATURES

    names = list(CALIBRATED_FEATURES)
    x = np.array([[r[n] for n in names] for r in rows])
    y = np.array(labels)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    threshold = _threshold(p, y)
    abstain = p < threshold
    report = {
        "train_questions": len(y), "answerable": int(y.sum()),
        "abstention_recall_train": float(abstain[y == 0].mean()),
        "false_abstention_train": float(abstain[y == 1].mean()),
        "span_f1_answerable_train": float(np.mean([c for c, label in zip(correct, y) if label])),
    }
    calibration = {"weights": dict(zip(names, map(float, model.coef_[0]))), "bias": float(model.intercept_[0]),
                   "threshold": threshold,
                   "fitted_on": "SQuAD 2.0 train subset (shared/eval/squad2-subset/train.json) without the "
                                "questions that are also dev questions",
                   "report": report}
    out.write_text(json.dumps(calibration, indent=1) + "\n")
    print(json.dumps(calibration, indent=1))
    return 0


def _threshold(p, y) -> float:
    """The highest threshold whose false abstention on answerable train questions stays in budget."""
    import numpy as np

    answerable = np.sort(p[y == 1])
    index = int(np.floor(FALSE_ABSTENTION_BUDGET * len(answerable)))
    return float(answerable[index]) if len(answerable) else 0.5


if __name__ == "__main__":
    sys.exit(main())
