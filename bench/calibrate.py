"""Fit the abstention model on SQuAD 2.0 *train* (never dev) and write rag/calibration.json.

Runs the real pipeline (retrieval + span choice) on the train questions that are not also dev
questions and on the project's own workplace questions (bench/data/workplace_qa.json), records the evidence features of each draft and the default generator's hidden states
at the end of its prompt, and fits two logistic models of "is this question answered by the
documents":

- generic: evidence features only, for any generator (a user's `--llm`, an inference server);
- probe: the same features plus one layer of the default generator's hidden state. Its layer and
  regularisation are chosen by cross-validation grouped by paragraph, and its threshold on the
  out-of-fold predictions, so that the threshold is not set on probabilities the model has seen.

Each threshold is the highest that keeps false abstention on train within the budget.
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
PROBE_C = (0.003, 0.01, 0.03, 0.1)  # inverse L2 strength: the states have 640 dimensions, train 418 questions
FOLDS = 5
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="train questions to use (fixed sample; 0 = all)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "rag" / "calibration.json")
    parser.add_argument("--from-cache", action="store_true", help="refit on the features of the last run")
    args = parser.parse_args()
    if args.from_cache:
        return fit(*load_cache(), args.out)
    if not (squad.SHARED / "train.json").exists():
        print(f"skipped: {squad.SHARED}/train.json not found")
        return 0
    collected = collect(args.limit)
    save_cache(*collected)
    return fit(*collected, args.out)


def collect(limit: int):
    import numpy as np

    from ingest import run_ingest
    from rag.answer import AskPipeline, Calibration
    from rag.api import Assistant
    from rag.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        questions = squad.without_dev(squad.load("train", tmp / "docs"))
        if squad.WORKPLACE.exists():
            questions += squad.load_file(squad.WORKPLACE, tmp / "docs")
        questions = squad.sample(questions, limit)
        settings = Settings(store=str(tmp / "store"), key_file=tmp / "key")
        run_ingest([tmp / "docs"], settings)
        assistant = Assistant.open(settings=settings)
        generator = assistant.generator
        layers = tuple(range(generator.model.config.num_hidden_layers + 1))
        pipeline = AskPipeline(assistant.retriever, generator, k=settings.k,
                               calibration=Calibration({}, 0.0, 0.0, state_layers=layers))
        rows, labels, correct, groups, states = [], [], [], [], []
        width = generator.model.config.hidden_size * len(layers)
        started = time.time()
        for number, question in enumerate(questions, start=1):
            draft = pipeline.extract(pipeline.retrieve(question.text))
            rows.append(draft.features)
            labels.append(int(question.answerable))
            correct.append(squad.f1(draft.span, question.answers))
            groups.append(question.source)
            states.append(draft.state or [0.0] * width)
            if number % 25 == 0:
                print(f"{number}/{len(questions)} ({time.time() - started:.0f} s)", file=sys.stderr)
    states = np.asarray(states, dtype=np.float32).reshape(len(rows), len(layers), -1)
    return rows, labels, correct, groups, states, generator.name


def save_cache(rows, labels, correct, groups, states, generator_name) -> None:
    import numpy as np

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "calibration-features.json").write_text(json.dumps(
        {"rows": rows, "labels": labels, "correct": correct, "groups": groups, "generator": generator_name}))
    np.save(RESULTS / "calibration-states.npy", states)


def load_cache():
    import numpy as np

    data = json.loads((RESULTS / "calibration-features.json").read_text())
    states = np.load(RESULTS / "calibration-states.npy")
    return data["rows"], data["labels"], data["correct"], data["groups"], states, data["generator"]


def fit(rows, labels, correct, groups, states, generator_name: str, out: Path) -> int:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    from rag.answer import CALIBRATED_FEATURES

    names = list(CALIBRATED_FEATURES)
    x = np.array([[r[n] for n in names] for r in rows])
    y = np.array(labels)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(x, y)
    p = model.predict_proba(x)[:, 1]
    threshold = _threshold(p, y)
    calibration = {"version": 2, "weights": dict(zip(names, map(float, model.coef_[0]))),
                   "bias": float(model.intercept_[0]), "threshold": threshold,
                   "fitted_on": "SQuAD 2.0 train subset (shared/eval/squad2-subset/train.json) without "
                                "the questions that are also dev questions, plus bench/data/workplace_qa.json",
                   "report": {"train_questions": len(y), "answerable": int(y.sum()),
                              "span_f1_answerable_train": float(np.mean([c for c, a in zip(correct, y) if a])),
                              "generic": _rates(p, y, threshold)}}
    probe, report = _fit_probe(x, y, np.array(groups), states)
    if probe:
        calibration["probes"] = {generator_name: {"weights": dict(zip(names, probe["feature_weights"])), **{
            k: probe[k] for k in ("bias", "threshold", "state_layers", "state_weights")}}}
        calibration["report"]["probe"] = report
    out.write_text(json.dumps(calibration, indent=1) + "\n")
    print(json.dumps(calibration["report"], indent=1))
    return 0


def _fit_probe(x, y, groups, states):
    """Features plus one layer's hidden state; layer and C chosen on grouped out-of-fold predictions."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not np.any(states):
        return None, {}

    def model(c):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000))

    def out_of_fold(inputs, c):
        p = np.zeros(len(y))
        for train, test in GroupKFold(FOLDS).split(inputs, y, groups):
            p[test] = model(c).fit(inputs[train], y[train]).predict_proba(inputs[test])[:, 1]
        return p

    trials = []
    for layer in range(1, states.shape[1]):
        inputs = np.hstack([x, states[:, layer]])
        for c in PROBE_C:
            p = out_of_fold(inputs, c)
            rates = _rates(p, y, _threshold(p, y))
            trials.append((rates["abstention_recall"], roc_auc_score(y, p), layer, c, p))
            print(f"layer {layer:2d} C {c:<6} out-of-fold AUC {trials[-1][1]:.3f} "
                  f"abstention recall {rates['abstention_recall']:.3f}", file=sys.stderr)
    recall, auc, layer, c, p = max(trials, key=lambda t: (t[0], t[1]))
    threshold = _threshold(p, y)
    fitted = model(c).fit(np.hstack([x, states[:, layer]]), y)
    scaler, logistic = fitted[0], fitted[1]
    # Fold the standardisation into the weights: at run time the probe is one dot product.
    weights = logistic.coef_[0] / scaler.scale_
    bias = float(logistic.intercept_[0] - weights @ scaler.mean_)
    probe = {"feature_weights": list(map(float, weights[:x.shape[1]])), "bias": bias, "threshold": threshold,
             "state_layers": [int(layer)], "state_weights": list(map(float, weights[x.shape[1]:]))}
    articles = np.array([group.split("/")[0] for group in groups])
    by_article = {article: _rates(p[articles == article], y[articles == article], threshold)
                  for article in sorted(set(articles))}
    return probe, {"state_layer": int(layer), "C": c, "out_of_fold_auc": float(auc),
                   **{f"{k}_out_of_fold": v for k, v in _rates(p, y, threshold).items()},
                   "out_of_fold_by_article": by_article}


def _rates(p, y, threshold) -> dict:
    abstain = p < threshold
    return {"abstention_recall": float(abstain[y == 0].mean()), "false_abstention": float(abstain[y == 1].mean())}


def _threshold(p, y) -> float:
    """The highest threshold whose false abstention on answerable train questions stays in budget."""
    import numpy as np

    answerable = np.sort(p[y == 1])
    index = int(np.floor(FALSE_ABSTENTION_BUDGET * len(answerable)))
    return float(answerable[index]) if len(answerable) else 0.5


if __name__ == "__main__":
    sys.exit(main())
