"""How cost grows with the store: 10k, 100k and 1M chunks, embedded Chroma and a Chroma server on loopback.

Records are real sealed records (the project's `seal`, keyed-hash ids, `ChromaStore.upsert`) around
synthetic text (Zipf-distributed words, ~150 per chunk like a 200-token chunk) and synthetic 384-d vectors
(noisy copies of 1,000 random centroids, unit length). One store per backend grows through the sizes;
at each size a fresh process opens it and measures:

  - the BM25 lexical index that `rag.retrieve` rebuilds in memory at open: scan, decrypt, index (s, MiB);
  - query latency through `Retriever.search_vector` (dense + lexical + fusion + decryption of the hits),
    and dense only (`lexical=False`), p50/p95 over the queries; the question's embedding is not included;
  - peak RSS of the client (and of the server), disk bytes per chunk.

Ingest rate is records/s of sealing plus upserting, vectors given (embedding is `make bench`'s business).

    .venv/bin/python bench/scale_bench.py [--sizes 10000,100000,1000000] [--backends embedded,server]
                                          [--queries 200] [--workdir DIR] [--keep]

Prints a Markdown table and writes bench/results/scale.json.
"""
from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rag.language.english import ENGLISH  # noqa: E402  (the synthetic words are no language)
from rag.retrieve import LexicalIndex, Retriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.chroma import open_store  # noqa: E402
from rag.store.keyring import CollectionKeys  # noqa: E402
from rag.store.manifest import Manifest  # noqa: E402
from rag.store.vault import CollectionSet, Vault  # noqa: E402
from rag.store.records import keyed_hash, seal  # noqa: E402  (imports rag.offline first: the tripwire is armed)

RESULTS = REPO / "bench/results/scale.json"
DIM = 384
VOCABULARY = 50_000
WORDS_PER_CHUNK = 150
CHUNKS_PER_DOC = 20
CENTROIDS = 1_000
BATCH = 2_000
GOAL_P50_MS = 20.0


class SyntheticEmbedder:
    """What `open_store` records about the embedder; the bench supplies the vectors itself."""

    name, dim, fingerprint = "synthetic-384", DIM, "synthetic0000000"
    query_prompt = passage_prompt = ""


def vocabulary() -> np.ndarray:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(3, 10, VOCABULARY)
    return np.array(["".join(rng.choice(letters, n)) for n in lengths])


def zipf_words(rng: np.random.Generator, words: np.ndarray, count: int) -> np.ndarray:
    return words[np.minimum(rng.zipf(1.1, count), len(words)) - 1]


def centroids() -> np.ndarray:
    points = np.random.default_rng(11).standard_normal((CENTROIDS, DIM)).astype(np.float32)
    return points / np.linalg.norm(points, axis=1, keepdims=True)


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def synthetic_batch(start: int, count: int, words: np.ndarray, centres: np.ndarray):
    """Texts, vectors and document numbers of records start..start+count, the same on every run."""
    rng = np.random.default_rng(start)
    drawn = zipf_words(rng, words, count * WORDS_PER_CHUNK).reshape(count, WORDS_PER_CHUNK)
    texts = [" ".join(row) for row in drawn]
    vectors = unit(centres[rng.integers(0, CENTROIDS, count)] + 0.6 * rng.standard_normal((count, DIM)) / np.sqrt(DIM))
    return texts, vectors, [(start + i) // CHUNKS_PER_DOC for i in range(count)]


def document_key(keys: CollectionKeys, source_id: str) -> bytes:
    """The bench's documents' own keys, derived so that no manifest of 100k documents is needed; a real
    store draws each at random and keeps it in the collection's sealed manifest."""
    return hmac.new(keys.record_key, source_id.encode(), hashlib.sha256).digest()


class BenchVault(Vault):
    def _key(self, fmt: int, version: int, source_id: str | None) -> list[bytes]:
        return [document_key(self.keys, source_id)]


def ingest(store, keyring: CollectionKeys, start: int, stop: int, words, centres) -> dict:
    seal_s = upsert_s = 0.0
    for first in range(start, stop, BATCH):
        texts, vectors, docs = synthetic_batch(first, min(BATCH, stop - first), words, centres)
        began = time.perf_counter()
        sources = [f"corpus/doc-{d:07d}.pdf" for d in docs]
        ids = [keyed_hash(keyring.index_key, "chunk", src, str(n), t[:64]) for n, (src, t) in
               enumerate(zip(sources, texts), start=first)]
        source_ids = [keyed_hash(keyring.index_key, "source", src) for src in sources]
        sealed = [seal(document_key(keyring, sid), keyring.current, sid, store.name, i,
                       {"text": t, "source": src, "page": n % CHUNKS_PER_DOC + 1, "start": 0, "end": len(t),
                        "headings": []})
                  for n, (i, t, src, sid) in enumerate(zip(ids, texts, sources, source_ids), start=first)]
        sealed_at = time.perf_counter()
        store.upsert(ids, vectors, sealed, source_ids, keyring.current)
        seal_s += sealed_at - began
        upsert_s += time.perf_counter() - sealed_at
    records = stop - start
    return {"records": records, "seal_s": round(seal_s, 2), "upsert_s": round(upsert_s, 2),
            "records_per_s": round(records / (seal_s + upsert_s), 1)}


def rss_mib(process: psutil.Process | None = None) -> float:
    process = process or psutil.Process()
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return round(statistics.median(ordered), 2), round(ordered[int(0.95 * (len(ordered) - 1))], 2)


def measure(store_spec: str, keyring_file: Path, queries: int) -> dict:
    """In a fresh process: open the store as `rag` does, build the lexical index, time queries."""
    keyring = CollectionKeys.from_obj(json.loads(keyring_file.read_bytes()))
    store = CollectionSet([(BenchVault("bench", keyring, keyring_file.parent, Manifest()),
                            open_store(Settings(store=store_spec), keyring))])
    base_rss = rss_mib()
    began = time.perf_counter()
    records = list(store.scan())
    scanned = time.perf_counter()
    retriever = Retriever(store, embedder=None)
    passages = {i: retriever.open_record(i, s) for i, s, _, _ in records}
    decrypted = time.perf_counter()
    del records
    index = LexicalIndex(passages)
    indexed = time.perf_counter()
    lexical_rss = rss_mib() - base_rss
    del passages, index

    words, centres = vocabulary(), centroids()
    rng = np.random.default_rng(2024)
    asks = [(" ".join(zipf_words(rng, words, 8)), unit(centres[rng.integers(0, CENTROIDS, 1)]
             + 0.6 * rng.standard_normal((1, DIM)) / np.sqrt(DIM))[0]) for _ in range(queries)]
    warm = time.perf_counter()
    # The first question builds the retriever's own lexical index.
    retriever.search_vector(*asks[0], k=4, language=ENGLISH)
    first_query_s = time.perf_counter() - warm
    timings = {}
    for label, engine in (("hybrid", retriever), ("dense", Retriever(store, None, lexical=False))):
        samples = []
        for text, vector in asks:
            began_query = time.perf_counter()
            hits = engine.search_vector(text, vector, k=4, language=ENGLISH)
            samples.append((time.perf_counter() - began_query) * 1000)
            assert len(hits) == 4 and all(h.text for h in hits)
        timings[label] = percentiles(samples)
    return {"count": store.count(), "scan_s": round(scanned - began, 2), "decrypt_s": round(decrypted - scanned, 2),
            "bm25_s": round(indexed - decrypted, 2), "lexical_mib": round(lexical_rss),
            "first_query_s": round(first_query_s, 2),
            "hybrid_p50_ms": timings["hybrid"][0], "hybrid_p95_ms": timings["hybrid"][1],
            "dense_p50_ms": timings["dense"][0], "dense_p95_ms": timings["dense"][1],
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "CHROMA_ANONYMIZED_TELEMETRY": "False"}
    server = subprocess.Popen([str(Path(sys.executable).with_name("chroma")), "run", "--path", str(path),
                               "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"chroma+http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the Chroma server did not start within 60 s")


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_backend(backend: str, sizes: list[int], queries: int, workdir: Path, keyring_file: Path) -> list[dict]:
    keyring = CollectionKeys.from_obj(json.loads(keyring_file.read_bytes()))
    data = workdir / backend
    server = None
    if backend == "server":
        server, spec = start_server(data)
    else:
        spec = str(data)
    rows = []
    try:
        store = open_store(Settings(store=spec), keyring, SyntheticEmbedder(), create=True)
        words, centres, have = vocabulary(), centroids(), 0
        for size in sizes:
            print(f"[{backend}] ingesting to {size:,}...", file=sys.stderr, flush=True)
            row = {"backend": backend, "size": size, **ingest(store, keyring, have, size, words, centres)}
            have = size
            print(f"[{backend}] {row}; measuring {size:,}...", file=sys.stderr, flush=True)
            worker = subprocess.run([sys.executable, __file__, "--measure", spec, str(keyring_file),
                                     "--queries", str(queries)], capture_output=True, text=True, check=True)
            row.update(json.loads(worker.stdout.strip().splitlines()[-1]))
            row["disk_bytes_per_chunk"] = round(disk_bytes(data) / size)
            if server:
                row["server_rss_mib"] = round(rss_mib(psutil.Process(server.pid)))
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| backend | chunks | ingest rec/s | hybrid p50 / p95 ms | dense p50 / p95 ms | lexical build s "
             "(scan + decrypt + BM25) | lexical MiB | client peak RSS MiB | server RSS MiB | disk B/chunk |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        build = r["scan_s"] + r["decrypt_s"] + r["bm25_s"]
        lines.append(f"| {r['backend']} | {r['size']:,} | {r['records_per_s']:,.0f} | {r['hybrid_p50_ms']} / "
                     f"{r['hybrid_p95_ms']} | {r['dense_p50_ms']} / {r['dense_p95_ms']} | {build:.1f} ({r['scan_s']} + "
                     f"{r['decrypt_s']} + {r['bm25_s']}) | {r['lexical_mib']} | {r['peak_rss_mib']} | "
                     f"{r.get('server_rss_mib', '–')} | {r['disk_bytes_per_chunk']:,} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated, ascending")
    parser.add_argument("--backends", default="embedded,server")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="where the stores go (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--measure", nargs=2, metavar=("STORE", "KEYRING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), args.queries)))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rag-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keyring_file = workdir / "bench-keyring.json"  # synthetic data only; a real keyring is never stored unwrapped
    keyring_file.write_bytes(json.dumps(CollectionKeys.new().to_obj()).encode())
    keyring_file.chmod(0o600)
    try:
        rows = [row for backend in args.backends.split(",")
                for row in run_backend(backend, sizes, args.queries, workdir, keyring_file)]
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    print(table(rows))
    goal = [r for r in rows if r["size"] == 100_000]
    for r in goal:
        verdict = "meets" if r["hybrid_p50_ms"] <= GOAL_P50_MS else "misses"
        print(f"{r['backend']}: hybrid p50 at 100k {r['hybrid_p50_ms']} ms {verdict} the {GOAL_P50_MS:.0f} ms goal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
