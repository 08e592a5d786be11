"""Run-time choice of precision and threads: the CPU differs from machine to machine."""
from __future__ import annotations

import ctypes
import functools
import os
from pathlib import Path


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def has_native_bf16() -> bool:
    # Without these, torch emulates bf16 and runs several times slower than fp32.
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def pick_dtype(precision: str):
    import torch

    # int8 is an embedder route (ONNX Runtime); torch models asked for it take the automatic choice.
    if precision == "bf16" or (precision in ("auto", "int8") and has_native_bf16()):
        return torch.bfloat16
    return torch.float32


def configure_threads() -> None:
    import torch

    threads = int(os.environ.get("RAG_THREADS", "0")) or len(os.sched_getaffinity(0))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def quiet_transformers() -> None:
    """Model-loading progress bars and advice are noise in a batch job's output."""
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def release_freed_memory() -> None:
    """Hand the C heap's freed pages back to the system (glibc keeps them otherwise): parsing a large
    tokenizer.json leaves about 190 MB freed but resident. A no-op where the C library has no malloc_trim."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)
