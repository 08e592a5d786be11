"""A store's own calibration: labelled questions in, an authenticated fit beside the store out."""
from __future__ import annotations

import json
import random
import shutil
import warnings
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag.answer import CALIBRATED_FEATURES, Calibration, Draft
from rag.calibrate import MIN_PER_CLASS, LabelledQuestion, Sample, fit, read_questions, run_calibrate
from rag.fitted import STORE_CALIBRATION, load_for_store, save_for_store
from rag.errors import IntegrityError, UsageError
from rag.store.keyring import Keyring

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"embedder": "all-MiniLM-L6-v2", "llm": "gemma"}


def test_reads_jsonl_with_one_answer_several_or_none(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "How long?", "answer": "3 days"}\n\n'
                    '{"question": "Who?", "answers": ["Ada", "Ada Lovelace"]}\n'
                    '{"question": "Where?", "answer": null}\n')
    assert read_questions(path) == [LabelledQuestion("How long?", ["3 days"]),
                                    LabelledQuestion("Who?", ["Ada", "Ada Lovelace"]),
                                    LabelledQuestion("Where?", [])]


def test_reads_squad_files(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [{"context": "c", "qas": [
        {"id": "1", "question": "Q1?", "answers": [{"text": "a", "answer_start": 0}]},
        {"id": "2", "question": "Q2?", "answers": [], "is_impossible": True}]}]}]}))
    assert [q.answerable for q in read_questions(path)] == [True, False]


def test_a_bad_line_is_named(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "How long?", "answer": "3 days"}\n{"answer": "no question"}\n')
    with pytest.raises(UsageError, match=r"q.jsonl:2"):
        read_questions(path)


def test_too_few_labelled_questions_is_one_line_and_exit_2_before_any_model_loads(tmp_path):
    from conftest import run_cli

    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "How long?", "answer": "3 days"}\n{"question": "Where?", "answer": null}\n')
    result = run_cli("-m", "rag.calibrate", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {path} has 1 answered and 1 unanswered questions; give at least {MIN_PER_CLASS} of each"]


def _samples(n: int, seed: int = 0) -> list[Sample]:
    """Answerable questions have stronger evidence on average, with overlap, as in real data."""
    rng = random.Random(seed)
    samples = []
    for i in range(n):
        answerable = i % 2 == 0
        centre = 0.6 if answerable else 0.4
        features = {name: rng.gauss(centre, 0.15) for name in CALIBRATED_FEATURES}
        samples.append(Sample(features, answerable, ""))
    return samples


def test_fit_keeps_false_abstention_within_budget_and_ranks_held_out_questions():
    calibration = fit(_samples(400), budget=0.1)
    assert calibration.report["false_abstention"] <= 0.1
    assert calibration.report["abstention_recall"] > 0.5
    held_out = _samples(400, seed=1)
    answered = [s for s in held_out if s.answerable]
    unanswered = [s for s in held_out if not s.answerable]
    pairs = [(a, u) for a in answered[:50] for u in unanswered[:50]]
    wins = sum(calibration.probability(a.features) > calibration.probability(u.features) for a, u in pairs)
    assert wins / len(pairs) > 0.9


def test_answerable_questions_the_gates_refuse_count_against_the_budget():
    samples = _samples(400)
    for sample in samples[:40:2]:  # 20 of the 200 answerable ones already fail a gate
        sample.gated = False
    calibration = fit(samples, budget=0.1)
    assert calibration.report["false_abstention"] <= 0.1
    assert calibration.report["false_abstention"] >= 0.1 - 2 / 200  # the rest of the budget is used
    assert calibration.report["abstention_recall"] > 0.3


def test_a_feature_the_generator_cannot_give_counts_at_its_fitted_mean():
    """A server cannot score "unknown" against the span: its questions are judged as if that look were average."""
    calibration = fit(_samples(400), budget=0.1)
    features = _samples(2, seed=3)[0].features
    without = {k: v for k, v in features.items() if k != "unknown_margin"}
    average = {**features, "unknown_margin": calibration.neutral["unknown_margin"]}
    assert abs(calibration.neutral["unknown_margin"] - 0.5) < 0.05
    assert calibration.probability(without) == calibration.probability(average)
    assert Calibration.from_dict(calibration.to_dict()).neutral == calibration.neutral


def test_store_calibration_round_trips_and_refuses_a_changed_file(tmp_path):
    keyring = Keyring.new()
    calibration = Calibration({"top_score": 2.0}, -1.0, 0.4, "mine", {"questions": 30}, models=MODELS)
    save_for_store(calibration, tmp_path, keyring)
    assert load_for_store(tmp_path, keyring, MODELS) == calibration

    path = tmp_path / STORE_CALIBRATION
    doc = json.loads(path.read_text())
    doc["threshold"] = 0.0  # would turn every abstention into a guess
    path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match="was changed"):
        load_for_store(tmp_path, keyring, MODELS)


def test_another_stores_key_does_not_vouch_for_the_file(tmp_path):
    save_for_store(Calibration({}, 0.0, 0.5, models=MODELS), tmp_path, Keyring.new())
    with pytest.raises(IntegrityError):
        load_for_store(tmp_path, Keyring.new(), MODELS)


def test_a_fit_for_other_models_warns(tmp_path):
    keyring = Keyring.new()
    save_for_store(Calibration({}, 0.0, 0.5, models=MODELS), tmp_path, keyring)
    with pytest.warns(UserWarning, match="refit"):
        load_for_store(tmp_path, keyring, {**MODELS, "llm": "bigger-model"})


def test_no_store_calibration_means_the_packaged_one(tmp_path):
    assert load_for_store(tmp_path, Keyring.new(), MODELS) is None


def test_the_packaged_fit_is_for_the_default_models_and_another_model_is_told_to_fit_its_own(assistant, demo_store):
    """A stronger --llm scores evidence on its own scale, so the packaged threshold could let it answer
    far too much or too little: the user is told how to fit one, once per assistant."""
    from rag.api import Assistant

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert assistant.calibration == Calibration.load()
    other = Assistant(demo_store, assistant.keyring, assistant.store, assistant.embedder,
                      SimpleNamespace(name="bigger-model"))
    with pytest.warns(UserWarning, match="not bigger-model: fit one for this store with python -m rag.calibrate"):
        assert other.calibration == Calibration.load()


def test_calibrating_a_store_changes_what_its_answers_are_judged_by(tmp_path, demo_store, capsys):
    """End to end with the real models: the demo's labelled questions refit the store, and the
    assistant that opens the store next uses that fit."""
    from rag.api import Assistant

    store = tmp_path / "store"
    shutil.copytree(demo_store.store, store)
    settings = replace(demo_store, store=str(store))
    fitted = run_calibrate(settings, ROOT / "data" / "calibration-questions.jsonl")

    assert (fitted.report["questions"], fitted.report["answerable"]) == (24, 12)
    assert "saved" in capsys.readouterr().out
    with Assistant.open(settings=settings) as assistant:
        assert assistant.calibration == fitted
        answer = assistant.ask("How long must passwords be?")
        # Asked again, the prompt's start comes from the kept cache: in bf16 that rounds a little differently.
        assert answer.confidence == pytest.approx(fitted.probability(
            assistant.pipeline.extract(assistant.pipeline.retrieve(answer.question)).features), abs=0.01)
        assert "calibrate" in (store / "audit.log").read_text()


def _decided(calibration: Calibration, question: str, language) -> Draft:
    """A draft that passes every other gate, decided with `calibration`: its threshold says which fit judged it."""
    from rag.answer import AskPipeline
    from rag.retrieve import Passage

    text = "Les agents disposent de 27 jours de congés. Staff get 27 days of leave."
    passage = Passage(id="c1", text=text, source="doc.md", page=None, start=0, end=len(text), score=0.6)
    draft = Draft(question, [passage], language, span="27 jours", passage=passage, quote=text,
                  features={name: 0.5 for name in CALIBRATED_FEATURES})
    AskPipeline(retriever=None, generator=None, calibration=calibration).decide(draft)
    return draft


def test_a_french_question_is_judged_by_the_french_fit_and_an_english_one_by_the_english_fit(tmp_path, monkeypatch):
    """Packaged fits are found by language code beside the English one (`make calibrate-fr` writes the French one)."""
    import rag.answer
    from rag.language.english import ENGLISH
    from rag.language.french import FRENCH

    monkeypatch.setattr(rag.answer, "CALIBRATION_FILE", tmp_path / "calibration.json")
    english = Calibration({"top_score": 1.0}, -0.5, 0.36, "SQuAD train")
    french = Calibration({"sentence_similarity": 1.5}, 0.4, 0.49, "French training set")
    (tmp_path / "calibration.json").write_text(json.dumps(english.to_dict()))
    assert Calibration.load().by_language == {}  # no French fit: English judges French questions too
    (tmp_path / "calibration.fr.json").write_text(json.dumps(french.to_dict()))
    packaged = Calibration.load()
    assert packaged.for_language("fr") == french and packaged.for_language("en") is packaged

    in_french = _decided(packaged, "Combien de jours de congés ont les agents ?", FRENCH)
    in_english = _decided(packaged, "How many days of leave do staff get?", ENGLISH)
    assert (in_french.threshold, in_french.confidence) == (0.49, french.probability(in_french.features))
    assert (in_english.threshold, in_english.confidence) == (0.36, english.probability(in_english.features))


def test_a_stores_own_fit_judges_questions_in_every_language(tmp_path):
    """It was fitted on that store's own questions, whatever their language: it replaces every packaged fit."""
    from rag.language.english import ENGLISH
    from rag.language.french import FRENCH

    keyring = Keyring.new()
    save_for_store(Calibration({"top_score": 1.0}, 0.0, 0.55, "mine", models=MODELS), tmp_path, keyring)
    own = load_for_store(tmp_path, keyring, MODELS)
    assert own.by_language == {}
    for question, language in (("Combien de jours de congés ont les agents ?", FRENCH),
                               ("How many days of leave do staff get?", ENGLISH)):
        assert _decided(own, question, language).threshold == 0.55
