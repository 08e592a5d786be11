"""Span scoring (rag/generate.py): the shared-prefix shortcut gives the scores a plain forward pass gives."""
import pytest

from rag.generate import _longest_chains


def test_only_the_longest_of_each_chain_of_prefixes_is_run():
    chains = _longest_chains([(1,), (1, 2), (1, 2, 3), (4, 5), (4,), (1, 3)])
    assert sorted(chains) == [(1, 2, 3), (1, 3), (4, 5)]


@pytest.fixture(scope="module")
def exact_generator():
    """The default model in fp32 whatever the CPU: bf16 rounds a batched or cached pass differently from a
    plain one (up to 0.3 in log-probability), which would hide whether the two compute the same thing."""
    from rag.generate import load_generator
    from rag.settings import Settings

    return load_generator("default", Settings.from_env().cache_dir, precision="fp32")


def _plain_scores(generator, prompt: str, answers: list[str]) -> list[float]:
    """log P(answer, end of answer | prompt), one whole forward pass per answer and no cache."""
    import torch

    ids = generator._encode(prompt, 16)
    scores = []
    for answer in answers:
        tail = generator.tokenizer.encode(" " + answer, add_special_tokens=False) + [generator.line_end]
        full = torch.cat([ids, torch.tensor([tail])], dim=1)
        with torch.inference_mode():
            logprobs = torch.log_softmax(generator.model(full).logits[0].float(), dim=-1)
        scores.append(sum(float(logprobs[ids.shape[1] - 1 + k, token]) for k, token in enumerate(tail)))
    return scores


def test_whole_span_scores_match_a_plain_forward_pass(exact_generator):
    prompt = "Context:\n[1] The Harbour Bridge was completed in 1932 by the firm Dorman Long.\nQuestion: When?\nAnswer:"
    answers = ["1932", "1932 by the firm", "Dorman Long", "the firm Dorman Long"]
    totals, _ = exact_generator._score(prompt, answers)
    assert totals == pytest.approx(_plain_scores(exact_generator, prompt, answers), abs=1e-3)


def test_questions_in_a_row_score_as_if_each_came_first(exact_generator):
    # The pipeline's prompts share their instruction and examples, whose cache is kept across
    # questions: scores must not depend on what was asked before.
    from rag.language.english import ENGLISH

    start = f"{ENGLISH.prompt.instruction}\n\n{ENGLISH.prompt.examples}Context:\n[1] "
    asked = [("The ferry leaves Bergen at 7 am and reaches Stavanger at noon.", "When does the ferry leave?",
              ["7 am", "Bergen at 7 am", "noon"]),
             ("The Harbour Bridge was completed in 1932 by the firm Dorman Long.", "Who built the bridge?",
              ["Dorman Long", "the firm Dorman Long", "1932"]),
             ("Claims above 500 euros need a manager's signature.", "What needs a signature?",
              ["Claims above 500 euros", "a manager's signature"])]
    for sentence, question, answers in asked * 2:
        prompt = f"{start}{sentence}\nQuestion: {question}\nAnswer:"
        totals, _ = exact_generator._score(prompt, answers)
        assert totals == pytest.approx(_plain_scores(exact_generator, prompt, answers), abs=1e-3), question
    assert exact_generator._shared is not None and len(exact_generator._shared[0]) >= 100  # the start was reused


def test_the_likeliest_whole_answer_is_chosen(exact_generator):
    prompt = ("Context:\n[1] The Harbour Bridge was completed in 1932 by the firm Dorman Long.\n"
              "Question: Which firm built the Harbour Bridge?\nAnswer:")
    chosen = exact_generator.choose(prompt, ["1932", "Dorman Long", "the firm Dorman Long"])
    assert "Dorman Long" in chosen.text and 0.0 < chosen.allowed_mass <= 1.0


def test_unknown_is_likelier_when_the_sentence_does_not_answer_the_question(generator):
    from rag.answer import AskPipeline
    from rag.language.english import ENGLISH

    pipeline = AskPipeline(None, generator)
    canteen = "The new canteen opens at 8 am on weekdays and at 10 am on Saturdays."
    visitors = "Visitors must sign in at the front desk and wear a badge at all times."
    assert pipeline.unknown_margin("When does the canteen open on Sundays?", canteen, "10 am", ENGLISH) > \
        pipeline.unknown_margin("When does the canteen open on Saturdays?", canteen, "10 am", ENGLISH)
    assert pipeline.unknown_margin("Where must visitors park their cars?", visitors, "at the front desk", ENGLISH) > \
        pipeline.unknown_margin("Where must visitors sign in?", visitors, "at the front desk", ENGLISH)
