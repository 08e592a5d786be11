"""Answer quality on SQuAD 2.0 *dev* (the paragraphs ingested as documents), ours vs the textbook.

Ours: the full pipeline (encrypted store, hybrid retrieval, constrained extraction, calibrated
abstention). Textbook: `RetrievalQA` (stuff chain, k=3) from langchain_classic over a plain
Chroma store with the same MiniLM embeddings and the same local Gemma. Both in one run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import squad  # noqa: E402

import rag.offline  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DONT_KNOW = ("don't know", "do not know", "not in the context", "cannot answer", "no answer")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


def score(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["gold"]]
    impossible = [r for r in rows if not r["gold"]]
    answered = [r for r in answerable if not r["abstained"]]
    cited = [r for r in rows if not r["abstained"] and r["quotes"]]
    return {
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(impossible),
        "hit@3": statistics.mean(r["hit3"] for r in rows),
        "f1_answerable": statistics.mean(r["f1"] for r in answerable),
        "em_answerable": statistics.mean(r["em"] for r in answerable),
        "f1_squad2": statistics.mean(r["f1"] if r["gold"] else float(r["abstained"]) for r in rows),
        "abstention_recall": statistics.mean(r["abstained"] for r in impossible) if impossible else 0.0,
        "false_abstention": statistics.mean(r["abstained"] for r in answerable),
        "f1_when_answered": statistics.mean(r["f1"] for r in answered) if answered else 0.0,
        "quote_has_gold": (statistics.mean(any(squad.contains_gold(q, r["gold"]) for q in r["quotes"])
                                           for r in cited if r["gold"]) if any(r["gold"] for r in cited) else 0.0),
        "p50_s": percentile([r["seconds"] for r in rows], 0.5),
        "p95_s": percentile([r["seconds"] for r in rows], 0.95),
    }


def run_ours(questions, docs: Path, tmp: Path) -> list[dict]:
    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings

    settings = Settings(store=str(tmp / "ours"), key_file=tmp / "key")
    run_ingest([docs], settings)
    assistant = Assistant.open(settings=settings)
    pipeline = assistant.pipeline
    rows = []
    for q in questions:
        started = time.perf_counter()
        draft = pipeline.extract(pipeline.retrieve(q.text))
        answer = pipeline.decide(draft)
        seconds = time.perf_counter() - started
        prediction = "" if answer.abstained else squad.strip_markers(answer.answer)
        rows.append({"id": q.id, "gold": q.answers, "abstained": answer.abstained, "answer": prediction,
                     "hit3": float(q.source in [p.source for p in draft.passages[:3]]),
                     "f1": squad.f1(prediction, q.answers), "em": squad.exact(prediction, q.answers),
                     "quotes": [c.quote for c in answer.citations], "seconds": seconds,
                     "question": q.text, "draft_span": draft.span, "draft_quote": draft.quote,
                     "confidence": answer.confidence, "reason": answer.reason})
    return rows, assistant.generator, assistant.embedder


def run_textbook(questions, docs: Path, tmp: Path, generator, embedder) -> list[dict]:
    import chromadb
    from langchain_chroma import Chroma
    from langchain_classic.chains import RetrievalQA
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from rag.generate import LocalLLM

    documents = [Document(page_content=p.read_text(), metadata={"source": p.relative_to(docs).as_posix()})
                 for p in sorted(docs.rglob("*.txt"))]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(documents)
    store = Chroma.from_documents(chunks, embedder, collection_name="textbook", persist_directory=str(tmp / "textbook"),
                                  client_settings=chromadb.config.Settings(anonymized_telemetry=False))
    chain = RetrievalQA.from_chain_type(llm=LocalLLM(generator=generator, max_new_tokens=32), chain_type="stuff",
                                        retriever=store.as_retriever(search_kwargs={"k": 3}),
                                        return_source_documents=True)
    rows = []
    for q in questions:
        started = time.perf_counter()
        result = chain.invoke({"query": q.text}, config={"callbacks": []})
        seconds = time.perf_counter() - started
        prediction = result["result"].strip().split("\n")[0]
        abstained = any(p in prediction.lower() for p in DONT_KNOW)
        sources = [d.metadata["source"] for d in result["source_documents"]]
        rows.append({"id": q.id, "gold": q.answers, "abstained": abstained, "answer": prediction,
                     "hit3": float(q.source in sources[:3]),
                     "f1": 0.0 if abstained else squad.f1(prediction, q.answers),
                     "em": 0.0 if abstained else squad.exact(prediction, q.answers),
                     "quotes": [], "seconds": seconds})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=200, help="questions (fixed sample; 0 = all 706 of dev)")
    parser.add_argument("--skip-textbook", action="store_true")
    parser.add_argument("--questions", type=Path, default=squad.SHARED / "dev.json",
                        help=f"a SQuAD 2.0 file (default: the shared dev subset); {squad.WORKPLACE.relative_to(ROOT)} "
                        "holds the project's own questions on invented workplace documents, never used for fitting")
    parser.add_argument("--rows", type=Path, help="also write every question's result here (JSON lines), "
                        "to see which questions a change moved")
    args = parser.parse_args()
    if not args.questions.exists():
        print(f"skipped: {args.questions} not found")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        questions = squad.sample(squad.load_file(args.questions, tmp / "docs"), args.limit)
        ours, generator, embedder = run_ours(questions, tmp / "docs", tmp)
        results = {"ours": score(ours)}
        if args.rows:
            args.rows.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ours))
        if not args.skip_textbook:
            results["textbook"] = score(run_textbook(questions, tmp / "docs", tmp, generator, embedder))
    RESULTS.mkdir(exist_ok=True)
    # One file per question set, so that the workplace run does not overwrite the dev figures.
    name = "eval.json" if args.questions.name == "dev.json" else f"eval-{args.questions.stem}.json"
    (RESULTS / name).write_text(json.dumps({"questions": str(args.questions), "limit": args.limit, **results},
                                                  indent=1))
    keys = list(results["ours"])
    print("| metric | " + " | ".join(results) + " |")
    print("|---|" + "---:|" * len(results))
    for key in keys:
        print(f"| {key} | " + " | ".join(f"{results[name][key]:.3f}" if isinstance(results[name][key], float)
                                         else str(results[name][key]) for name in results) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
