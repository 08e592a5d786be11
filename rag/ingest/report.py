"""Progress bar and the final summary of a batch, for people at a terminal."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rag.ingest.job import Progress as JobProgress
from rag.ingest.job import Summary


class ProgressBar:
    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._bar = Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[pages]} pages · {task.fields[chunks]} chunks · "
                                        "{task.fields[rate]:.1f} chunks/s"), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True)
        self._task = None

    def __enter__(self) -> "ProgressBar":
        if self.enabled:
            self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self._bar.stop()

    def update(self, event: JobProgress) -> None:
        if not self.enabled:
            return
        if self._task is None:
            self._task = self._bar.add_task("ingest", total=event.files_total, pages=0, chunks=0, rate=0.0)
        self._bar.update(self._task, completed=event.files_done, pages=event.pages, chunks=event.chunks,
                         rate=event.chunks / max(event.seconds, 1e-9))


def print_summary(summary: Summary, store: str) -> None:
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    for path, reason in summary.skipped:
        err.print(f"skipped: {path}: {reason}", markup=False)
    for path, reason in summary.failed:
        err.print(f"failed:  {path}: {reason}", markup=False)
    for path, reason in summary.warnings:
        err.print(f"warning: {path}: {reason}", markup=False)
    verb = "would ingest" if summary.dry_run else "ingested"
    line = (f"{verb} {len(summary.ingested)}, unchanged {len(summary.unchanged)}, skipped {len(summary.skipped)}, "
            f"failed {len(summary.failed)}")
    if summary.pruned:
        line += f", {'would prune' if summary.dry_run else 'pruned'} {len(summary.pruned)}"
    if not summary.dry_run:
        line += f" · {summary.pages} pages, {summary.chunks} chunks in {summary.seconds:.1f} s → {store}"
    out.print(line, markup=False)
    sys.stdout.flush()
