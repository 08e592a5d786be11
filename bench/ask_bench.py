"""One-shot ask: wall time and peak memory of `python -m rag.ask QUESTION`, each run a fresh process, on the
demo store (`make bench-ask` builds it if needed and runs this), with the models already cached. Three cases,
in one run:

  - in-process: no warm assistant (`RAG_WARM=off`): the asking process loads the models itself;
  - starting: the first ask when no warm assistant runs: it starts one, which loads the models and answers;
  - warm: an ask while the warm assistant runs (rag/warm.py): the asking process loads no model.

Target: about 4 s (at most 8) and under 1.5 GiB. The peak is the asking process's own (VmHWM), the warm
assistant's is printed beside it. The machine's load average is printed with each run: on a shared machine,
compare runs made in the same conditions.

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


def run_ask(args: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float, float]:
    """One fresh `python -m rag.ask ARGS`: its result, wall seconds and its own peak RSS in MiB. The peak is
    VmHWM read at exit: ru_maxrss would count the process it was forked from."""
    with tempfile.TemporaryDirectory() as folder:
        peak_file = Path(folder) / "peak"
        code = ("import atexit, runpy, sys\n"
                f"atexit.register(lambda: open({str(peak_file)!r}, 'w').write("
                "[l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]))\n"
                "sys.argv = ['rag.ask', *sys.argv[1:]]\n"
                "runpy.run_module('rag.ask', run_name='__main__', alter_sys=True)\n")
        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, env={**os.environ, **env},
                                capture_output=True, text=True, timeout=900)
        return result, time.perf_counter() - start, int(peak_file.read_text()) / 1024


def one_ask(question: str, env: dict) -> tuple[float, float, str]:
    """Seconds, peak RSS (MiB) and the first line of the answer of one fresh `python -m rag.ask QUESTION`."""
    result, seconds, peak = run_ask([question], env)
    if result.returncode != 0:
        raise SystemExit(f"rag.ask failed ({result.returncode}): {result.stderr.strip()}")
    return seconds, peak, result.stdout.splitlines()[0]


def warm_assistant_rss(env: dict) -> float:
    """The running warm assistant's resident memory (MiB), from its pid as `rag.warm status` prints it."""
    status = subprocess.run([sys.executable, "-m", "rag.warm", "status"], cwd=REPO, env={**os.environ, **env},
                            capture_output=True, text=True).stdout
    pid = status.split()[1].rstrip(":") if status.startswith("pid ") else None
    if pid is None:
        return float("nan")
    rss = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmRSS")]
    return int(rss[0].split()[1]) / 1024


def stop_warm(env: dict) -> None:
    subprocess.run([sys.executable, "-m", "rag.warm", "stop"], cwd=REPO, env={**os.environ, **env},
                   capture_output=True, check=True)


def measure(label: str, question: str, env: dict, runs: int, before=None) -> dict:
    rows = []
    for number in range(1, runs + 1):
        if before:
            before()
        load = os.getloadavg()[0]
        seconds, peak, answer = one_ask(question, env)
        rows.append({"seconds": round(seconds, 2), "peak_rss_mib": round(peak), "load_average": round(load, 1)})
        print(f"{label} run {number}: {seconds:5.2f} s, {peak:5.0f} MiB (load average {load:.1f}): {answer}",
              flush=True)
    return {"runs": rows, "median_seconds": statistics.median(r["seconds"] for r in rows),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    os.environ.setdefault("RAG_STORE", str(REPO / "data/store"))
    os.environ.setdefault("RAG_KEY_FILE", str(REPO / ".demo-key/key"))
    os.environ["HF_HUB_OFFLINE"] = "1"
    warm = {"RAG_WARM": "on", "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="ask-bench-")}  # its own assistants
    one_ask(args.question, {"RAG_WARM": "off"})  # the first run may convert or copy models into the cache
    results = {"question": args.question, "cpus": os.cpu_count()}
    results["in_process"] = measure("in-process", args.question, {"RAG_WARM": "off"}, args.runs)
    results["starting"] = measure("starting", args.question, warm, args.runs, before=lambda: stop_warm(warm))
    results["warm"] = measure("warm", args.question, warm, args.runs)
    results["warm_assistant_rss_mib"] = round(warm_assistant_rss(warm))
    stop_warm(warm)
    for case in ("in_process", "starting", "warm"):
        figures = results[case]
        verdict = "within" if figures["median_seconds"] <= LIMIT_SECONDS and figures["peak_rss_mib"] < TARGET_RSS_MIB \
            else "OUTSIDE"
        print(f"{case}: median {figures['median_seconds']:.2f} s, peak {figures['peak_rss_mib']} MiB: {verdict} the "
              f"target of about {TARGET_SECONDS:.0f} s (at most {LIMIT_SECONDS:.0f}) and {TARGET_RSS_MIB} MiB")
    print(f"the warm assistant holds {results['warm_assistant_rss_mib']} MiB while it runs")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
