"""Chunk: split text units into pieces that fit the embedder's window, measured in its own tokens."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ingest.load import Unit

CHUNK_TOKENS = 200
OVERLAP_TOKENS = 16


@dataclass
class Chunk:
    text: str
    page: int | None
    start: int  # character offsets into the page (PDF) or the file (text, Markdown)
    end: int
    headings: list[str] = field(default_factory=list)

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
        search = 0
        for piece in splitter.split_text(unit.text):
            index = unit.text.find(piece, search)
            search = index + 1
            start = unit.offset + index
            chunks.extend(_fit(Chunk(piece, unit.page, start, start + len(piece), unit.headings), counter, max_tokens))
    return chunks


def _fit(chunk: Chunk, counter: TokenCounter, max_tokens: int) -> list[Chunk]:
    """Split again where merged pieces overshoot the window, so the model never truncates silently."""
    if counter.with_specials(chunk.embedding_text()) <= max_tokens or len(chunk.text) < 2:
        return [chunk]
    half = len(chunk.text) // 2
    cut = chunk.text.rfind(" ", 0, half) + 1 or half
    left = Chunk(chunk.text[:cut], chunk.page, chunk.start, chunk.start + cut, chunk.headings)
    right = Chunk(chunk.text[cut:], chunk.page, chunk.start + cut, chunk.end, chunk.headings)
    return _fit(left, counter, max_tokens) + _fit(right, counter, max_tokens)
