"""Validate the rmanuals question set (bench/data/rmanuals_{design,heldout}.json).

Checks: ids unique across both halves; answerable questions name a manual and an existing 1-based
page, and every gold answer occurs in that page's text (pypdfium2 get_text_bounded, as the product
reads it; whitespace-normalised, case-insensitive); unanswerable questions have no file, page or
answers. Prints counts only, and on failure only ids, files and pages, never question or answer
text, so running it does not expose the held-out half.

    .venv/bin/python bench/check_rmanuals.py [--dir /work/shared/corpora/r-manuals]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pypdfium2 as pdfium

DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("design", "heldout")


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/work/shared/corpora/r-manuals")
    args = ap.parse_args()

    pages: dict[str, list[str]] = {}

    def page_text(name: str, number: int) -> str | None:
        if name not in pages:
            path = Path(args.dir) / name
            if not path.exists():
                return None
            doc = pdfium.PdfDocument(str(path))
            pages[name] = [norm(doc[i].get_textpage().get_text_bounded()) for i in range(len(doc))]
            doc.close()
        texts = pages[name]
        return texts[number - 1] if 1 <= number <= len(texts) else None

    problems, seen = [], set()
    for split in SPLITS:
        blob = json.loads((DATA / f"rmanuals_{split}.json").read_text())
        if blob.get("split") != split:
            problems.append(f"{split}: split field is {blob.get('split')!r}")
        qs = blob["questions"]
        for q in qs:
            qid = q["id"]
            if qid in seen:
                problems.append(f"duplicate id {qid}")
            seen.add(qid)
            if not q["question"].strip():
                problems.append(f"{qid}: empty question")
            if q["answerable"]:
                if not q["answers"] or len(q["answers"]) > 3:
                    problems.append(f"{qid}: needs 1-3 answers")
                text = page_text(q["file"], q["page"]) if q["file"] and q["page"] else None
                if text is None:
                    problems.append(f"{qid}: no such page {q['file']} p{q['page']}")
                    continue
                for k, answer in enumerate(q["answers"]):
                    if norm(answer) not in text:
                        problems.append(f"{qid}: answer #{k} not on {q['file']} p{q['page']}")
            elif q["answers"] or q["file"] is not None or q["page"] is not None:
                problems.append(f"{qid}: unanswerable question must have answers [] and file/page null")
        n_ans = sum(q["answerable"] for q in qs)
        per_file = Counter(q["file"] for q in qs if q["answerable"])
        print(f"{split}: {len(qs)} questions, {n_ans} answerable, {len(qs) - n_ans} unanswerable; "
              + ", ".join(f"{f} {n}" for f, n in sorted(per_file.items())))
    print(f"total: {len(seen)} unique ids")
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
