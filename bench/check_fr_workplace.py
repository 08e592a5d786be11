"""Validate the paired French/English workplace question set (bench/data/fr_workplace_*.json).

Builds the documents into a temporary folder with bench/make_fr_workplace.py, then checks:
- every item is well formed (id, fr/en blocks, answerable, kind), ids are unique;
- answerable items, in both languages: the file exists in the built folder; for a PDF, `page` is an
  existing 1-based page and every gold answer occurs on that page's text as read by pypdfium2 (as
  the product reads it) and by pypdf; for Markdown, `page` is null and every gold answer occurs in
  the file. Matching is case-insensitive and whitespace-normalised (the typographic apostrophe
  counts as a straight one); a gold answer starting with a digit must not also occur as the tail of
  a larger number (5 jours ouvrés in 25 jours ouvrés); answers found on other pages or files too are
  listed as notes;
- unanswerable items have answers [] and file/page null in both languages;
- the design and held-out halves are exactly the seeded split of fr_workplace_qa.json
  (make_fr_workplace.split_ids), disjoint, together the whole set, stratified by answerable.

For unanswerable items it prints, per language, the document lines closest to the question (word
overlap) so that a human can confirm the documents do not answer it. Only the design half is shown
by default; `--show-heldout` shows the held-out half too (for whoever writes or audits the set: the
held-out half is otherwise never read).

    .venv/bin/python bench/check_fr_workplace.py [--show-heldout] [--keep DIR]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import unicodedata
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import make_fr_workplace as mk  # noqa: E402

KINDS = {"how_many", "when", "what_year", "how_long", "why", "who", "where", "which"}
STOP = set("""a à au aux avec ce ces c' cette d' dans de des du en est et il l' la le les leur lui mais ne
n' on ou où par pas peut pour qu' que quel quelle quels quelles qui sa se si son sont sur t' un une y
combien quand pourquoi comment faut-il doit-on est-ce j' je mon ma mes m'
the a an of to in on at for is are be do does did i my me can how what which who why when where
should must much many long since year get have has there it its this that with by from as or and""".split())


def norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[\w-]+", norm(text)) if w not in STOP and len(w) > 1}


def read_pdf(path: Path) -> tuple[list[str], list[str]]:
    """Normalised page texts from pypdfium2 and from pypdf."""
    import pypdf
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    pdfium_pages = [norm(doc[i].get_textpage().get_text_bounded()) for i in range(len(doc))]
    doc.close()
    pypdf_pages = [norm(page.extract_text() or "") for page in pypdf.PdfReader(str(path)).pages]
    return pdfium_pages, pypdf_pages


def closest_lines(question: str, lines: list[tuple[str, str]], n: int = 2) -> list[tuple[int, str, str]]:
    q = words(question)
    scored = sorted(((len(q & words(text)), name, text) for name, text in lines), key=lambda s: -s[0])
    return scored[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--show-heldout", action="store_true", help="also print the held-out unanswerable questions")
    ap.add_argument("--keep", type=Path, help="build here instead of a temporary folder")
    args = ap.parse_args()

    problems: list[str] = []
    notes: list[str] = []
    blob = json.loads(mk.QA.read_text(encoding="utf-8"))
    questions = blob["questions"]
    halves = {name: json.loads(path.read_text(encoding="utf-8")) for name, path in mk.SPLIT_FILES.items()
              if path.exists()}

    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        folders = mk.build(out, verbose=False)
        pdf_pages: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
        texts: dict[tuple[str, str], str] = {}
        lines: dict[str, list[tuple[str, str]]] = {}
        for lang, folder in folders.items():
            lines[lang] = []
            for path in sorted(folder.iterdir()):
                if path.suffix == ".pdf":
                    pdf_pages[lang, path.name] = read_pdf(path)
                    texts[lang, path.name] = " ".join(pdf_pages[lang, path.name][0])
                    raw = []
                    import pypdfium2 as pdfium

                    doc = pdfium.PdfDocument(str(path))
                    for i in range(len(doc)):
                        raw += doc[i].get_textpage().get_text_bounded().splitlines()
                    doc.close()
                else:
                    raw = path.read_text(encoding="utf-8").splitlines()
                    texts[lang, path.name] = norm(" ".join(raw))
                lines[lang] += [(path.name, line.strip()) for line in raw if len(line.strip()) > 3]

    seen: set[str] = set()
    for q in questions:
        qid = q.get("id", "?")
        if qid in seen:
            problems.append(f"duplicate id {qid}")
        seen.add(qid)
        if not isinstance(q.get("answerable"), bool) or q.get("kind") not in KINDS:
            problems.append(f"{qid}: answerable must be a bool and kind one of {sorted(KINDS)}")
        for lang in mk.LANGS:
            block = q.get(lang) or {}
            if set(block) != {"question", "answers", "file", "page"} or not block["question"].strip():
                problems.append(f"{qid}/{lang}: needs question, answers, file, page")
                continue
            if not q["answerable"]:
                if block["answers"] or block["file"] is not None or block["page"] is not None:
                    problems.append(f"{qid}/{lang}: unanswerable needs answers [] and file/page null")
                continue
            name, page, answers = block["file"], block["page"], block["answers"]
            if not answers or len(answers) > 3:
                problems.append(f"{qid}/{lang}: needs 1-3 answers")
            if (lang, name) not in texts:
                problems.append(f"{qid}/{lang}: no built file {name}")
                continue
            if name.endswith(".pdf"):
                by_pdfium, by_pypdf = pdf_pages[lang, name]
                if not isinstance(page, int) or not 1 <= page <= len(by_pdfium):
                    problems.append(f"{qid}/{lang}: no page {page} in {name}")
                    continue
                for answer in answers:
                    gold = norm(answer)
                    if gold not in by_pdfium[page - 1]:
                        problems.append(f"{qid}/{lang}: {answer!r} not on {name} p{page} (pypdfium2)")
                    if gold not in by_pypdf[page - 1]:
                        problems.append(f"{qid}/{lang}: {answer!r} not on {name} p{page} (pypdf)")
                    others = [i + 1 for i, text in enumerate(by_pdfium) if i + 1 != page and gold in text]
                    if others:
                        notes.append(f"{qid}/{lang}: {answer!r} also on {name} pages {others}")
            else:
                if page is not None:
                    problems.append(f"{qid}/{lang}: page must be null for Markdown {name}")
                for answer in answers:
                    if norm(answer) not in texts[lang, name]:
                        problems.append(f"{qid}/{lang}: {answer!r} not in {name}")
            for answer in answers:
                gold = norm(answer)
                if gold[:1].isdigit() and any(re.search(r"\d[.,]?" + re.escape(gold), text)
                                              for (l, _), text in texts.items() if l == lang):
                    problems.append(f"{qid}/{lang}: {answer!r} is the tail of a larger number in the documents "
                                    "(substring scoring would credit it)")
            elsewhere = sorted(n for (l, n), text in texts.items()
                               if l == lang and n != name and any(norm(a) in text for a in answers))
            if elsewhere:
                notes.append(f"{qid}/{lang}: a gold answer also occurs in {', '.join(elsewhere)}")

    # The split.
    expected = mk.split_ids(questions)
    if set(halves) != set(mk.SPLIT_FILES):
        problems.append("design/held-out files missing: run make_fr_workplace.py --split once")
    by_id = {q["id"]: q for q in questions}
    for name, half in halves.items():
        ids = sorted(q["id"] for q in half["questions"])
        if half.get("split") != name or half.get("seed") != mk.SPLIT_SEED:
            problems.append(f"{name}: split/seed fields are {half.get('split')!r}/{half.get('seed')!r}")
        if ids != expected[name]:
            problems.append(f"{name}: ids differ from the seeded split")
        if any(q != by_id.get(q["id"]) for q in half["questions"]):
            problems.append(f"{name}: items differ from fr_workplace_qa.json")
    if halves and set().union(*(set(expected[n]) for n in expected)) != set(by_id):
        problems.append("the halves do not cover the set")

    # Counts.
    n_ans = sum(q["answerable"] for q in questions)
    print(f"set: {len(questions)} pairs, {n_ans} answerable, {len(questions) - n_ans} unanswerable")
    kinds = Counter((q["kind"], q["answerable"]) for q in questions)
    print("kinds (answerable/unanswerable): " + ", ".join(
        f"{k} {kinds[k, True]}/{kinds[k, False]}" for k in sorted(KINDS)))
    files = Counter(q["fr"]["file"] for q in questions if q["answerable"])
    print("answerable per French file: " + ", ".join(f"{f} {n}" for f, n in sorted(files.items())))
    for name, half in halves.items():
        hq = half["questions"]
        a = sum(q["answerable"] for q in hq)
        print(f"{name}: {len(hq)} pairs, {a} answerable, {len(hq) - a} unanswerable")

    # Unanswerable: the closest lines, for a human to check.
    shown = set(expected["design"]) | (set(expected["heldout"]) if args.show_heldout else set())
    print("\nUnanswerable questions and the closest document lines"
          + ("" if args.show_heldout else " (design half only; --show-heldout for all)") + ":")
    for q in questions:
        if q["answerable"] or q["id"] not in shown:
            continue
        print(f"\n{q['id']} [{q['kind']}, near {q['topic']}]")
        for lang in mk.LANGS:
            print(f"  {lang}: {q[lang]['question']}")
            for score, name, text in closest_lines(q[lang]["question"], lines[lang]):
                print(f"      {score} {name}: {text[:150]}")

    for note in notes:
        print("note:", note)
    for problem in problems:
        print("PROBLEM:", problem)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
