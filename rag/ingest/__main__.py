"""`python -m ingest PATH... [--store DIR] [--prune] [--dry-run]`"""
from __future__ import annotations

import argparse
import sys

import rag.offline  # noqa: F401
from rag.cli import run_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from rag.settings import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python -m ingest",
        description="Chunk, embed and encrypt documents (PDF, Word, slides, sheets, web pages, e-mail, "
                    "text, Markdown; scans and images by OCR) into the local store. "
                    "Exit 0: all ingested; 1: some files failed; 2: usage or key error.")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (recursive)")
    add_common_flags(parser)
    parser.add_argument("--prune", action="store_true", help="remove chunks of files that are gone from the folders")
    parser.add_argument("--dry-run", action="store_true", help="say what would change, write nothing")
    parser.add_argument("--check", action="store_true", help="compare the manifest with the store and repair "
                        "disagreements (after a crash); the next ingest redoes the affected files")
    args = parser.parse_args(argv)
    if not args.paths and not args.check:
        parser.error("name at least one PATH (or use --check)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from rag.ingest.job import run_ingest
    from rag.ingest.report import ProgressBar, print_summary
    from rag.settings import settings_from_args

    settings = settings_from_args(args)
    if args.check:
        from rag.ingest.job import run_check

        report = run_check(settings)
        print("store and manifest agree" if report.clean else
              f"repaired: {report.orphan_chunks} orphan chunks removed; re-ingest needed for "
              f"{len(report.mismatched)} files: {', '.join(report.mismatched) or '-'}")
        return 0
    with ProgressBar(enabled=sys.stderr.isatty()) as bar:
        summary = run_ingest(args.paths, settings, prune=args.prune, dry_run=args.dry_run, progress=bar.update)
    print_summary(summary, settings.store)
    return summary.exit_code


if __name__ == "__main__":
    run_main(main)
