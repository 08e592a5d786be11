"""Fit a packaged abstention model: English on SQuAD 2.0 *train* (never dev) → rag/calibration.json; with
`--lang fr`, French on the project's French training set (bench/fr_train.py, never an evaluation set)
→ rag/calibration.fr.json.

Runs the real pipeline (retrieval + span choice) on the training questions (for SQuAD, those that are
not also dev questions: `squad.without_dev`), records the evidence features of each draft, and fits the
same model `python -m rag.calibrate` fits to a user's own questions (`rag.calibrate.fit`).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import squad  # noqa: E402

import rag.offline  # noqa: F401,E402
from rag.calibrate import LabelledQuestion, Sample, collect, fit, fit_span  # noqa: E402

FITTED_ON = {"en": "SQuAD 2.0 train subset (shared/eval/squad2-subset/train.json) without the questions that are "
                   "also dev questions",
             "fr": "the French training set (bench/fr_train.py: invented documents, not an evaluation set)"}
RESULTS = Path(__file__).resolve().parent / "results"


def cache_for(lang: str) -> Path:
    return RESULTS / ("calibration-features.json" if lang == "en" else f"calibration-features.{lang}.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lang", choices=sorted(FITTED_ON), default="en", help="the language to fit (default en)")
    parser.add_argument("--limit", type=int, default=0, help="train questions to use (fixed sample; 0 = all)")
    parser.add_argument("--out", type=Path, help="default: the packaged file of --lang (rag/answer.calibration_file)")
    parser.add_argument("--from-cache", action="store_true", help="refit on the features of the last run")
    args = parser.parse_args()
    from rag.answer import calibration_file

    out, cache = args.out or calibration_file(args.lang), cache_for(args.lang)
    if args.from_cache:
        data = json.loads(cache.read_text())
        gated = data.get("gated", [True] * len(data["rows"]))
        samples = [Sample(f, bool(label), "", g) for f, label, g in zip(data["rows"], data["labels"], gated)]
        return write(samples, data["correct"], data.get("models", {}), out, args.lang)
    if args.lang == "en" and not (squad.SHARED / "train.json").exists():
        print(f"skipped: {squad.SHARED}/train.json not found")
        return 0
    from rag.answer import AskPipeline, Calibration
    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.lang == "fr":
            import fr_train

            fr_train.build(tmp / "docs")
            labelled = [LabelledQuestion(q["question"], q["answers"]) for q in fr_train.questions()]
        else:
            labelled = [LabelledQuestion(q.text, q.answers)
                        for q in squad.sample(squad.without_dev(squad.load("train", tmp / "docs")), args.limit)]
        settings = Settings(store=str(tmp / "store"), key_file=tmp / "key")
        run_ingest([tmp / "docs"], settings)
        assistant = Assistant.open(settings=settings)
        pipeline = AskPipeline(assistant.retriever, assistant.generator, k=settings.k,
                               calibration=Calibration({}, 0.0, 0.0))
        samples = collect(pipeline, labelled)
        models = assistant.model_names
    correct = [squad.f1(s.span, q.answers) for s, q in zip(samples, labelled)]
    RESULTS.mkdir(exist_ok=True)
    cache.write_text(json.dumps({"rows": [s.features for s in samples], "labels": [int(s.answerable) for s in samples],
                                 "gated": [s.gated for s in samples], "correct": correct, "models": models}))
    return write(samples, correct, models, out, args.lang)


def write(samples: list[Sample], correct: list[float], models: dict[str, str], out: Path, lang: str) -> int:
    calibration = fit(samples, fitted_on=FITTED_ON[lang])
    calibration.span = fit_span(samples, correct)
    calibration.models = models  # the assistant warns when it runs other models with this fit
    answered = [c for c, s in zip(correct, samples) if s.answerable]
    calibration.report["span_f1_answerable"] = sum(answered) / len(answered) if answered else 0.0
    out.write_text(json.dumps(calibration.to_dict(), indent=1) + "\n")
    print(json.dumps(calibration.to_dict(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
