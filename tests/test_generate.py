"""Span scoring (rag/generate.py): the shared-prefix shortcut gives the scores a plain forward pass gives."""
import pytest

from rag.generate import _longest_chains


def test_only_the_longest_of_each_chain_of_prefixes_is_run():
    chains = _longest_chains([(1,), (1, 2), (1, 2, 3), (4, 5), (4,), (1, 3)])
    assert sorted(chains) == [(1, 2, 3), (1, 3), (4, 5)]


def test_whole_span_scores_match_a_plain_forward_pass(generator):
    import torch

    prompt = "Context:\n[1] The Harbour Bridge was completed in 1932 by the firm Dorman Long.\nQuestion: When?\nAnswer:"
    answers = ["1932", "1932 by the firm", "Dorman Long", "the firm Dorman Long"]
    totals, _ = generator._score(prompt, answers)
    ids = generator._encode(prompt, 16)
    for answer, total in zip(answers, totals):
        tail = generator.tokenizer.encode(" " + answer, add_special_tokens=False) + [generator.line_end]
        full = torch.cat([ids, torch.tensor([tail])], dim=1)
        with torch.inference_mode():
            logprobs = torch.log_softmax(generator.model(full).logits[0].float(), dim=-1)
        expected = sum(float(logprobs[ids.shape[1] - 1 + k, token]) for k, token in enumerate(tail))
        assert total == pytest.approx(expected, abs=1e-3), answer


def test_an_ineligible_answer_is_never_chosen_and_the_mass_still_counts_it(generator):
    prompt = ("Context:\n[1] The Harbour Bridge was completed in 1932 by the firm Dorman Long.\n"
              "Question: Which firm built the Harbour Bridge?\nAnswer:")
    answers = ["Dorman Long", "1932", "the firm Dorman Long"]
    free = generator.choose(prompt, answers)
    assert "Dorman Long" in free.text
    # what a "what year" question may take: only the year
    year = generator.choose(prompt, answers, eligible=[False, True, False])
    assert year.text == "1932" and year.mean_logprob < free.mean_logprob
    assert year.allowed_mass == pytest.approx(free.allowed_mass)
