"""The embedder's routes: int8 (ONNX Runtime) must agree with fp32 well enough to rank the same way."""
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
