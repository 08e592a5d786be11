"""How cost grows with the store: 10k, 100k and 1M chunks, embedded Chroma and a Chroma server on loopback.

Records are real sealed records (the project's `seal`, keyed-hash ids, per-document keys in a sealed manifest,
`ChromaStore.upsert`, and the collection's lexical index updated as `python -m ingest` updates it) around
synthetic text (Zipf-distributed words, ~150 per chunk like a 200-token chunk) and synthetic 384-d vectors
(noisy copies of 1,000 random centroids, unit length). One store per backend grows through the sizes; at each
size a fresh process opens it as `rag.ask` does and measures:

  - `open_s`: a cold process opening the store and answering one retrieval (`Retriever.search_vector`: dense +
    lexical + fusion + decryption), imports aside; `cold_process_s` counts from the process's start;
  - query latency through `Retriever.search_vector`, hybrid and dense only (`lexical=False`), p50/p95 over
    the queries; the question's embedding is not included;
  - `rss_mib`: the client's peak RSS; disk bytes per chunk (and of them, the lexical index's).

`ingest_rps` is records/s of sealing, upserting and indexing, vectors given (embedding is `make bench`'s business).

    .venv/bin/python bench/scale_bench.py [--sizes 10000,100000,1000000] [--backend embedded|server]
                                          [--queries 200] [--workdir DIR] [--keep] [--json]
    .venv/bin/python bench/scale_bench.py --rmanuals [--store DIR]   # hybrid page-hit@3 on the R manuals

Prints one JSON object per size and backend (`--json`), else a Markdown table; writes bench/results/scale.json.
"""
from __future__ import annotations

import argparse
import base64
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
from rag.retrieve import Retriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.store.chroma import open_store  # noqa: E402
from rag.store.keyring import CollectionKeys  # noqa: E402
from rag.store.manifest import Manifest, SourceEntry  # noqa: E402
from rag.store.vault import CollectionSet, Vault  # noqa: E402
from rag.store.records import keyed_hash, seal  # noqa: E402  (imports rag.offline first: the tripwire is armed)

try:  # the persistent lexical index (issue 30); without it, the bench measures the in-memory one
    from rag.store import lexicon  # noqa: E402
except ImportError:
    lexicon = None

RESULTS = REPO / "bench/results/scale.json"
MANUALS = REPO.parent / "shared" / "corpora" / "r-manuals"
DIM = 384
VOCABULARY = 50_000
WORDS_PER_CHUNK = 150
CHUNKS_PER_DOC = 20
CENTROIDS = 1_000
BATCH = 2_000
GOAL_P50_MS = 20.0
COLLECTION = "bench"


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


def ingest(store, keys: CollectionKeys, state_dir: Path, start: int, stop: int, words, centres) -> dict:
    """Records start..stop as `python -m ingest` writes them: each document its own key in the sealed manifest,
    its chunks sealed under it, upserted, then the lexical index told (when there is one), then the manifest."""
    manifest = Manifest.load(state_dir, keys)
    writer = lexicon.LexiconWriter.open(state_dir, keys) if lexicon else None
    seal_s = upsert_s = index_s = 0.0
    began_all = time.perf_counter()
    for first in range(start, stop, BATCH):
        texts, vectors, docs = synthetic_batch(first, min(BATCH, stop - first), words, centres)
        began = time.perf_counter()
        sources = [f"corpus/doc-{d:07d}.pdf" for d in docs]
        source_ids = [keyed_hash(keys.index_key, "source", src) for src in sources]
        for src, sid in zip(sources, source_ids):
            if sid not in manifest.entries:
                manifest.entries[sid] = SourceEntry(src, "/bench", sid, 1, 0, "2026-01-01T00:00:00+00:00",
                                                    document_key=SourceEntry.new_document_key())
            manifest.entries[sid].chunks += 1
        ids = [keyed_hash(keys.index_key, "chunk", src, str(n), t[:64]) for n, (src, t) in
               enumerate(zip(sources, texts), start=first)]
        payloads = [{"text": t, "source": src, "page": n % CHUNKS_PER_DOC + 1, "start": 0, "end": len(t),
                     "headings": [], "lang": "en"} for n, (t, src) in enumerate(zip(texts, sources), start=first)]
        sealed = [seal(base64.b64decode(manifest.entries[sid].document_key), keys.current, sid, store.name, i, p)
                  for i, sid, p in zip(ids, source_ids, payloads)]
        sealed_at = time.perf_counter()
        store.upsert(ids, vectors, sealed, source_ids, keys.current)
        upserted_at = time.perf_counter()
        if writer:
            by_source: dict[str, list] = {}
            for i, sid, p in zip(ids, source_ids, payloads):
                by_source.setdefault(sid, []).append((i, p["text"], p["lang"], p["source"]))
            for sid, chunks in by_source.items():
                # A document cut by the batch boundary is added in two parts, as two flushes of an ingest would.
                writer.add(sid, _version(manifest.entries[sid]), chunks, replace=False)
        seal_s += sealed_at - began
        upsert_s += upserted_at - sealed_at
        index_s += time.perf_counter() - upserted_at
    began = time.perf_counter()
    if writer:
        writer.commit()
        writer.close()
    manifest.save(state_dir, keys)
    index_s += time.perf_counter() - began
    records = stop - start
    elapsed = time.perf_counter() - began_all
    return {"records": records, "seal_s": round(seal_s, 2), "upsert_s": round(upsert_s, 2),
            "index_s": round(index_s, 2), "ingest_rps": round(records / elapsed, 1)}


def _version(entry: SourceEntry) -> str:
    return lexicon.source_version(entry) if lexicon else ""


def rss_mib(process: psutil.Process | None = None) -> float:
    process = process or psutil.Process()
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return round(statistics.median(ordered), 2), round(ordered[int(0.95 * (len(ordered) - 1))], 2)


def measure(store_spec: str, keyring_file: Path, queries: int) -> dict:
    """In a fresh process: open the store as `rag` does, answer one retrieval (cold), then time queries."""
    words, centres = vocabulary(), centroids()
    rng = np.random.default_rng(2024)
    asks = [(" ".join(zipf_words(rng, words, 8)), unit(centres[rng.integers(0, CENTROIDS, 1)]
             + 0.6 * rng.standard_normal((1, DIM)) / np.sqrt(DIM))[0]) for _ in range(queries)]
    began = time.perf_counter()
    keys = CollectionKeys.from_obj(json.loads(keyring_file.read_bytes()))
    settings = Settings(store=store_spec)
    state_dir = keyring_file.parent / "state"
    store = CollectionSet([(Vault.open(COLLECTION, keys, state_dir), open_store(settings, keys))])
    retriever = Retriever(store, embedder=None)
    first = retriever.search_vector(*asks[0], k=4, language=ENGLISH)
    open_s = time.perf_counter() - began
    cold_process_s = time.time() - psutil.Process().create_time()
    assert len(first) == 4
    open_rss = rss_mib()
    timings = {}
    for label, engine in (("hybrid", retriever), ("dense", Retriever(store, None, lexical=False))):
        samples = []
        for text, vector in asks:
            began_query = time.perf_counter()
            hits = engine.search_vector(text, vector, k=4, language=ENGLISH)
            samples.append((time.perf_counter() - began_query) * 1000)
            assert len(hits) == 4 and all(h.text for h in hits)
        timings[label] = percentiles(samples)
    return {"count": store.count(), "open_s": round(open_s, 2), "cold_process_s": round(cold_process_s, 2),
            "open_rss_mib": round(open_rss),
            "hybrid_p50_ms": timings["hybrid"][0], "hybrid_p95_ms": timings["hybrid"][1],
            "dense_p50_ms": timings["dense"][0], "dense_p95_ms": timings["dense"][1],
            "rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


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
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_backend(backend: str, sizes: list[int], queries: int, workdir: Path, keyring_file: Path,
                as_json: bool) -> list[dict]:
    keys = CollectionKeys.from_obj(json.loads(keyring_file.read_bytes()))
    data = workdir / backend
    state_dir = keyring_file.parent / "state"
    state_dir.mkdir(exist_ok=True)
    server = None
    if backend == "server":
        server, spec = start_server(data)
    else:
        spec = str(data)
    rows = []
    try:
        store = open_store(Settings(store=spec), keys, SyntheticEmbedder(), create=True)
        words, centres, have = vocabulary(), centroids(), store.count()
        for size in sizes:
            if size > have:
                print(f"[{backend}] ingesting to {size:,}...", file=sys.stderr, flush=True)
                row = {"backend": backend, "chunks": size, **ingest(store, keys, state_dir, have, size, words, centres)}
                have = size
            else:
                row = {"backend": backend, "chunks": size, "ingest_rps": None}
            print(f"[{backend}] {row}; measuring {size:,}...", file=sys.stderr, flush=True)
            worker = subprocess.run([sys.executable, __file__, "--measure", spec, str(keyring_file),
                                     "--queries", str(queries)], capture_output=True, text=True)
            if worker.returncode:
                raise RuntimeError(f"the measuring process failed:\n{worker.stderr[-3000:]}")
            row.update(json.loads(worker.stdout.strip().splitlines()[-1]))
            row["disk_bytes_per_chunk"] = round((disk_bytes(data) + disk_bytes(state_dir)) / size)
            row["lexicon_bytes_per_chunk"] = round(sum(disk_bytes(p) for p in state_dir.glob("lexicon-*")) / size)
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            if server:
                row["server_rss_mib"] = round(rss_mib(psutil.Process(server.pid)))
            rows.append(row)
            print(json.dumps(row), flush=True) if as_json else print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if server:
            server.terminate()
            server.wait(timeout=30)
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| backend | chunks | ingest rec/s | open + first retrieval s | hybrid p50 / p95 ms | dense p50 / p95 ms "
             "| client peak RSS MiB | server RSS MiB | disk B/chunk (lexical index) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['backend']} | {r['chunks']:,} | {r['ingest_rps'] or '–'} | {r['open_s']} | "
                     f"{r['hybrid_p50_ms']} / {r['hybrid_p95_ms']} | {r['dense_p50_ms']} / {r['dense_p95_ms']} | "
                     f"{r['rss_mib']} | {r.get('server_rss_mib', '–')} | {r['disk_bytes_per_chunk']:,} "
                     f"({r['lexicon_bytes_per_chunk']:,}) |")
    return "\n".join(lines)


def rmanuals(store: Path | None, sets: list[str]) -> dict:
    """Hybrid (and dense-only) page-hit@3 of retrieval as `rag.ask` retrieves (acronyms read, k=4, first 3 kept)
    on the R-manual questions; ingests the manuals first unless `store` already holds them."""
    from rag import language as languages
    from rag.embed import load_embedder
    from rag.ingest import run_ingest
    from rag.store.keyring import open_keyring
    from rag.store.vault import open_collections

    if not MANUALS.exists():
        return {"skipped": f"{MANUALS} not found"}
    temporary = None
    if store is None:
        temporary = Path(tempfile.mkdtemp(prefix="rag-rmanuals-"))
        store = temporary / "store"
    settings = Settings(store=str(store), key_file=store.parent / "key")
    embedder = load_embedder(settings.embedder, settings.precision, settings.cache_dir)
    try:
        if not (store / "chroma").exists():
            run_ingest([MANUALS], settings, embedder=embedder)
        keyring = open_keyring(settings, store, create=False)
        began = time.perf_counter()
        collections = open_collections(settings, keyring, embedder)
        hybrid, dense = Retriever(collections, embedder), Retriever(collections, embedder, lexical=False)
        items = [q for name in sets for q in json.loads((REPO / "bench" / "data" / f"rmanuals_{name}.json")
                                                        .read_text())["questions"] if q["answerable"]]
        hits = {"hybrid": [], "dense": []}
        for n, q in enumerate(items):
            language = languages.of(q["question"])
            for label, retriever in (("hybrid", hybrid), ("dense", dense)):
                read_as = retriever.read_acronyms(q["question"], language)
                from rag.acronyms import expand

                found = retriever.search(expand(q["question"], read_as), settings.k, phrases=list(read_as.values()),
                                         language=language)
                hits[label].append(any(p.source == q["file"] and p.page == q["page"] for p in found[:3]))
            if n == 0:
                first_s = time.perf_counter() - began
        return {"set": "+".join(f"rmanuals-{s}" for s in sets), "questions": len(items),
                "hybrid_page_hit@3": round(float(np.mean(hits["hybrid"])), 4),
                "dense_page_hit@3": round(float(np.mean(hits["dense"])), 4), "chunks": collections.count(),
                "open_and_first_question_s": round(first_s, 2)}
    finally:
        if temporary:
            shutil.rmtree(temporary, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated, ascending")
    parser.add_argument("--backend", "--backends", dest="backends", default="embedded,server",
                        help="embedded, server, or both (comma-separated)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", type=Path, help="where the stores go (default: a temporary folder); "
                        "a kept store there grows on to the next size")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--json", action="store_true", help="print one JSON object per size and backend")
    parser.add_argument("--rmanuals", action="store_true", help="hybrid page-hit@3 on the R-manual questions")
    parser.add_argument("--store", type=Path, help="with --rmanuals: a store that holds the manuals already")
    parser.add_argument("--sets", default="design", help="with --rmanuals: design, heldout or design,heldout")
    parser.add_argument("--measure", nargs=2, metavar=("STORE", "KEYRING"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure[0], Path(args.measure[1]), args.queries)))
        return 0
    if args.rmanuals:
        print(json.dumps(rmanuals(args.store, args.sets.split(","))))
        return 0
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="rag-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    keyring_file = workdir / "bench-keyring.json"  # synthetic data only; a real keyring is never stored unwrapped
    if not keyring_file.exists():
        keyring_file.write_bytes(json.dumps(CollectionKeys.new().to_obj()).encode())
        keyring_file.chmod(0o600)
    try:
        rows = [row for backend in args.backends.split(",")
                for row in run_backend(backend, sizes, args.queries, workdir, keyring_file, args.json)]
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(workdir, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"cpu_count": os.cpu_count(), "rows": rows}, indent=1))
    if not args.json:
        print(table(rows))
        for r in rows:
            verdict = "meets" if r["hybrid_p50_ms"] <= GOAL_P50_MS else "misses"
            print(f"{r['backend']} {r['chunks']:,}: hybrid p50 {r['hybrid_p50_ms']} ms {verdict} the "
                  f"{GOAL_P50_MS:.0f} ms goal; open + first retrieval {r['open_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
