"""Chunk: split text units into pieces that fit the embedder's window, measured in its own tokens."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from langchain_text_splitters import RecursiveCharacterTextSplitter

from rag.ingest.load import Unit

CHUNK_TOKENS = 200
OVERLAP_TOKENS = 16
# A chunk of 200 tokens is ~1,000 characters of prose; far more means an unbroken run (a base64
# blob, a minified line) that the tokenizer squeezes into one [UNK]: cut it so quotes stay readable.
MAX_CHUNK_CHARS = 4000
_UNBROKEN_RUN = re.compile(r"\S{%d}" % MAX_CHUNK_CHARS)


@dataclass
class Chunk:
    text: str
    page: int | None
    start: int  # character offsets into the page (PDF) or the file (text, Markdown)
    end: int
    headings: list[str] = field(default_factory=list)
    ocr: bool = False  # read from an image by OCR
    part: str | None = None  # an e-mail's attachment the text comes from

    def embedding_text(self) -> str:
        # The heading path tells the embedder what a section is about; the stored quote stays verbatim.
        return f"{' > '.join(self.headings)}\n{self.text}" if self.headings else self.text


class TokenCounter:
    """The embedder's own tokenizer (the fast Rust one: no torch in the parse worker)."""

    def __init__(self, model_dir: str):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(model_dir) / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()

    def content(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def with_specials(self, text: str) -> int:
        return len(self.tokenizer.encode(text).ids)


def make_splitter(counter: TokenCounter, chunk_tokens: int = CHUNK_TOKENS,
                  overlap_tokens: int = OVERLAP_TOKENS) -> RecursiveCharacterTextSplitter:
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_tokens, chunk_overlap=overlap_tokens, length_function=counter.content,
        add_start_index=True, separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""])


def chunk_units(units: list[Unit], splitter: RecursiveCharacterTextSplitter, counter: TokenCounter,
                max_tokens: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for unit in units:
        # Offsets by our own search: the splitter's add_start_index treats a token overlap as
        # characters and loses chunks (langchain-ai/langchain#29884). Pieces come in reading order.
        if _UNBROKEN_RUN.search(unit.text):
            # The splitter falls back to single characters on such runs: minutes on a 10 MB line.
            chunks.extend(_fit(Chunk(unit.text, unit.page, unit.offset, unit.offset + len(unit.text), unit.headings,
                                     unit.ocr, unit.part), counter, max_tokens))
            continue
        search = 0
        for piece in splitter.split_text(unit.text):
            index = unit.text.find(piece, search)
            search = index + 1
            start = unit.offset + index
            chunks.extend(_fit(Chunk(piece, unit.page, start, start + len(piece), unit.headings, unit.ocr, unit.part),
                               counter, max_tokens))
    return chunks


def _fit(chunk: Chunk, counter: TokenCounter, max_tokens: int) -> list[Chunk]:
    """Split again where merged pieces overshoot the window, so the model never truncates silently."""
    # Halving keeps the cost at O(n log n) tokenizer work even for a 10 MB unbroken line.
    if len(chunk.text) < 2 or (len(chunk.text) <= MAX_CHUNK_CHARS
                                and counter.with_specials(chunk.embedding_text()) <= max_tokens):
        return [chunk]
    cut = _cut_point(chunk.text)
    left = replace(chunk, text=chunk.text[:cut], end=chunk.start + cut)
    right = replace(chunk, text=chunk.text[cut:], start=chunk.start + cut)
    return _fit(left, counter, max_tokens) + _fit(right, counter, max_tokens)


def _cut_point(text: str) -> int:
    """Near the middle, at whitespace if there is any, else after punctuation, else anywhere."""
    half = len(text) // 2
    space = max(text.rfind(" ", 0, half), text.rfind("\n", 0, half))
    if space > 0:
        return space + 1
    for index in range(half - 1, max(0, half - 200), -1):
        if not text[index].isalnum():
            return index + 1
    return half
