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
    prompts = [(f"{start}{sentence}\nQuestion: {question}\nAnswer:", question, answers)
               for sentence, question, answers in asked]
    plain = {prompt: _plain_scores(exact_generator, prompt, answers) for prompt, _, answers in prompts}
    for prompt, question, answers in prompts * 2:
        totals, _ = exact_generator._score(prompt, answers)
        assert totals == pytest.approx(plain[prompt], abs=1e-3), question
    assert max(map(len, exact_generator._starts)) >= 100  # the start was reused


def test_a_prompt_scores_exactly_the_same_whatever_was_asked_before(generator):
    """In the generator's own precision, to the last bit: a warm process answers as a fresh one would."""
    from rag.language.english import ENGLISH

    start = f"{ENGLISH.prompt.instruction}\n\n{ENGLISH.prompt.examples}Context:\n[1] "
    prompt = f"{start}Claims above 500 euros need a manager's signature.\nQuestion: What needs a signature?\nAnswer:"
    other = f"{start}The ferry leaves Bergen at 7 am.\nQuestion: When does the ferry leave?\nAnswer:"
    answers = ["Claims above 500 euros", "a manager's signature"]
    generator._starts.clear()  # as in a process that has asked nothing yet
    first = generator.score(prompt, answers)
    generator.score(other, ["7 am", "Bergen"])
    assert generator.score(prompt, answers) == first


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


# -- the default model's cache: forms that load fast, and the same answers as the model converted on loading --

def _tiny_weights(folder):
    """A model.safetensors of two small fp32 tensors: enough for the bf16 copy's bookkeeping."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    save_file({"a.weight": torch.randn(8, 4), "b.bias": torch.randn(4)}, str(folder / "model.safetensors"),
              metadata={"format": "pt"})
    return folder


def test_the_bf16_copy_is_made_once_then_reused(tmp_path):
    import torch
    from safetensors.torch import load_file

    from rag.generate import default_llm_variant

    folder = _tiny_weights(tmp_path / "model")
    assert default_llm_variant(folder, torch.float32) is None  # fp32 loads the converted weights as they are
    assert not (folder / "model.bf16.safetensors").exists()
    assert default_llm_variant(folder, torch.bfloat16) == "bf16"
    made = (folder / "model.bf16.safetensors").stat()
    source, copy = load_file(str(folder / "model.safetensors")), load_file(str(folder / "model.bf16.safetensors"))
    assert all(torch.equal(copy[name], tensor.to(torch.bfloat16)) for name, tensor in source.items())
    assert default_llm_variant(folder, torch.bfloat16) == "bf16"
    assert (folder / "model.bf16.safetensors").stat().st_ino == made.st_ino  # not written again


@pytest.mark.parametrize("damage", ["truncated", "garbage", "fp32"])
def test_a_damaged_bf16_copy_is_made_again_with_a_message(tmp_path, capsys, damage):
    import torch
    from safetensors.torch import save_file

    from rag.generate import _unreadable_bf16, default_llm_variant

    folder = _tiny_weights(tmp_path / "model")
    copy = folder / "model.bf16.safetensors"
    default_llm_variant(folder, torch.bfloat16)
    if damage == "truncated":
        copy.write_bytes(copy.read_bytes()[:-10])
    elif damage == "garbage":
        copy.write_bytes(b"not a safetensors file")
    else:
        save_file({"a.weight": torch.randn(8, 4), "b.bias": torch.randn(4)}, str(copy))
    capsys.readouterr()
    assert default_llm_variant(folder, torch.bfloat16) == "bf16"
    message = capsys.readouterr().err
    assert f"the cached bf16 weights {copy} are unreadable" in message and "making them again" in message
    assert _unreadable_bf16(folder) is None


def test_a_cache_that_cannot_be_written_converts_on_loading(tmp_path, monkeypatch):
    import torch

    import rag.generate as generate

    def read_only(path, write):
        raise PermissionError(13, "Read-only file system")

    monkeypatch.setattr(generate, "_replace", read_only)
    folder = _tiny_weights(tmp_path / "model")
    assert generate.default_llm_variant(folder, torch.bfloat16) is None
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "GemmaTokenizer"}')
    generate._fast_tokenizer(folder)  # no error: the tokenizer loads the slower way
    assert "GemmaTokenizer" in (folder / "tokenizer_config.json").read_text()


@pytest.mark.parametrize("old", ['{"tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>"}', "{not json", None])
def test_an_older_or_damaged_tokenizer_config_is_replaced(tmp_path, old):
    import json

    from rag.generate import _FAST_TOKENIZER_CONFIG, _fast_tokenizer

    config = tmp_path / "tokenizer_config.json"
    if old is not None:
        config.write_text(old)
    _fast_tokenizer(tmp_path)
    assert json.loads(config.read_text()) == _FAST_TOKENIZER_CONFIG


def test_the_fast_tokenizer_tokenizes_as_gemmas_own(tmp_path):
    """The cached config loads the generic backend; Gemma's own class (as converted) must give the same ids
    and texts on prose, code, special and unused tokens, and odd whitespace."""
    import shutil

    from transformers import AutoTokenizer

    from conftest import DEMO_DOCS, ROOT
    from rag.generate import default_llm_dir
    from rag.settings import Settings

    cached = default_llm_dir(Settings.from_env().cache_dir)
    original = tmp_path / "gemma"
    original.mkdir()
    shutil.copy(cached / "tokenizer.json", original)
    (original / "tokenizer_config.json").write_text(
        '{"backend": "tokenizers", "tokenizer_class": "GemmaTokenizer", "bos_token": "<bos>", "eos_token": "<eos>", '
        '"pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}')
    fast = AutoTokenizer.from_pretrained(cached, local_files_only=True)
    gemma = AutoTokenizer.from_pretrained(original, local_files_only=True)
    assert type(gemma).__name__ == "GemmaTokenizer" and type(fast).__name__ == "TokenizersBackend"
    for attribute in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "all_special_ids",
                      "padding_side", "model_max_length", "chat_template"):
        assert getattr(fast, attribute) == getattr(gemma, attribute), attribute
    assert fast.get_vocab() == gemma.get_vocab()
    assert {i: repr(t) for i, t in fast.added_tokens_decoder.items()} == \
        {i: repr(t) for i, t in gemma.added_tokens_decoder.items()}
    texts = ["", "\n", " leading and  double  spaces\ttab", "<bos>a<eos><pad><mask>", "<start_of_turn>user\nhi",
             "<unused17> émoji 🤖 中文 ∑ 58 000 €", "Employees accrue 27 days of paid annual leave."]
    for path in [*DEMO_DOCS.rglob("*.md"), ROOT / "rag" / "generate.py"]:
        texts += path.read_text().split("\n\n")
    for text in texts:
        for special in (True, False):
            ids = gemma.encode(text, add_special_tokens=special)
            assert fast.encode(text, add_special_tokens=special) == ids, text
            assert fast.decode(ids) == gemma.decode(ids)
            assert fast.decode(ids, skip_special_tokens=True) == gemma.decode(ids, skip_special_tokens=True)


def test_the_cached_forms_give_the_answers_the_converted_model_gives(assistant):
    """The default generator loads the cached forms (the bf16 copy where this CPU computes in bf16); one loaded
    from the fp32 weights, converted on loading, must hold the same weights and answer the same. Both are fresh:
    a generator keeps the cache of earlier prompts' shared start, which rounds bf16 slightly differently."""
    import torch

    from rag.answer import AskPipeline
    from rag.generate import LocalGenerator, load_generator

    cached = load_generator("default", assistant.settings.cache_dir)
    converted = LocalGenerator(cached.model_dir, "auto", variant=None)
    ours, theirs = cached.model.state_dict(), converted.model.state_dict()
    assert ours.keys() == theirs.keys()
    assert all(ours[name].dtype == theirs[name].dtype and torch.equal(ours[name], theirs[name]) for name in ours)
    pipeline = assistant.pipeline
    answers = {}
    for name, generator in (("cached", cached), ("converted", converted)):
        asking = AskPipeline(pipeline.retriever, generator, k=pipeline.k, calibration=pipeline.calibration,
                             max_new_tokens=assistant.settings.max_new_tokens, mode=assistant.settings.mode)
        answers[name] = [asking.ask(question).to_dict() for question in (
            "How many days of paid annual leave do employees get?", "What is the parking fee at the Bergen office?")]
        for answer in answers[name]:
            answer.pop("timings")
    assert answers["cached"] == answers["converted"]
