#!/usr/bin/env python3
"""Write one file of each supported format, with invented facts, into a folder (default build/format-fixtures).

What a new user's folder holds: a Word handbook with a table, a slide deck, a spreadsheet register and a
CSV, a saved intranet page, an e-mail notice with an attachment, a two-page scanned PDF and a photo of a
whiteboard. The formats tests ingest exactly this folder; `make fixtures` writes it to look at.

Usage:
    python scripts/make_format_fixtures.py [FOLDER]
"""
from __future__ import annotations

import sys
from pathlib import Path

from fixtures_office import contacts_csv, deck_pptx, handbook_docx, register_xlsx
from fixtures_scans import scanned_pdf, whiteboard_png
from fixtures_web_mail import intranet_html, notice_eml

BUILDERS = {
    "handbook.docx": handbook_docx, "deck.pptx": deck_pptx, "register.xlsx": register_xlsx,
    "contacts.csv": contacts_csv, "intranet.html": intranet_html, "notice.eml": notice_eml,
    "scan.pdf": scanned_pdf, "whiteboard.png": whiteboard_png,
}


def write_fixtures(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in BUILDERS.items():
        (folder / name).write_bytes(build())
        written.append(folder / name)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "build" / "format-fixtures")
    for path in write_fixtures(target):
        print(path)
