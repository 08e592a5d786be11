"""Plain text and Markdown (a Markdown section keeps its heading path: "Minutes > Agenda > Budget")."""
from __future__ import annotations

import re

from rag.errors import FileFailed
from rag.ingest.formats.clean import normalize
from rag.ingest.load import Context, Unit


def load(data: bytes, context: Context) -> list[Unit]:
    text = normalize(decode(data))
    if context.name.lower().endswith((".md", ".markdown")):
        return markdown_sections(text)
    return [Unit(text)]


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFailed(f"not valid UTF-8 text (byte {exc.start}); convert it to UTF-8") from None


_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def markdown_sections(text: str) -> list[Unit]:
    """Split at headings, remembering the heading path of each section."""
    units: list[Unit] = []
    path: list[tuple[int, str]] = []
    start = 0
    position = 0
    in_fence = False
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line.rstrip("\n"))
        if match:
            if text[start:position].strip():
                units.append(Unit(text[start:position], headings=[h for _, h in path], offset=start))
            level = len(match.group(1))
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, match.group(2))]
            start = position
        position += len(line)
    if text[start:].strip():
        units.append(Unit(text[start:], headings=[h for _, h in path], offset=start))
    return units
