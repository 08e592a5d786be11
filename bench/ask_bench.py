"""Cold one-shot ask: wall time and peak memory of `python -m rag.ask QUESTION`, each run a fresh process, on the
demo store (`make bench-ask` builds it if needed and runs this), with the models already cached.

Target: about 4 s (at most 8) and under 1.5 GiB. The machine's load average is printed beside the figures: on a
shared machine, compare runs made in the same conditions.

    .venv/bin/python bench/ask_bench.py [--runs 5] [--question "..."]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench/results/ask.json"
QUESTION = "How many days of paid annual leave do employees get?"
TARGET_SECONDS, LIMIT_SECONDS, TARGET_RSS_MIB = 4.0, 8.0, 1536


def cold_ask(question: str) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and the first line of the answer of one fresh `python -m rag.ask` (one process)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        child = subprocess.Popen([sys.executable, "-m", "rag.ask", question], cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the largest of all children so far
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"rag.ask failed ({child.returncode}): {err.read().strip()}")
        return seconds, usage.ru_maxrss / 1024, out.readline().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    os.environ.setdefault("RAG_STORE", str(REPO / "data/store"))
    os.environ.setdefault("RAG_KEY_FILE", str(REPO / ".demo-key/key"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    cold_ask(args.question)  # the first run may convert or copy models into the cache: not a cold ask's cost
    runs = []
    for number in range(1, args.runs + 1):
        load = os.getloadavg()[0]
        seconds, peak, answer = cold_ask(args.question)
        runs.append({"seconds": round(seconds, 2), "peak_rss_mib": round(peak), "load_average": round(load, 1)})
        print(f"run {number}: {seconds:5.2f} s, {peak:5.0f} MiB (load average {load:.1f}): {answer}", flush=True)
    median = statistics.median(r["seconds"] for r in runs)
    peak = max(r["peak_rss_mib"] for r in runs)
    verdict = "within" if median <= LIMIT_SECONDS and peak < TARGET_RSS_MIB else "OUTSIDE"
    print(f"cold ask: median {median:.2f} s (best {min(r['seconds'] for r in runs):.2f} s), peak {peak} MiB; "
          f"{verdict} the target of about {TARGET_SECONDS:.0f} s (at most {LIMIT_SECONDS:.0f}) and "
          f"{TARGET_RSS_MIB} MiB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"question": args.question, "cpus": os.cpu_count(), "runs": runs,
                                   "median_seconds": median, "peak_rss_mib": peak}, indent=2) + "\n")


if __name__ == "__main__":
    main()
