"""Clean text from every format, once, at load: what a quote shows is what a reader would type.

PDF extraction and word processors leave soft hyphens, ligatures ("ﬁ"), non-breaking and zero-width
spaces and control characters in text; they break matching and show up in quotes.
"""
from __future__ import annotations

import re
import unicodedata

_LIGATURES = {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
_SPACES = {c: " " for c in (0x00A0, 0x2007, 0x202F, 0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005,
                             0x2006, 0x2008, 0x2009, 0x200A, 0x205F, 0x3000)}
_INVISIBLE = dict.fromkeys((0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF))
# Control characters other than line breaks and tabs; PDFium writes \x02 for a hyphen where a word was broken.
_CONTROL = {c: None for c in range(32) if chr(c) not in "\n\t\r\x0c\x02"} | {0x7F: None}
_TABLE = str.maketrans({**_LIGATURES, **_SPACES, **_INVISIBLE, **_CONTROL})
# A word broken at a line end: "infor-\nmation", "infor\u00ad\nmation", PDFium's "infor\x02mation".
_BROKEN_WORD = re.compile(r"(?<=[a-zà-öø-ÿ])(?:-\n|\u00ad\n?|\x02\n?)(?=[a-zà-öø-ÿ])")
_LEFTOVER_BREAKS = re.compile(r"[\u00ad]|\x02")


def normalize(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x0c", "\n")
    text = text.translate(_TABLE)
    text = _BROKEN_WORD.sub("", text)
    # A hyphen marker left between other characters ("S\x02Plus") was a real hyphen at a line end.
    text = _LEFTOVER_BREAKS.sub(lambda m: "-" if m.group() == "\x02" else "", text)
    return unicodedata.normalize("NFC", text) if not unicodedata.is_normalized("NFC", text) else text

