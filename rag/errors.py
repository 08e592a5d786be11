"""The few exceptions a user can meet. Each message says what failed and how to fix it."""
from __future__ import annotations


class RagError(Exception):
    """An expected failure: shown as one line, never as a traceback."""

    exit_code = 2


class UsageError(RagError):
    pass


class KeyProblem(RagError):
    """Missing, unsafe or wrong key material."""


class StoreProblem(RagError):
    """The store is missing, empty, or was built by a different embedder."""


class IntegrityError(RagError):
    """A stored record failed its authentication check: tampered, moved or corrupted."""


class ModelProblem(RagError):
    """A model directory cannot be loaded."""


class FileFailed(Exception):
    """One input file could not be ingested; the batch goes on. The message is the reason."""
