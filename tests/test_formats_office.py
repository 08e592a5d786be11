"""Word, PowerPoint, Excel and CSV: what a citation will show, and hostile files that fail fast with a reason."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from rag.errors import FileFailed
from rag.ingest.load import Context, load_bytes

sys.path.insert(0, str(ROOT / "scripts"))
import fixtures_office as fixtures  # noqa: E402

TITLE = "Harrowgate Freight Staff Handbook"


def _load(data: bytes, name: str) -> tuple[list, list[str]]:
    context = Context(name)
    return load_bytes(data, context), context.warnings


def _unit_with(units: list, text: str):
    return next(unit for unit in units if text in unit.text)


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    return fixtures.zip_bomb_docx()  # 1 GiB inflated; about 5 s to build, so once


def test_a_word_table_row_is_one_labelled_line_in_its_section():
    units, warnings = _load(fixtures.handbook_docx(), "handbook.docx")
    depots = _unit_with(units, "Site manager: Ingrid Halvorsen")
    assert depots.headings == [TITLE, "Depots"] and depots.page is None
    lines = depots.text.split("\n")
    assert "Depot: Carrow Fen; Site manager: Ingrid Halvorsen; Opening hours: 06:00-18:00." in lines
    assert "Depot: Lowther Quay; Site manager: Marcus Oyelaran; Opening hours: 07:00-19:00." in lines
    # The table stays where it was: after the intro, before the paragraph that follows it.
    text = depots.text
    assert text.startswith("Depots\n\n")
    assert text.index("runs two depots") < text.index("Depot: Carrow Fen") < text.index("public holidays")
    assert warnings == []


def test_word_sections_carry_their_heading_path():
    units, _ = _load(fixtures.handbook_docx(), "handbook.docx")
    sabbatical = _unit_with(units, fixtures.SABBATICAL)
    assert sabbatical.headings == [TITLE, "Leave", "Sabbatical"]
    assert _unit_with(units, "people team in the Lowther Quay").headings == [TITLE, "Contact"]
    assert _unit_with(units, "revised every spring").headings == [TITLE]
    leave = _unit_with(units, "staff portal")
    assert leave.headings == [TITLE, "Leave"]
    # List items one per line; paragraphs apart by a blank line (the chunker's boundaries).
    assert "two weeks ahead.\n\nAnnual leave: 27 days a year\nCarry-over: at most 5 days" in leave.text
    assert [u.offset for u in units] == sorted(u.offset for u in units)


def test_word_outline_levels_merged_cells_content_controls_and_tracked_changes():
    units, _ = _load(fixtures.structured_docx(), "policy.docx")
    rail = _unit_with(units, "travel desk")
    assert rail.headings == ["Travel policy", "Rail travel"]
    lines = rail.text.split("\n")
    # A vertically merged cell labels every row it spans; a horizontal merge is read once.
    assert "Region: North; Depot: Carrow Fen; Manager: Ingrid Halvorsen." in lines
    assert "Region: North; Depot: Lowther Quay; Manager: Marcus Oyelaran." in lines
    assert "Region: South; Depot: Closed for refurbishment." in lines
    assert "Mileage is paid at 0.35 EUR per km." in rail.text  # the insertion, not the deletion
    assert "0.30" not in rail.text
    assert "Approved by the works council in 2026." in rail.text


def test_a_slide_is_a_page_with_its_title_body_tables_and_notes():
    units, warnings = _load(fixtures.deck_pptx(), "deck.pptx")
    assert [u.page for u in units] == [1, 2, 3, 4]
    fleet = units[2]
    assert fleet.headings == ["Fleet renewal"]
    assert fleet.text == f"Fleet renewal\n\n{fixtures.VANS}\n\nNotes: {fixtures.VAN_NOTES}"
    assert "Depot: Carrow Fen; On-time deliveries: 96%; Incidents: 2." in units[1].text.split("\n")
    assert units[0].text == "Harrowgate Freight Quarterly Review\n\nOperations update\nspring 2027"
    steps = units[3].text  # grouped shapes too, top to bottom, then left to right
    assert steps.index("First:") < steps.index("Second:") < steps.index("Third:")
    assert warnings == []


def test_a_sheet_is_a_page_and_each_row_a_labelled_line():
    units, warnings = _load(fixtures.register_xlsx(), "register.xlsx")
    assert [(u.page, u.headings) for u in units] == [(1, ["Summary"]), (2, ["Assets"])]
    lines = units[1].text.split("\n")
    assert lines == [
        "Asset tag: AT-4471; Item: Thermal camera; Location: Lab B; Custodian: Oskar Brandt.",
        "Asset tag: AT-4472; Item: Oscilloscope; Location: Lab A; Custodian: Mirela Costa; Purchased: 2025-11-03.",
        "Asset tag: AT-4473; Item: Fume hood sensor; Location: Lab B; Purchased: 2024-06-30.",
        "Asset tag: AT-4474; Item: Label printer; Location: Lab A; Custodian: Oskar Brandt.",
    ]
    assert "Location: Lab B; Assets: 2; Last audit: 2026-03-14." in units[0].text
    assert warnings == []


def test_cells_read_as_a_person_reads_them():
    units, _ = _load(fixtures.cell_formats_xlsx(), "shifts.xlsx")
    assert units[0].text == ("Shift: Early; Start: 06:00; Ends: 2026-03-14 14:30; Hours: 8; Rate: 12.5; "
                             "F: bring a badge; Confirmed: TRUE.")
    assert units[1].text == "Room: Fjord; Seats: 12."  # the table starts at B3: the first non-empty row labels


def test_a_csv_row_is_a_labelled_line_whatever_the_delimiter_and_encoding():
    units, _ = _load(fixtures.contacts_csv(), "contacts.csv")
    assert len(units) == 1 and units[0].page is None and units[0].headings == []
    lines = units[0].text.split("\n")
    assert "Team: Payroll; Contact: Wenche Dahl; Extension: 4417." in lines
    assert "Team: IT service desk; Contact: Tomasz Wójcik; Extension: 4100." in lines
    legacy = "Kantine,Leder\r\nNordkapp,Zoë Ærøe\r\n".encode("cp1252")  # saved by an old Excel: not UTF-8
    assert _load(legacy, "kantine.csv")[0][0].text == "Kantine: Nordkapp; Leder: Zoë Ærøe."
    assert _load(b"Room\nFjord\n", "rooms.csv")[0][0].text == "Room: Fjord."  # nothing to sniff: commas


def test_a_csv_built_to_slow_the_delimiter_sniffer_loads_in_a_second():
    started = time.monotonic()
    load_bytes(fixtures.quote_storm_csv(), Context("storm.csv"))  # 64 KiB of it took the sniffer 28 s
    assert time.monotonic() - started < 5


def test_a_workbook_beyond_the_sheet_cap_is_read_in_its_first_sheets_with_a_warning():
    units, warnings = _load(fixtures.many_sheets_xlsx(), "rota.xlsx")
    assert [u.page for u in units] == list(range(1, 101))
    assert units[-1].headings == ["Week 100"] and units[-1].text == "Shift plan for week 100."
    assert warnings == ["only the first 100 of 101 sheets were read"]


def test_a_csv_with_a_broken_quote_fails_with_the_line():
    broken = b'Team,Note\nPayroll,"' + b"x" * 200_000 + b"\n"
    with pytest.raises(FileFailed, match="malformed CSV"):
        load_bytes(broken, Context("broken.csv"))


HOSTILE = [
    ("bomb.docx", "zip_bomb", "zip bomb: part 'word/document.xml' of the .docx inflates"),
    ("fills.xlsx", fixtures.many_small_bombs_xlsx, "would inflate to 528 MiB (limit 512 MiB: a zip bomb"),
    ("laughs.docx", fixtures.billion_laughs_docx, "contains an XML DTD (entity expansion or external entity)"),
    ("secret.xlsx", fixtures.external_entity_xlsx, "contains an XML DTD (entity expansion or external entity)"),
    ("renamed.docx", fixtures.renamed_part_docx, "part 'word/document.bin' of the .docx contains an XML DTD"),
    ("utf16.docx", fixtures.utf16_entity_docx, "contains an XML DTD"),
    ("locked.docx", fixtures.password_protected_docx, "password-protected or legacy (.doc/.xls/.ppt) Office file"),
    ("locked.xlsx", fixtures.password_protected_docx, "remove the password or save as .docx/.xlsx/.pptx"),
    ("half.pptx", fixtures.truncated_pptx, "truncated or corrupt .pptx (not a valid zip archive)"),
    ("noise.xlsx", lambda: os.urandom(50_000), "truncated or corrupt .xlsx (not a valid zip archive)"),
    ("padded.xlsx", fixtures.many_members_xlsx, "parts (limit 10,000): refused as a likely zip bomb"),
    ("liar.docx", fixtures.lying_header_docx, "truncated or corrupt .docx (part 'word/document.xml' cannot be read"),
]


@pytest.mark.parametrize("name, build, reason", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_office_file_fails_fast_with_one_line(name, build, reason, request):
    data = request.getfixturevalue(build) if isinstance(build, str) else build()
    started = time.monotonic()
    with pytest.raises(FileFailed) as failure:
        load_bytes(data, Context(name))
    assert reason in str(failure.value)
    assert "\n" not in str(failure.value)
    assert time.monotonic() - started < 10


def test_a_million_row_sheet_ingests_its_first_cells_with_a_warning(tmp_path):
    """In a worker-sized address space (1 GiB here, the worker has 2), and within a minute."""
    path = tmp_path / "sensor-log.xlsx"
    path.write_bytes(fixtures.million_rows_xlsx())
    script = (
        "import resource, sys, time\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))\n"
        "from rag.ingest.load import Context, load_file\n"
        "context = Context('sensor-log.xlsx'); started = time.monotonic()\n"
        "units = load_file(sys.argv[1], context)\n"
        "lines = units[0].text.split('\\n')\n"
        "print(time.monotonic() - started, len(lines), lines[-1], context.warnings, sep='|')\n")
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    seconds, count, last, warnings = result.stdout.strip().split("|")
    assert float(seconds) < 60
    assert int(count) == 99_999 and last == "Sequence: 99999; Reading: reading 99999."  # header + 99,999 rows = cap
    assert warnings == "[\"sheet 'Sheet': only the first 200000 cells were read\"]"
