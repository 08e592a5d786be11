"""Pick random candidate pages from the seven R 4.2.2 manuals for the rmanuals question set.

Pages are read exactly as the product reads them (pypdfium2, get_text_bounded on the 1-based
physical page), weighted by page count, with a fixed seed, skipping pages with little prose
(title pages, tables of contents, index pages). The question writer used the pages in the order
printed and skipped a page only if it offered no fair short-answer question.

    .venv/bin/python bench/rmanuals_pages.py [--n 110] [--seed 2026] [--dir /work/shared/corpora/r-manuals]
"""
from __future__ import annotations

import argparse
import random
import re
from pathlib import Path

import pypdfium2 as pdfium

MANUALS = ["R-FAQ.pdf", "R-admin.pdf", "R-data.pdf", "R-exts.pdf", "R-intro.pdf", "R-ints.pdf", "R-lang.pdf"]
MIN_CHARS = 400
DOT_LEADERS = re.compile(r"\.\s?\.\s?\.\s?\.")  # ". . . ." in tables of contents


def page_texts(path: Path) -> list[str]:
    document = pdfium.PdfDocument(str(path))
    try:
        return [document[i].get_textpage().get_text_bounded() for i in range(len(document))]
    finally:
        document.close()


def usable(text: str) -> bool:
    """Enough prose to ask about: not a title, table-of-contents or index page."""
    if len(text.strip()) < MIN_CHARS:
        return False
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if sum(1 for ln in lines if DOT_LEADERS.search(ln)) > len(lines) / 4:
        return False  # table of contents
    if re.search(r"^\s*(Appendix [A-Z] )?(Function and variable index|Concept index|Variable index|"
                 r"Function index|Index)\s*$", text, re.M | re.I) and text.count(",") > 40:
        return False  # index page
    if sum(1 for ln in lines if re.search(r"\d+\s*$", ln)) > len(lines) * 0.6:
        return False  # index continuation: nearly every line ends in a page number
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/work/shared/corpora/r-manuals")
    ap.add_argument("--n", type=int, default=110)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()

    texts = {name: page_texts(Path(args.dir) / name) for name in MANUALS}
    # Every page of every manual is one ticket, so each manual is weighted by its page count.
    tickets = [(name, number) for name in MANUALS for number in range(1, len(texts[name]) + 1)]
    rng = random.Random(args.seed)
    rng.shuffle(tickets)
    picked = []
    for name, number in tickets:
        if usable(texts[name][number - 1]):
            picked.append((name, number))
        if len(picked) == args.n:
            break
    for i, (name, number) in enumerate(picked, 1):
        print(f"==== pick {i:03d}  {name}  page {number} ====")
        print(texts[name][number - 1])
        print()


if __name__ == "__main__":
    main()
