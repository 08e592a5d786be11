"""Formats benchmark, one run on this machine: OCR pages/s and OCR fidelity, and PDF ingestion with and
without the other formats beside it.

  1. OCR: the first N pages of R-intro.pdf rendered to images (200 dpi) and packed as an image-only PDF;
     `python -m ingest` on it gives OCR pages/s, and the OCR text's word recall against the pages' own
     text layer says how much of a scan's text survives.
  2. PDF: the seven R manuals alone, then the same manuals beside the format fixtures (Word, slides,
     sheets, HTML, e-mail): PDF ingestion must keep its pages/s when other formats share the batch.

    .venv/bin/python bench/formats_bench.py [--corpus DIR] [--ocr-pages N]

Prints a Markdown table and writes bench/results/formats.json.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "scripts")]

from ingest_bench import _SUMMARY_LINE, DEFAULT_CORPUS, _last_line, child_env, cpu_facts, run_measured  # noqa: E402

RESULTS = REPO / "bench/results/formats.json"
_WORD = re.compile(r"\w+")


def image_only_pdf(source: Path, pages: int, dpi: int = 200) -> tuple[bytes, list[str]]:
    """The first `pages` pages of a PDF as a scan would give them, and each page's own text."""
    import pypdfium2 as pdfium

    from rag.ingest.load import Context, load_bytes

    document = pdfium.PdfDocument(str(source))
    images = [document[n].render(scale=dpi / 72).to_pil().convert("L") for n in range(pages)]
    document.close()
    texts = [u.text for u in load_bytes(source.read_bytes(), Context(source.name)) if u.page <= pages]
    out = io.BytesIO()
    images[0].save(out, format="PDF", save_all=True, append_images=images[1:], resolution=dpi)
    return out.getvalue(), texts


def word_recall(reference: str, read: str) -> float:
    """Share of the reference's words (with multiplicity) that the OCR text holds."""
    want, got = Counter(_WORD.findall(reference.lower())), Counter(_WORD.findall(read.lower()))
    return sum(min(n, got[w]) for w, n in want.items()) / max(1, sum(want.values()))


def ingest(folder: Path, workdir: Path) -> dict:
    workdir.mkdir(parents=True)
    env = child_env(RAG_STORE=str(workdir / "store"), RAG_KEY_FILE=str(workdir / "key"))
    measured = run_measured([sys.executable, "-m", "ingest", str(folder)], env, workdir)
    line = _last_line(measured.stdout)
    match = _SUMMARY_LINE.search(line)
    if measured.returncode != 0 or not match:
        raise SystemExit(f"ingest of {folder} failed ({measured.returncode}): {line}\n{measured.stderr[-2000:]}")
    return {"pages": int(match["pages"]), "chunks": int(match["chunks"]), "seconds": round(measured.seconds, 2),
            "internal_seconds": float(match["seconds"]), "peak_rss_mib": round(measured.peak_rss_mib)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--ocr-pages", type=int, default=12)
    args = parser.parse_args()
    manuals = sorted(args.corpus.glob("*.pdf")) if args.corpus.is_dir() else []
    if not manuals:
        print(f"skipped: corpus folder {args.corpus} is absent or holds no PDF; nothing to benchmark.")
        return 0
    from make_format_fixtures import write_fixtures

    results: dict = {"cpu": cpu_facts()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if shutil.which("tesseract"):
            scan, texts = image_only_pdf(args.corpus / "R-intro.pdf", args.ocr_pages)
            (tmp / "scans").mkdir()
            (tmp / "scans" / "R-intro-scanned.pdf").write_bytes(scan)
            run = ingest(tmp / "scans", tmp / "ocr-run")
            from rag.ingest.load import Context, load_bytes

            read = [u.text for u in load_bytes(scan, Context("scan.pdf"))]
            results["ocr"] = {**run, "pages_per_s": round(run["pages"] / run["seconds"], 3),
                              "word_recall": round(word_recall(" ".join(texts), " ".join(read)), 3)}
        else:
            results["ocr"] = {"skipped": "tesseract is not installed"}
        pdf_only = tmp / "pdf-only"
        shutil.copytree(args.corpus, pdf_only)
        mixed = tmp / "mixed"
        shutil.copytree(args.corpus, mixed / "manuals")
        for path in write_fixtures(mixed / "office"):
            if path.suffix in (".png", ".pdf"):
                path.unlink()  # the scans are measured above; here only the text formats join the batch
        for label, folder in (("pdf_only", pdf_only), ("pdf_with_formats", mixed)):
            print(f"running {label} …", file=sys.stderr, flush=True)
            run = ingest(folder, tmp / f"{label}-run")
            results[label] = {**run, "pages_per_s": round(run["pages"] / run["seconds"], 3)}
    ratio = results["pdf_with_formats"]["pages_per_s"] / results["pdf_only"]["pages_per_s"]
    results["pdf_rate_ratio"] = round(ratio, 3)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print("| run | pages | seconds | pages/s | peak RSS MiB | note |\n|---|---:|---:|---:|---:|---|")
    ocr = results["ocr"]
    if "skipped" not in ocr:
        print(f"| OCR (R-intro, first {args.ocr_pages} pages as scans) | {ocr['pages']} | {ocr['seconds']} | "
              f"{ocr['pages_per_s']} | {ocr['peak_rss_mib']} | word recall vs text layer {ocr['word_recall']} |")
    for label in ("pdf_only", "pdf_with_formats"):
        row = results[label]
        print(f"| {label} | {row['pages']} | {row['seconds']} | {row['pages_per_s']} | {row['peak_rss_mib']} | |")
    print(f"\nPDF+formats pages/s over PDF-only: {ratio:.3f} (pages include the fixtures' pages)")
    print(f"results written to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
