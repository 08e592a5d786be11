"""Batch ingestion into the encrypted store: `python -m ingest` or `ingest.run(...)`."""
import rag.offline  # noqa: F401  armed before any library can reach the network
from rag.ingest.job import Progress, Summary, run_ingest

run = run_ingest

__all__ = ["run", "run_ingest", "Summary", "Progress"]
