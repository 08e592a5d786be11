"""`python -m ingest` and `ingest.run(...)`: the batch job, whose code lives in `rag.ingest`."""
import rag.offline  # noqa: F401  armed before any library can reach the network
from rag.ingest import Progress, Summary, run, run_ingest

__all__ = ["run", "run_ingest", "Summary", "Progress"]
