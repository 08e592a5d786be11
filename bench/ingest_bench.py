"""Ingestion benchmark: our pipeline against the textbook LangChain one, on the same machine, in one run.

Measures, each in a fresh subprocess (no shared caches):
  1. `python -m ingest CORPUS` into a fresh temporary store (first run);
  2. the same command again over the unchanged corpus and store (re-ingest);
  3. bench/textbook_ingest.py (PyPDFLoader -> RecursiveCharacterTextSplitter(1000, 200) ->
     HuggingFaceEmbeddings(MiniLM) -> Chroma.from_documents).
Seconds are wall-clock time of the whole subprocess (interpreter start and imports included);
peak RSS is the largest sum of RSS over the child's process tree, sampled every 0.2 s.

Targets: ours >= 2.5x the textbook pages/s, our peak RSS <= 2 GiB, re-ingest <= 5% of the first run.
Prints a Markdown table and writes bench/results/ingest.json.

    .venv/bin/python bench/ingest_bench.py [--corpus DIR] [--skip-textbook | --only-textbook]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = REPO.parent / "shared/corpora/r-manuals"
RESULTS = REPO / "bench/results/ingest.json"
TEXTBOOK_SCRIPT = REPO / "bench/textbook_ingest.py"
SAMPLE_SECONDS = 0.2

TARGET_SPEEDUP = 2.5
TARGET_RSS_MIB = 2048
TARGET_REINGEST = 0.05

# Variables that would point our CLI at another store, key or model than the fresh ones here.
_SCRUBBED_ENV = ("RAG_STORE", "RAG_KEY_FILE", "RAG_PASSPHRASE", "RAG_COLLECTION", "RAG_EMBEDDER", "RAG_CACHE_DIR")
_SUMMARY_LINE = re.compile(
    r"ingested (?P<ingested>\d+), unchanged (?P<unchanged>\d+), skipped (?P<skipped>\d+), "
    r"failed (?P<failed>\d+).*?(?P<pages>\d+) pages, (?P<chunks>\d+) chunks in (?P<seconds>[\d.]+) s")


@dataclass
class Result:
    pipeline: str
    pages: int
    chunks: int
    seconds: float  # wall-clock time of the subprocess
    peak_rss_mib: float  # largest sampled sum of RSS over the process tree
    max_single_rss_mib: float  # largest RSS of any one process in the tree (kernel's ru_maxrss)
    internal_seconds: float | None = None  # the time the pipeline itself reports
    details: dict = field(default_factory=dict)

    @property
    def pages_per_s(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0

    @property
    def chunks_per_s(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "pages_per_s": round(self.pages_per_s, 3), "chunks_per_s": round(self.chunks_per_s, 3)}


@dataclass
class Measured:
    returncode: int
    seconds: float
    peak_rss_mib: float
    max_single_rss_mib: float
    stdout: str
    stderr: str


class BenchError(RuntimeError):
    pass


# --- measuring one subprocess --------------------------------------------------------------

def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_measured(cmd: list[str], env: dict[str, str], workdir: Path) -> Measured:
    """Run `cmd` to completion; wall time, sampled peak RSS of its tree, and its output."""
    out_path, err_path = workdir / "stdout.txt", workdir / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        popen = psutil.Popen(cmd, stdout=out, stderr=err, stdin=psutil.subprocess.DEVNULL, env=env, cwd=REPO)
        peak = 0
        while True:
            # wait4 reaps the child itself, so its rusage (ru_maxrss) is ours to read.
            pid, status, usage = os.wait4(popen.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, _tree_rss(popen))
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
    popen.returncode = os.waitstatus_to_exitcode(status)
    read = lambda p: p.read_text(encoding="utf-8", errors="replace")  # noqa: E731
    return Measured(popen.returncode, seconds, peak / 2**20, usage.ru_maxrss / 1024, read(out_path), read(err_path))


def _check(measured: Measured, what: str) -> None:
    if measured.returncode != 0:
        tail = "\n".join(measured.stderr.strip().splitlines()[-15:])
        raise BenchError(f"{what} exited with code {measured.returncode}:\n{tail}")


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- the pipelines -------------------------------------------------------------------------

def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(PYTHONIOENCODING="utf-8", PYTHONUNBUFFERED="1", **extra)
    return env


PREPARE_EMBEDDER = ("import rag.offline; from rag.embed import load_embedder; from rag.settings import Settings; "
                    "e = load_embedder('default', 'auto', Settings.from_env().cache_dir); e.encode(['x']); "
                    "print(e.precision)")


def _workdir(tmp: Path, label: str) -> Path:
    workdir = tmp / re.sub(r"\W+", "-", label).strip("-")
    workdir.mkdir()
    return workdir


def run_ours(corpus: Path, tmp: Path, label: str) -> Result:
    workdir = _workdir(tmp, label)
    env = child_env(RAG_STORE=str(tmp / "store"), RAG_KEY_FILE=str(tmp / "key"))
    measured = run_measured([sys.executable, "-m", "ingest", str(corpus)], env, workdir)
    _check(measured, f"our ingest ({label})")
    line = _last_line(measured.stdout)
    match = _SUMMARY_LINE.search(line)
    if not match:
        raise BenchError(f"cannot parse our ingest summary line: {line!r}")
    counts = {k: int(v) for k, v in match.groupdict().items() if k != "seconds"}
    if counts["failed"]:
        raise BenchError(f"our ingest failed on {counts['failed']} file(s): {line}")
    return Result(label, counts["pages"], counts["chunks"], measured.seconds, measured.peak_rss_mib,
                  measured.max_single_rss_mib, float(match["seconds"]),
                  {"files_ingested": counts["ingested"], "files_unchanged": counts["unchanged"],
                   "files_skipped": counts["skipped"], "summary_line": line})


def run_textbook(corpus: Path, tmp: Path) -> Result:
    workdir = _workdir(tmp, "textbook")
    cmd = [sys.executable, str(TEXTBOOK_SCRIPT), "--corpus", str(corpus), "--persist", str(workdir / "chroma")]
    measured = run_measured(cmd, child_env(), workdir)
    _check(measured, "textbook pipeline")
    try:
        report = json.loads(_last_line(measured.stdout))
    except json.JSONDecodeError:
        raise BenchError(f"cannot parse the textbook output: {_last_line(measured.stdout)!r}") from None
    details = {k: v for k, v in report.items() if k not in ("pages", "chunks", "seconds")}
    return Result("textbook", report["pages"], report["chunks"], measured.seconds, measured.peak_rss_mib,
                  measured.max_single_rss_mib, report["seconds"], details)


# --- machine facts, verdicts, output -------------------------------------------------------

def cpu_facts() -> dict:
    flags: set[str] = set()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
            elif line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "avx2": "avx2" in flags, "avx512_bf16": "avx512_bf16" in flags,
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version()}


def verdicts(results: dict[str, Result]) -> dict:
    first, again, textbook = results.get("ours"), results.get("ours (re-ingest)"), results.get("textbook")
    out: dict = {}
    if first and textbook and textbook.pages_per_s:
        ratio = first.pages_per_s / textbook.pages_per_s
        out["speedup_pages_per_s"] = {"value": round(ratio, 3), "target": f">= {TARGET_SPEEDUP}",
                                      "pass": ratio >= TARGET_SPEEDUP}
    if first:
        out["peak_rss_mib"] = {"value": round(first.peak_rss_mib, 1), "target": f"<= {TARGET_RSS_MIB}",
                               "pass": first.peak_rss_mib <= TARGET_RSS_MIB}
    if first and again:
        ratio = again.seconds / first.seconds
        out["reingest_ratio"] = {"value": round(ratio, 4), "target": f"<= {TARGET_REINGEST:.0%}",
                                 "pass": ratio <= TARGET_REINGEST}
    return out


def markdown(results: dict[str, Result], verdict: dict, cpu: dict) -> str:
    rows = ["| pipeline | pages | chunks | seconds | pages/s | chunks/s | peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results.values():
        rate = lambda v: f"{v:.1f}" if r.pages else "–"  # noqa: E731  (a re-ingest processes nothing)
        rows.append(f"| {r.pipeline} | {r.pages} | {r.chunks} | {r.seconds:.1f} | {rate(r.pages_per_s)} | "
                    f"{rate(r.chunks_per_s)} | {r.peak_rss_mib:.0f} |")
    lines = ["\n".join(rows), ""]
    names = {"speedup_pages_per_s": "speed ours/textbook (pages/s)", "peak_rss_mib": "our peak RSS (MiB)",
             "reingest_ratio": "re-ingest / first run (wall time)"}
    for key, v in verdict.items():
        value = f"{v['value']:.1%}" if key == "reingest_ratio" else f"{v['value']:g}{'x' if 'speed' in key else ''}"
        lines.append(f"- {names[key]}: {value} (target {v['target']}) **{'PASS' if v['pass'] else 'FAIL'}**")
    internal = ", ".join(f"{r.pipeline} {r.internal_seconds:.1f} s" for r in results.values()
                         if r.internal_seconds is not None)
    lines.append(f"- seconds are subprocess wall time; as timed by the pipelines themselves: {internal}")
    if "textbook" in results:
        lines.append(f"- textbook model load: {results['textbook'].details.get('model_load_seconds', '?')} s "
                     "(included); chunks differ in size between pipelines (tokens vs 1000 characters)")
    lines.append(f"- CPU: {cpu['cpu_model'] or '?'}; os.cpu_count()={cpu['cpu_count']}, "
                 f"avx2={cpu['avx2']}, avx512_bf16={cpu['avx512_bf16']}, RAM {cpu['memory_gib']} GiB")
    return "\n".join(lines)


def write_json(results: dict[str, Result], verdict: dict, cpu: dict, corpus: Path) -> Path:
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    doc = {"timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "corpus": str(corpus), "cpu": cpu,
           "results": [r.to_json() for r in results.values()], "targets": verdict}
    RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
    return RESULTS


# --- main ----------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ingestion benchmark: ours vs the textbook LangChain pipeline.")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help=f"folder of PDFs (default {DEFAULT_CORPUS})")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--skip-textbook", action="store_true", help="measure only our pipeline")
    which.add_argument("--only-textbook", action="store_true", help="measure only the textbook pipeline")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    corpus = args.corpus.resolve()
    if not corpus.is_dir() or not any(corpus.rglob("*.pdf")):
        print(f"skipped: corpus folder {corpus} is absent or holds no PDF; nothing to benchmark.")
        return 0
    cpu = cpu_facts()
    results: dict[str, Result] = {}
    tmp = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    try:
        # Ours first, then the textbook; every run is a fresh process.
        if not args.only_textbook:
            # Building the int8 graph is a once-per-machine step, like unpacking a model: not ingestion.
            prepared = run_measured([sys.executable, "-c", PREPARE_EMBEDDER], child_env(), _workdir(tmp, "prepare"))
            _check(prepared, "preparing the embedder")
            print(f"embedder prepared in {prepared.seconds:.1f} s (route: {_last_line(prepared.stdout)})",
                  file=sys.stderr, flush=True)
            for label in ("ours", "ours (re-ingest)"):
                print(f"running {label} …", file=sys.stderr, flush=True)
                results[label] = run_ours(corpus, tmp, label)
        if not args.skip_textbook:
            print("running textbook …", file=sys.stderr, flush=True)
            results["textbook"] = run_textbook(corpus, tmp)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verdict = verdicts(results)
    print(markdown(results, verdict, cpu))
    print(f"\nresults written to {write_json(results, verdict, cpu, corpus).relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
