"""`python -m ingest PATH...`: the command keeps its short name; the code is `rag.ingest`."""
from rag.cli import run_main
from rag.ingest.__main__ import main

if __name__ == "__main__":
    run_main(main)
