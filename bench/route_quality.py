"""Retrieval quality of each embedder route (fp32, bf16, int8), measured in one run.

A faster route is only worth having if it finds the right page as often as fp32 does. Two tests:
  - R manuals: 200 sentences taken from random pages, each asked as a query against every chunk
    of the corpus (chunked as `python -m ingest` chunks it); a hit is the source page in the top 3.
  - SQuAD 2.0 (dev and train subsets): every answerable question against all paragraphs; a hit is
    the gold paragraph in the top 3.
Dense retrieval only, so the embedder alone is compared (the product adds BM25 on top).
Also reports each route's speed on the corpus chunks (chunks/s) and its cosine to fp32.

    .venv/bin/python bench/route_quality.py [--corpus DIR] [--queries N]
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag import offline  # noqa: E402,F401  (arms the guard before any model library loads)

DEFAULT_CORPUS = REPO.parent / "shared/corpora/r-manuals"
SQUAD = REPO.parent / "shared/eval/squad2-subset"
RESULTS = REPO / "bench/results/route_quality.json"
_PROSE = re.compile(r"^[A-Z][^\n]{40,240}[.?]$")


def corpus_chunks(corpus: Path) -> list[tuple[str, str, int]]:
    """(text to embed, file, page) for every chunk, as the batch job makes them."""
    from rag.embed import default_embedder_dir
    from rag.ingest.chunk import TokenCounter, chunk_units, make_splitter
    from rag.ingest.load import load_file

    counter = TokenCounter(str(default_embedder_dir()))
    splitter = make_splitter(counter)
    chunks = []
    for pdf in sorted(corpus.glob("*.pdf")):
        for chunk in chunk_units(load_file(str(pdf)), splitter, counter, 256):
            chunks.append((chunk.embedding_text(), pdf.name, chunk.page))
    return chunks


def page_queries(chunks: list[tuple[str, str, int]], count: int) -> list[tuple[str, tuple[str, int]]]:
    """Prose sentences from random chunks, each with the page it came from."""
    candidates = []
    for text, name, page in chunks:
        for sentence in re.split(r"(?<=[.?])\s+", " ".join(text.split())):
            if _PROSE.match(sentence):
                candidates.append((sentence, (name, page)))
    rng = random.Random(0)
    return rng.sample(candidates, min(count, len(candidates)))


def squad_queries() -> tuple[list[str], list[tuple[str, int]]]:
    paragraphs, queries = [], []
    for split in ("dev", "train"):
        path = SQUAD / f"{split}.json"
        if not path.exists():
            continue
        for article in json.loads(path.read_text())["data"]:
            for paragraph in article["paragraphs"]:
                paragraphs.append(paragraph["context"])
                queries += [(qa["question"], len(paragraphs) - 1) for qa in paragraph["qas"]
                            if not qa.get("is_impossible")]
    return paragraphs, queries


def hit_at_3(query_vectors: np.ndarray, doc_vectors: np.ndarray, doc_keys: list, gold: list) -> float:
    scores = query_vectors @ doc_vectors.T
    top = np.argsort(-scores, axis=1)[:, :3]
    return float(np.mean([gold[i] in {doc_keys[j] for j in row} for i, row in enumerate(top)]))


def routes() -> list[str]:
    from rag.embed_onnx import int8_supported
    from rag.hardware import has_native_bf16

    # bf16 without native support is emulated (several times slower than fp32): not a route anyone takes.
    return ["fp32"] + (["bf16"] if has_native_bf16() else []) + (["int8"] if int8_supported() else [])


def measure(corpus: Path, query_count: int) -> dict:
    from rag.embed import load_embedder
    from rag.settings import Settings

    chunks = corpus_chunks(corpus) if corpus.is_dir() else []
    queries = page_queries(chunks, query_count)
    paragraphs, squad = squad_queries()
    results, reference = {}, None
    for route in routes():
        embedder = load_embedder("default", route, Settings.from_env().cache_dir)
        embedder.encode(["warm up"])  # loading (or building the int8 graph) is not embedding speed
        row: dict = {"route": embedder.precision}
        if chunks:
            started = time.perf_counter()
            vectors = embedder.encode([text for text, _, _ in chunks])
            row["chunks_per_s"] = round(len(chunks) / (time.perf_counter() - started), 1)
            keys = [(name, page) for _, name, page in chunks]
            asked = embedder.encode([q for q, _ in queries])
            row["r_manuals_page_hit@3"] = round(hit_at_3(asked, vectors, keys, [g for _, g in queries]), 3)
            if reference is None:
                reference = vectors
            cosines = np.sum(reference * vectors, axis=1)
            row["cosine_to_fp32_mean"] = round(float(cosines.mean()), 4)
            row["cosine_to_fp32_min"] = round(float(cosines.min()), 4)
        if squad:
            paragraph_vectors = embedder.encode(paragraphs)
            asked = embedder.encode([q for q, _ in squad])
            row["squad_paragraph_hit@3"] = round(
                hit_at_3(asked, paragraph_vectors, list(range(len(paragraphs))), [g for _, g in squad]), 3)
        results[route] = row
        print(json.dumps(row), file=sys.stderr, flush=True)
    return {"chunks": len(chunks), "page_queries": len(queries), "squad_queries": len(squad),
            "routes": list(results.values())}


def verdict(report: dict) -> list[str]:
    """The gate is page-hit@3 on the corpus (same run); SQuAD paragraph hit@3 is reported beside it,
    with the difference in questions, since one question is 0.0015 there."""
    rows = {row["route"]: row for row in report["routes"]}
    fp32 = rows.get("fp32", {})
    lines = []
    for route, row in rows.items():
        if route == "fp32":
            continue
        parts = []
        if "r_manuals_page_hit@3" in row:
            ok = row["r_manuals_page_hit@3"] >= fp32["r_manuals_page_hit@3"]
            parts.append(f"{'keeps' if ok else 'LOSES'} fp32's page-hit@3 on the corpus "
                         f"({row['r_manuals_page_hit@3']} vs {fp32['r_manuals_page_hit@3']})")
        if "squad_paragraph_hit@3" in row:
            delta = round((row["squad_paragraph_hit@3"] - fp32["squad_paragraph_hit@3"]) * report["squad_queries"])
            parts.append(f"SQuAD paragraph hit@3 {row['squad_paragraph_hit@3']} vs {fp32['squad_paragraph_hit@3']} "
                         f"({delta:+d} of {report['squad_queries']} questions)")
        lines.append(f"- {route}: " + "; ".join(parts))
    return lines


def markdown(report: dict) -> str:
    columns = ["route", "chunks_per_s", "r_manuals_page_hit@3", "squad_paragraph_hit@3",
               "cosine_to_fp32_mean", "cosine_to_fp32_min"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in report["routes"]:
        lines.append("| " + " | ".join(str(row.get(c, "–")) for c in columns) + " |")
    lines.append(f"\n{report['chunks']} corpus chunks, {report['page_queries']} page queries, "
                 f"{report['squad_queries']} SQuAD questions")
    return "\n".join(lines + [""] + verdict(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--queries", type=int, default=200, help="page queries from the corpus (default 200)")
    args = parser.parse_args(argv)
    if not args.corpus.is_dir() and not SQUAD.is_dir():
        print("skipped: neither the R manuals nor the SQuAD subset is present")
        return 0
    report = measure(args.corpus, args.queries)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
