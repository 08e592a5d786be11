"""Answer latency: the llama.cpp server (`--llm openai+http://...`) next to the in-process transformers
generator, same store, same questions, one run, interleaved so both see the same machine load.

The demo documents are ingested into a temporary store; each question is asked once per backend to warm
up, then `--rounds` times each. Reports p50/p95 of the whole answer (retrieval + generation) and of the
generation step alone, and how often the two backends give the same answer. Writes
bench/results/remote_llm.json.

    .venv/bin/python bench/remote_llm_bench.py [--rounds N] [--port P]
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rag.offline  # noqa: E402,F401

RESULTS = REPO / "bench/results/remote_llm.json"
QUESTIONS = [
    "How many days of paid annual leave do employees get?",
    "How long must passwords be?",
    "Who chaired the board meeting?",
    "What is the parking fee at the Bergen office?",
    "What is the capital of Peru?",
]


def percentiles(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(values, 50)), 1), "p95_ms": round(float(np.percentile(values, 95)), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=18080)
    args = parser.parse_args()

    from rag.api import Assistant
    from rag.embed import load_embedder
    from rag.generate import load_generator
    from rag.ingest import run_ingest
    from rag.llama_server import packaged_gguf, running
    from rag.settings import Settings
    from rag.store.vault import open_collections
    from rag.store.keyring import open_keyring

    base = Path(tempfile.mkdtemp(prefix="remote-llm-bench-"))
    settings = Settings.from_env(store=str(base / "store"), key_file=base / "key")
    embedder = load_embedder(settings.embedder, settings.precision)
    run_ingest([REPO / "data/docs"], settings, embedder=embedder)
    keyring = open_keyring(settings, base / "store", create=False)
    store = open_collections(settings, keyring, embedder)
    local = load_generator("default", settings.cache_dir, settings.precision)
    with running(packaged_gguf(settings.cache_dir), args.port) as url:
        backends = {"in-process transformers": local, "llama.cpp server": load_generator(url, settings.cache_dir)}
        assistants = {name: Assistant(settings, keyring, store, embedder, generator)
                      for name, generator in backends.items()}
        answers = {name: [a.ask(q).answer for q in QUESTIONS] for name, a in assistants.items()}  # warm-up
        total = {name: [] for name in assistants}
        generate = {name: [] for name in assistants}
        for _ in range(args.rounds):
            for question in QUESTIONS:
                for name, assistant in assistants.items():
                    started = time.perf_counter()
                    answer = assistant.ask(question)
                    total[name].append((time.perf_counter() - started) * 1000)
                    generate[name].append(answer.timings["generate_ms"])
        for assistant in assistants.values():
            assistant.close()
    same = sum(a == b for a, b in zip(*answers.values()))
    report = {"questions": len(QUESTIONS), "rounds": args.rounds, "same_answers": f"{same}/{len(QUESTIONS)}",
              "answers": answers,
              "backends": {name: {"answer": percentiles(total[name]), "generate": percentiles(generate[name])}
                           for name in assistants}}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"{len(QUESTIONS)} questions x {args.rounds} rounds; same answer on {same}/{len(QUESTIONS)} questions")
    print("| generator | answer p50 / p95 ms | generation p50 / p95 ms |\n|---|---:|---:|")
    for name, figures in report["backends"].items():
        a, g = figures["answer"], figures["generate"]
        print(f"| {name} | {a['p50_ms']} / {a['p95_ms']} | {g['p50_ms']} / {g['p95_ms']} |")


if __name__ == "__main__":
    main()
