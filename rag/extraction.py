"""What a generator returns for an extractive answer: its own module, so that every backend (rag/generate.py,
rag/remote_llm.py) can return it without importing another backend."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Extraction:
    """A span copied from the evidence, with the model's confidence in it."""

    text: str
    mean_logprob: float  # average log-probability of the span's tokens
    allowed_mass: float  # probability the model put on starting with some evidence token at all
