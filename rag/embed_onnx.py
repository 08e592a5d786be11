"""The int8 route for the embedder: an ONNX Runtime graph with per-channel int8 weights.

Built once from the local sentence-transformers directory (export, fuse, quantise: ~10 s) and
cached beside the converted generator, under a lock, with a COMPLETE marker. Per-channel weights
matter: per-tensor int8 moves MiniLM vectors to cosine ~0.90 of fp32, per-channel keeps ~0.99.
A built graph is used only if it passes a quality gate against fp32 on a fixed probe set; a
graph that fails is recorded as rejected and the caller falls back to torch.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

_COMPLETE = "COMPLETE"
_REJECTED = "REJECTED"
MIN_MEAN_COSINE = 0.98  # bf16 torch reaches 0.998; below ~0.98 page-hit@3 starts to drop
MIN_COSINE = 0.93

# Short and long, prose and code-like, so the gate sees the shapes a manual or a policy has.
_PROBES = (
    "How many days of paid annual leave do employees get?",
    "Passwords must be at least fourteen characters long and are never reused.",
    "The board approved the budget for the next financial year after a short discussion.",
    "lm(formula, data, subset, weights, na.action, method = \"qr\", model = TRUE)",
    "Returns a list with components coefficients, residuals, effects and rank.",
    "When was the first treaty signed, and which countries took part in it?",
    "If the file cannot be opened, an error is raised and the connection is closed.",
    "The Normans gave their name to Normandy, a region in the north of France. " * 6,
    "Claims above the threshold are escalated to a senior adjuster within two working days.",
    "R CMD INSTALL --library=/usr/local/lib/R/site-library pkg_1.0.tar.gz",
    "What does the function return when the input vector is empty?",
    "Employees may carry over up to five unused days into the next calendar year, provided "
    "their manager agrees in writing before the end of November.",
)


def int8_supported() -> bool:
    """ONNX Runtime's int8 kernels pay off with AVX2 (VNNI makes them faster still)."""
    import importlib.util

    from rag.hardware import cpu_flags

    # Looked up, not imported: importing onnx (needed only to build the graph once) costs a second per ask.
    if importlib.util.find_spec("onnx") is None or importlib.util.find_spec("onnxruntime") is None:
        return False
    return "avx2" in cpu_flags()


def int8_graph(model_dir: Path, fingerprint: str, cache_dir: Path) -> Path | None:
    """The cached int8 graph for this embedder, built on first use; None if it failed the gate."""
    from filelock import FileLock

    target = Path(cache_dir) / "models" / f"{model_dir.name}-int8-{fingerprint}"
    if (target / _COMPLETE).exists():
        return target / "model.onnx"
    if (target / _REJECTED).exists():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / _COMPLETE).exists():
            return target / "model.onnx"
        if (target / _REJECTED).exists():
            return None
        print("preparing the int8 embedder once (about 15 seconds)...", file=sys.stderr)
        shutil.rmtree(target, ignore_errors=True)
        work = Path(tempfile.mkdtemp(prefix=".int8-", dir=target.parent))
        try:
            with _quiet():
                _build(model_dir, work)
                verdict = _quality_gate(model_dir, work / "model.onnx")
            for leftover in work.iterdir():
                if leftover.name != "model.onnx":
                    leftover.unlink()
            if verdict["passed"]:
                (work / _COMPLETE).write_text(json.dumps(verdict) + "\n")
            else:
                (work / "model.onnx").unlink()
                (work / _REJECTED).write_text(json.dumps(verdict) + "\n")
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target / "model.onnx" if (target / _COMPLETE).exists() else None


@contextlib.contextmanager
def _quiet():
    """Export and quantisation print tracer warnings and advice meant for model authors, not users."""
    from rag.hardware import quiet_transformers

    quiet_transformers()
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _build(model_dir: Path, work: Path) -> None:
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(model_dir, local_files_only=True)
    bert = AutoModel.from_pretrained(model_dir, attn_implementation="eager", local_files_only=True).eval()

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            # Keyword arguments: transformers 5 changed the positional order.
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    example = torch.ones((2, 16), dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    torch.onnx.export(Encoder(), (example, example, torch.zeros_like(example)), str(work / "fp32.onnx"),
                      input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["hidden"],
                      dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                                    "hidden": axes},
                      opset_version=17, dynamo=False)
    fused = optimize_model(str(work / "fp32.onnx"), model_type="bert", num_heads=config.num_attention_heads,
                           hidden_size=config.hidden_size)
    fused.save_model_to_file(str(work / "fused.onnx"))
    quantize_dynamic(str(work / "fused.onnx"), str(work / "model.onnx"), per_channel=True, reduce_range=False,
                     weight_type=QuantType.QInt8,
                     # The fused attention ops have no shape inference; without this, quantisation fails.
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _quality_gate(model_dir: Path, graph: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    expected = reference.encode(list(_PROBES), normalize_embeddings=True, convert_to_numpy=True)
    got = OnnxSession(graph, model_dir, int(reference.max_seq_length)).encode(_PROBES)
    cosines = np.sum(expected * got, axis=1)
    passed = bool(cosines.mean() >= MIN_MEAN_COSINE and cosines.min() >= MIN_COSINE)
    return {"passed": passed, "mean_cosine": round(float(cosines.mean()), 4),
            "min_cosine": round(float(cosines.min()), 4)}


class OnnxSession:
    """Tokenise, run the graph, mean-pool over real tokens, L2-normalise: what MiniLM's pipeline does."""

    def __init__(self, graph: Path, model_dir: Path, max_tokens: int, batch_size: int = 32):
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("RAG_THREADS", "0")) or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        # tokenizer.json ships with truncation at 128; the model's window is what counts.
        self.tokenizer.enable_truncation(max_tokens)
        self.tokenizer.no_padding()
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), 0), dtype=np.float32)
        # Similar lengths share a batch, so padding (wasted attention) stays small.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        for start in range(0, len(order), self.batch_size):
            members = order[start:start + self.batch_size]
            width = max(len(encodings[i].ids) for i in members)
            ids = np.zeros((len(members), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for row, i in enumerate(members):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            hidden = self.session.run(None, {"input_ids": ids, "attention_mask": mask,
                                             "token_type_ids": np.zeros_like(ids)})[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
            if out.shape[1] == 0:
                out = np.zeros((len(texts), pooled.shape[1]), dtype=np.float32)
            out[members] = pooled
        return out
