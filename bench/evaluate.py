"""Answer quality, end to end (ingest, hybrid retrieval, span choice, rules, calibrated abstention).

Question sets (`--set`):
  rmanuals-design   the design half of the project's questions on the seven R manuals (../shared)
  rmanuals-heldout  its held-out half: run only at the end of a piece of work, never read for design
  squad-dev         the shared SQuAD 2.0 dev subset (report only), with the textbook pipeline beside ours
  workplace         bench/data/workplace_qa.json, invented workplace documents (report only)
  fr-design         the design half of bench/data/fr_workplace_qa.json: French questions on French documents
  fr-heldout        its held-out half (run only at the end of a piece of work)
  en-fr-design      the same facts and questions in English, on the English twin documents
  en-fr-heldout     ... its held-out half

`--ablate CODE ...` (or `--ablate all`) runs the set again with each rule of rag/rules.py switched
off in the same process and prints what each one changes. Figures per question set:
gold page cited, gold answer in the answer or its quote, F1 of the short answers shown, share of
shown short answers that are wrong (F1 < 0.5), abstention recall, false abstention, p50/p95 seconds.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import squad  # noqa: E402

import rag.offline  # noqa: F401,E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MANUALS = ROOT.parent / "shared" / "corpora" / "r-manuals"
SETS = {"rmanuals-design": ROOT / "bench" / "data" / "rmanuals_design.json",
        "rmanuals-heldout": ROOT / "bench" / "data" / "rmanuals_heldout.json",
        "squad-dev": squad.SHARED / "dev.json", "workplace": squad.WORKPLACE,
        **{f"{lang}-{half}": ROOT / "bench" / "data" / f"fr_workplace_{half}.json"
           for lang in ("fr", "en-fr") for half in ("design", "heldout")}}
DONT_KNOW = ("don't know", "do not know", "not in the context", "cannot answer", "no answer")
WRONG_F1 = 0.5


@dataclass
class Item:
    id: str
    text: str
    answers: list[str]
    source: str  # the gold document ("" when unanswerable)
    page: int | None = None  # the gold page, for paged documents


def load_set(name: str, docs: Path, limit: int) -> tuple[list[Item], Path]:
    """The questions and the folder of documents they are about."""
    path = SETS[name]
    if name.startswith("rmanuals"):
        data = json.loads(path.read_text())["questions"]
        return [Item(q["id"], q["question"], q["answers"], q["file"] or "", q["page"]) for q in data], MANUALS
    if name.startswith(("fr-", "en-fr-")):
        import make_fr_workplace

        lang = "en" if name.startswith("en-") else "fr"
        data = json.loads(path.read_text(encoding="utf-8"))["questions"]
        items = [Item(q["id"], q[lang]["question"], q[lang]["answers"], q[lang]["file"] or "", q[lang]["page"])
                 for q in data]
        return items, make_fr_workplace.build(docs, verbose=False)[lang]
    questions = squad.sample(squad.load_file(path, docs), limit)
    return [Item(q.id, q.text, q.answers, q.source) for q in questions], docs


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))] if values else 0.0


def _mean(values) -> float:
    values = list(values)
    return statistics.mean(values) if values else 0.0


def score(rows: list[dict]) -> dict:
    answerable = [r for r in rows if r["gold"]]
    impossible = [r for r in rows if not r["gold"]]
    shown = [r for r in rows if not r["abstained"] and r["span"] is not None]
    return {
        "questions": len(rows), "answerable": len(answerable), "unanswerable": len(impossible),
        "page_hit@1": _mean(r["hit1"] for r in answerable),
        "page_hit@3": _mean(r["hit3"] for r in answerable),
        "gold_page_cited": _mean(r["cited_gold_page"] for r in answerable),
        "gold_in_answer_or_quote": _mean(r["gold_shown"] for r in answerable),
        "spans_shown": len(shown),
        "span_f1_shown": _mean(r["f1"] for r in shown if r["gold"]),
        "wrong_spans_shown": _mean(r["f1"] < WRONG_F1 for r in shown),
        "abstention_recall": _mean(r["abstained"] for r in impossible),
        "false_abstention": _mean(r["abstained"] for r in answerable),
        "p50_s": percentile([r["seconds"] for r in rows], 0.5),
        "p95_s": percentile([r["seconds"] for r in rows], 0.95),
    }


def _span_of(answer) -> str | None:
    """The short answer shown, or None when the answer is a quote (before the span field, every answer was a span)."""
    if answer.abstained:
        return None
    return answer.span if hasattr(answer, "span") else squad.strip_markers(answer.answer)


def _row(item: Item, answer, passages, seconds: float) -> dict:
    def at(p) -> bool:
        return p.source == item.source and (item.page is None or p.page == item.page)

    span = _span_of(answer)
    shown = [squad.strip_markers(answer.answer)] + [c.quote for c in answer.citations] if not answer.abstained else []
    reason = getattr(answer, "reason", None)
    return {"id": item.id, "question": item.text, "gold": item.answers, "abstained": answer.abstained,
            "answer": answer.answer, "span": span, "f1": squad.f1(span or "", item.answers),
            "hit1": float(any(at(p) for p in passages[:1])), "hit3": float(any(at(p) for p in passages[:3])),
            "cited_gold_page": float(any(at(c) for c in answer.citations)),
            "gold_shown": float(any(squad.contains_gold(text, item.answers) for text in shown)),
            "quotes": [c.quote for c in answer.citations], "seconds": seconds, "confidence": answer.confidence,
            "reason": reason.to_dict() if hasattr(reason, "to_dict") else reason}


def open_assistant(docs: Path, tmp: Path):
    from rag.api import Assistant
    from rag.ingest import run_ingest
    from rag.settings import Settings

    settings = Settings(store=str(tmp / "ours"), key_file=tmp / "key")
    run_ingest([docs], settings)
    return Assistant.open(settings=settings)


def run_ours(pipeline, items: list[Item], drafts: dict | None = None) -> list[dict]:
    """Every question through `pipeline`. `drafts` (id -> extracted draft) skips retrieval and span choice
    when only the decision changes (a gate switched off); seconds are then those of the first run."""
    rows = []
    for item in items:
        started = time.perf_counter()
        if drafts is not None and item.id in drafts:
            draft, seconds = copy.deepcopy(drafts[item.id][0]), drafts[item.id][1]
            answer = pipeline.decide(draft)
        else:
            draft = pipeline.extract(pipeline.retrieve(item.text))
            kept = copy.deepcopy(draft)
            answer = pipeline.decide(draft)
            seconds = time.perf_counter() - started
            if drafts is not None:
                drafts[item.id] = (kept, seconds)
        rows.append(_row(item, answer, draft.passages, seconds))
    return rows


def run_textbook(items: list[Item], docs: Path, tmp: Path, generator, embedder) -> list[dict]:
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
    for item in items:
        started = time.perf_counter()
        result = chain.invoke({"query": item.text}, config={"callbacks": []})
        seconds = time.perf_counter() - started
        prediction = result["result"].strip().split("\n")[0]
        abstained = any(p in prediction.lower() for p in DONT_KNOW)
        sources = [d.metadata["source"] for d in result["source_documents"]]
        f1 = 0.0 if abstained else squad.f1(prediction, item.answers)
        rows.append({"id": item.id, "gold": item.answers, "abstained": abstained, "span": None if abstained
                     else prediction, "f1": f1, "hit1": float(item.source in sources[:1]),
                     "hit3": float(item.source in sources[:3]), "cited_gold_page": float(item.source in sources[:1]),
                     "gold_shown": float(not abstained and squad.contains_gold(prediction, item.answers)),
                     "seconds": seconds})
    return rows


def ablations(requested: list[str]) -> list[str]:
    from rag.rules import RULES

    return [code for name in requested for code in (list(RULES) if name == "all" else [name])]


def print_table(results: dict[str, dict]) -> None:
    names = list(results)
    print("| metric | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for key in results[names[0]]:
        print(f"| {key} | " + " | ".join(f"{results[n][key]:.3f}" if isinstance(results[n][key], float)
                                         else str(results[n][key]) for n in names) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=list(SETS), default="squad-dev")
    parser.add_argument("--limit", type=int, default=200, help="SQuAD questions (fixed sample; 0 = all)")
    parser.add_argument("--textbook", action="store_true", help="also run the textbook pipeline (text documents)")
    parser.add_argument("--ablate", nargs="+", default=[], metavar="CODE",
                        help="rule codes to switch off one at a time ('all': every rule; 'a+b': both at once)")
    parser.add_argument("--rows", type=Path, help="also write every question's result here (JSON lines)")
    args = parser.parse_args()
    path = SETS[args.set]
    if not path.exists() or (args.set.startswith("rmanuals") and not MANUALS.exists()):
        print(f"skipped: {path if not path.exists() else MANUALS} not found")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        items, docs = load_set(args.set, tmp / "docs", args.limit)
        assistant = open_assistant(docs, tmp)
        drafts: dict = {}
        ours = run_ours(assistant.pipeline, items, drafts)
        results = {"ours": score(ours)}
        if args.rows:
            args.rows.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in ours))
        for codes in ablations(args.ablate):
            code = set(codes.split("+"))
            from rag.answer import AskPipeline
            from rag.rules import RULES

            pipeline = AskPipeline(assistant.retriever, assistant.generator, k=assistant.settings.k,
                                   calibration=assistant.pipeline.calibration, disabled=code)
            # A gate or the span display only changes the decision: the drafts of the first run serve again.
            reuse = drafts if all(RULES[c].stage in ("gate", "shown") for c in code) else None
            results[f"without {codes}"] = score(run_ours(pipeline, items, reuse))
        if args.textbook:
            results["textbook"] = score(run_textbook(items, docs, tmp, assistant.generator, assistant.embedder))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"eval-{args.set}.json").write_text(json.dumps({"set": args.set, "limit": args.limit, **results},
                                                              indent=1))
    print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
