"""Build the paired French/English workplace corpus (bench/data/fr_workplace/) into folders to ingest.

    .venv/bin/python bench/make_fr_workplace.py [OUT]      # default bench/data/fr_workplace/build/
    .venv/bin/python bench/make_fr_workplace.py --split    # (once) write the design/held-out halves

The sources are Markdown, six documents per language under fr/ and en/, written in parallel (same
facts, same structure). Documents 01 and 03 of each language are rendered to PDF with reportlab;
the other four are copied as Markdown. OUT/fr and OUT/en are then each a folder of 2 PDF + 4
Markdown files. In a PDF source, a line `<!-- page -->` starts a new page, so the page of every
fact is fixed by the source and not by the layout: the build fails if a page overflows (the PDF
would have more pages than the source has page breaks + 1). It prints, per PDF page, the headings
found on it. In French PDFs the straight apostrophe becomes the typographic one (’) and the usual no-break
spaces are put in (before ; : ? ! », inside 58 000, in 14 h 30, 75 %), as a French word processor
prints them; the Markdown copies keep the source as written.

Font: DejaVu Sans (Debian's fonts-dejavu, /usr/share/fonts/truetype/dejavu) when present, which
has é è à ç ô œ ’ « » €; otherwise reportlab's Helvetica, whose WinAnsi encoding also has them
(any other character is replaced by its nearest ASCII form; no gold answer contains one).

`--split` divides bench/data/fr_workplace_qa.json once into fr_workplace_design.json and
fr_workplace_heldout.json: stratified by `answerable`, each stratum's ids sorted and shuffled with
random.Random(SPLIT_SEED), the first half (len // 2) to design. bench/check_fr_workplace.py checks
that the files on disk are exactly this split.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import unicodedata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
SOURCES = DATA / "fr_workplace"
DEFAULT_OUT = SOURCES / "build"
QA = DATA / "fr_workplace_qa.json"
SPLIT_FILES = {"design": DATA / "fr_workplace_design.json", "heldout": DATA / "fr_workplace_heldout.json"}
LANGS = ("fr", "en")
PDF_PREFIXES = ("01_", "03_")  # these documents become PDF in each language; the others stay Markdown
PAGE_BREAK = "<!-- page -->"
SPLIT_SEED = 20240315
DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
SHORT_TITLE = {"fr": "AResA – document interne", "en": "AResA – internal document"}


def sources(lang: str) -> list[Path]:
    return sorted((SOURCES / lang).glob("*.md"))


def is_pdf_source(path: Path) -> bool:
    return path.name.startswith(PDF_PREFIXES)


def built_name(path: Path) -> str:
    """The file name of a source in the built folder (what the question set's `file` holds)."""
    return path.with_suffix(".pdf").name if is_pdf_source(path) else path.name


def _fonts() -> tuple[str, str, bool]:
    """(regular, bold, is_unicode): DejaVu Sans when installed, else Helvetica."""
    regular, bold = DEJAVU / "DejaVuSans.ttf", DEJAVU / "DejaVuSans-Bold.ttf"
    if regular.exists() and bold.exists():
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        pdfmetrics.registerFont(TTFont("DejaVuSans", str(regular)))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(bold)))
        return "DejaVuSans", "DejaVuSans-Bold", True
    return "Helvetica", "Helvetica-Bold", False


def _winansi(text: str) -> str:
    """Text Helvetica can show: characters outside cp1252 become their nearest ASCII form."""
    out = []
    for ch in text:
        try:
            ch.encode("cp1252")
            out.append(ch)
        except UnicodeEncodeError:
            out.append(" " if ch.isspace() else unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode())
    return "".join(out)


NBSP = "\u00a0"


def french_typography(text: str) -> str:
    """What a French word processor prints: typographic apostrophe, no-break spaces before ; : ? ! »
    and after «, inside numbers (58 000) and between a number and its unit (14 h 30, 58 000 €, 75 %)."""
    text = text.replace("'", "\u2019")
    text = re.sub(r" ([;:?!»])", NBSP + r"\1", text)
    text = text.replace("« ", "«" + NBSP)
    text = re.sub(r"(?<=\d) (?=\d{3}\b)", NBSP, text)
    return re.sub(r"(?<=\d) (?=(?:h|€|%)(?:\W|$))", NBSP, text)


def _inline(text: str, lang: str, unicode_font: bool) -> str:
    """One line of source text as reportlab Paragraph markup."""
    if lang == "fr":
        text = french_typography(text)
    if not unicode_font:
        text = _winansi(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)


def parse_pages(markdown: str) -> list[list[tuple[str, object]]]:
    """The source as pages of blocks: ("title"|"heading"|"para", text), ("bullets", [text]),
    ("table", [[cell]])."""
    pages: list[list[tuple[str, object]]] = [[]]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            i += 1
        elif line.strip() == PAGE_BREAK:
            pages.append([])
            i += 1
        elif line.startswith("# "):
            pages[-1].append(("title", line[2:].strip()))
            i += 1
        elif line.startswith("## "):
            pages[-1].append(("heading", line[3:].strip()))
            i += 1
        elif line.startswith("- "):
            items = []
            while i < len(lines) and lines[i].startswith("- "):
                items.append(lines[i][2:].strip())
                i += 1
            pages[-1].append(("bullets", items))
        elif line.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            pages[-1].append(("table", rows))
        else:
            para = []
            while i < len(lines) and lines[i].strip() and not lines[i].startswith(("#", "- ", "|", "<!--")):
                para.append(lines[i].strip())
                i += 1
            pages[-1].append(("para", " ".join(para)))
    return pages


def render_pdf(source: Path, target: Path, lang: str, label: str | None = None,
               author: str = "AResA") -> list[list[str]]:
    """Render one Markdown source to PDF; returns the headings of each page. `label`: the footer (default
    this corpus's short title)."""
    from reportlab import rl_config
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import (ListFlowable, ListItem, PageBreak, Paragraph, SimpleDocTemplate, Spacer,
                                    Table, TableStyle)

    rl_config.invariant = 1  # no creation date or random id: the same source gives the same bytes
    regular, bold, unicode_font = _fonts()
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13.5, spaceAfter=5)
    title = ParagraphStyle("title", parent=body, fontName=bold, fontSize=15, leading=19, spaceAfter=8)
    heading = ParagraphStyle("heading", parent=body, fontName=bold, fontSize=11.5, leading=15, spaceBefore=6,
                             spaceAfter=4)
    cell = ParagraphStyle("cell", parent=body, spaceAfter=0)
    pages = parse_pages(source.read_text(encoding="utf-8"))
    label = label or SHORT_TITLE[lang]
    footer_label = label if unicode_font else _winansi(label)

    story, headings = [], []
    for number, blocks in enumerate(pages):
        if number:
            story.append(PageBreak())
        headings.append([])
        for kind, content in blocks:
            if kind == "title":
                story.append(Paragraph(_inline(content, lang, unicode_font), title))
            elif kind == "heading":
                headings[-1].append(content)
                story.append(Paragraph(_inline(content, lang, unicode_font), heading))
            elif kind == "para":
                story.append(Paragraph(_inline(content, lang, unicode_font), body))
            elif kind == "bullets":
                story.append(ListFlowable([ListItem(Paragraph(_inline(t, lang, unicode_font), body), leftIndent=14)
                                           for t in content], bulletType="bullet", start="•", leftIndent=14,
                                          bulletFontName=regular))
            elif kind == "table":
                data = [[Paragraph(_inline(c, lang, unicode_font), cell) for c in row] for row in content]
                table = Table(data, colWidths=[6 * cm, 5 * cm], hAlign="LEFT")
                table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
                                           ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef4")),
                                           ("VALIGN", (0, 0), (-1, -1), "TOP")]))
                story.extend([table, Spacer(1, 6)])

    total = len(pages)

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawString(2 * cm, 1.2 * cm, footer_label)
        canvas.drawRightString(A4[0] - 2 * cm, 1.2 * cm, f"page {doc.page}/{total}")
        canvas.restoreState()

    doc = SimpleDocTemplate(str(target), pagesize=A4, leftMargin=2.2 * cm, rightMargin=2.2 * cm,
                            topMargin=2 * cm, bottomMargin=2 * cm, title=pages[0][0][1] if pages[0] else "",
                            author=author, lang="fr-FR" if lang == "fr" else "en-GB")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    if doc.page != total:
        raise SystemExit(f"{target.name}: {doc.page} pages rendered for {total} source pages (a page overflowed)")
    return headings


def build(out: Path, verbose: bool = True) -> dict[str, Path]:
    """Build both languages under `out` (out/fr, out/en); returns {lang: folder}."""
    folders = {}
    for lang in LANGS:
        folder = out / lang
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for source in sources(lang):
            target = folder / built_name(source)
            if is_pdf_source(source):
                headings = render_pdf(source, target, lang)
                if verbose:
                    for page, names in enumerate(headings, 1):
                        print(f"{lang}/{target.name} p{page}: " + " | ".join(names))
            else:
                shutil.copyfile(source, target)
        folders[lang] = folder
        if verbose:
            print(f"{lang}: {len(list(folder.iterdir()))} files in {folder}")
    return folders


def split_ids(questions: list[dict]) -> dict[str, list[str]]:
    """The one split: per answerable stratum, sorted ids shuffled with SPLIT_SEED, first half to design."""
    rng = random.Random(SPLIT_SEED)
    halves: dict[str, list[str]] = {"design": [], "heldout": []}
    for stratum in (True, False):
        ids = sorted(q["id"] for q in questions if q["answerable"] is stratum)
        rng.shuffle(ids)
        halves["design"] += ids[:len(ids) // 2]
        halves["heldout"] += ids[len(ids) // 2:]
    return {name: sorted(ids) for name, ids in halves.items()}


def split_blobs() -> dict[str, dict]:
    blob = json.loads(QA.read_text(encoding="utf-8"))
    by_id = {q["id"]: q for q in blob["questions"]}
    return {name: {"description": blob["description"], "split": name, "seed": SPLIT_SEED,
                   "questions": [by_id[i] for i in ids]}
            for name, ids in split_ids(blob["questions"]).items()}


def write_split(force: bool) -> None:
    if any(p.exists() for p in SPLIT_FILES.values()) and not force:
        raise SystemExit("the split already exists; it is made once (use --force only to rewrite the same split)")
    for name, blob in split_blobs().items():
        SPLIT_FILES[name].write_text(json.dumps(blob, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        n = len(blob["questions"])
        ans = sum(q["answerable"] for q in blob["questions"])
        print(f"{SPLIT_FILES[name].name}: {n} questions, {ans} answerable, {n - ans} unanswerable")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--split", action="store_true", help="write the design/held-out halves (once)")
    ap.add_argument("--force", action="store_true", help="with --split: overwrite existing halves")
    args = ap.parse_args()
    if args.split:
        write_split(args.force)
        return 0
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
