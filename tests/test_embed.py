"""The embedder's routes: int8 (ONNX Runtime) must agree with fp32 well enough to rank the same way."""
from pathlib import Path

import numpy as np
import pytest

from rag.embed import load_embedder
from rag.embed_onnx import int8_supported
from rag.settings import Settings

TEXTS = [
    "Employees receive 27 days of paid annual leave per calendar year.",
    "Passwords must be at least 14 characters long.",
    "The board meeting was chaired by Ingrid Solberg.",
    "Claims above the threshold go to a senior adjuster.",
]
QUESTIONS = ["How many vacation days do staff get?", "How long must a password be?",
             "Who chaired the board meeting?", "Who handles large claims?"]


@pytest.mark.skipif(not int8_supported(), reason="no ONNX Runtime int8 route on this CPU (needs AVX2 and onnx)")
def test_int8_route_ranks_like_fp32():
    cache = Settings.from_env().cache_dir
    int8 = load_embedder("default", "int8", cache)
    fp32 = load_embedder("default", "fp32", cache)
    assert int8.precision == "int8" and fp32.precision == "fp32"
    a, b = int8.encode(TEXTS), fp32.encode(TEXTS)
    assert a.shape == b.shape == (4, 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.97
    # Each question finds its own passage on both routes.
    for route in (int8, fp32):
        scores = route.encode(QUESTIONS) @ route.encode(TEXTS).T
        assert list(scores.argmax(axis=1)) == [0, 1, 2, 3]


def test_without_a_cache_dir_the_torch_route_is_used():
    assert load_embedder("default", "auto").precision in ("bf16", "fp32")


def _with_prompts(tmp_path: Path, prompts: dict) -> Path:
    """The packaged MiniLM's files under a new directory whose sentence-transformers config names prompts,
    as E5 and BGE-M3 style models do."""
    import json
    import shutil

    from rag.embed import default_embedder_dir

    model = tmp_path / "e5-style"
    shutil.copytree(default_embedder_dir(), model, symlinks=True)
    config = json.loads((model / "config_sentence_transformers.json").read_text())
    (model / "config_sentence_transformers.json").write_text(json.dumps({**config, "prompts": prompts}))
    return model


def test_a_model_that_names_query_and_passage_prompts_embeds_each_behind_its_own(tmp_path):
    model = load_embedder(str(_with_prompts(tmp_path, {"query": "query: ", "passage": "passage: "})), "fp32")
    plain = load_embedder("default", "fp32")
    assert (model.query_prompt, model.passage_prompt) == ("query: ", "passage: ")
    assert np.allclose(model.encode_queries(QUESTIONS[:1]), plain.encode(["query: " + QUESTIONS[0]]), atol=1e-5)
    assert np.allclose(model.encode(TEXTS[:1]), plain.encode(["passage: " + TEXTS[0]]), atol=1e-5)
    assert model.fingerprint != plain.fingerprint  # other prompts, other vectors: another store
    flagged = load_embedder(str(_with_prompts(tmp_path / "b", {})), "fp32", query_prompt="query: ",
                            passage_prompt="passage: ")
    assert flagged.fingerprint == model.fingerprint


def test_asking_a_store_with_other_prompts_than_it_was_built_with_is_a_clear_error(tmp_path):
    from rag.api import Assistant
    from rag.errors import StoreProblem
    from rag.ingest import run_ingest

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text(TEXTS[0] + "\n")
    settings = Settings(store=str(tmp_path / "store"), key_file=tmp_path / "key", passage_prompt="passage: ",
                        query_prompt="query: ")
    assert run_ingest([docs], settings).exit_code == 0
    with Assistant.open(settings=settings) as assistant:
        assert assistant.search(QUESTIONS[0], k=1)[0].source == "leave.md"
    with pytest.raises(StoreProblem, match="query_prompt 'query: '"):
        Assistant.open(settings=Settings(store=settings.store, key_file=settings.key_file))
