"""The training set of a French abstention fit (rag/calibration.fr.json, `make calibrate-fr`; not packaged).

There is no French SQuAD here, so this is a set of its own: eight invented internal documents of eight
invented French organisations (a builder's site safety rules, a library network, a cheese dairy's hygiene
plan, a hospital's visitor charter, an institute's exam rules, a transport authority's service cars, an
association's purchasing procedure, a museum's fire instructions), none of them the organisation or topics
of the French evaluation set (bench/data/fr_workplace/), which was not read to write it. 120 questions, 80
answered by the documents (every answer verbatim in its document) and 40 plausible ones they do not answer.
Documents 01 and 05 are rendered to PDF as the evaluation set's are (French typography, pages fixed by the
source); the others are copied as Markdown.

    .venv/bin/python bench/fr_train.py [OUT]    # build the folder to ingest and check the answers
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_fr_workplace  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SOURCES = DATA / "fr_train"
QUESTIONS = DATA / "fr_train_qa.jsonl"  # rag.calibrate's format, plus the answering document's built name
PDF_PREFIXES = ("01_", "05_")


def build(out: Path) -> Path:
    """The documents as the assistant ingests them, in `out`."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for source in sorted(SOURCES.glob("*.md")):
        if source.name.startswith(PDF_PREFIXES):
            make_fr_workplace.render_pdf(source, out / source.with_suffix(".pdf").name, "fr",
                                         label="Document interne", author="")
        else:
            shutil.copyfile(source, out / source.name)
    return out


def questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]


def check() -> list[str]:
    """Problems of the set: an answer not verbatim in its source, a missing document, a wrong share of unanswered."""
    problems = []
    items = questions()
    for item in items:
        if not item["answers"]:
            continue
        source = SOURCES / Path(item["file"]).with_suffix(".md").name
        if not source.exists():
            problems.append(f"{item['question']}: no document {item['file']}")
            continue
        text = " ".join(source.read_text(encoding="utf-8").split()).lower()
        problems += [f"{item['question']}: {answer!r} not in {source.name}" for answer in item["answers"]
                     if " ".join(answer.split()).lower() not in text]
    if 3 * sum(not item["answers"] for item in items) != len(items):
        problems.append("a third of the questions must be unanswered")
    return problems


if __name__ == "__main__":
    problems = check()
    print("\n".join(problems) or f"{len(questions())} questions checked")
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCES / "build"))
    sys.exit(1 if problems else 0)
