"""Invented Word, PowerPoint, Excel and CSV files for the Office loader's tests, built in memory as bytes.

The good files carry facts a test can ask for (who manages the Carrow Fen depot, how many vans the
board approved); the hostile ones are the shapes that must fail quickly with a reason: a zip bomb,
entity tricks, a password-protected file, a truncated archive, a million rows, ten thousand parts.
Hostile parts are written straight into the zip: the libraries would refuse to write them.
"""
from __future__ import annotations

import datetime
import io
import random
import zipfile
from typing import Callable

W_NAMESPACE = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S_NAMESPACE = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

SABBATICAL = "Staff with seven years of service may take an unpaid sabbatical of up to 12 weeks."
VANS = "The board approved 14 electric vans for the Millbrook route."
VAN_NOTES = "Delivery of the vans is expected in September 2027."


def _save(document) -> bytes:
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def handbook_docx() -> bytes:
    """A staff handbook: Title, "Depots" with a table, "Leave" > "Sabbatical", a list and filler."""
    from docx import Document

    document = Document()
    document.add_heading("Harrowgate Freight Staff Handbook", level=0)
    document.add_paragraph("This handbook is for everyone who works at Harrowgate Freight. "
                           "It is revised every spring by the people team.")
    document.add_heading("Depots", level=1)
    document.add_paragraph("Harrowgate Freight runs two depots. Each has a site manager who approves "
                           "shift swaps and visitor access.")
    table = document.add_table(rows=3, cols=3)
    table.style = "Table Grid"
    for row, values in zip(table.rows, [("Depot", "Site manager", "Opening hours"),
                                        ("Carrow Fen", "Ingrid Halvorsen", "06:00-18:00"),
                                        ("Lowther Quay", "Marcus Oyelaran", "07:00-19:00")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    document.add_paragraph("Both depots close on public holidays except for the on-call dispatch desk.")
    document.add_heading("Leave", level=1)
    document.add_paragraph("Leave is requested in the staff portal at least two weeks ahead.")
    document.add_paragraph("Annual leave: 27 days a year", style="List Bullet")
    document.add_paragraph("Carry-over: at most 5 days into the next year", style="List Bullet")
    document.add_heading("Sabbatical", level=2)
    document.add_paragraph(SABBATICAL)
    document.add_heading("Contact", level=1)
    document.add_paragraph("Questions about this handbook go to the people team in the Lowther Quay office.")
    return _save(document)


def deck_pptx() -> bytes:
    """Four slides: a title slide, a table, "Fleet renewal" (slide 3) with speaker notes, a grouped layout."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    title_slide, title_and_body, title_only = deck.slide_layouts[0], deck.slide_layouts[1], deck.slide_layouts[5]

    slide = deck.slides.add_slide(title_slide)
    slide.shapes.title.text = "Harrowgate Freight Quarterly Review"
    slide.placeholders[1].text = "Operations update\vspring 2027"  # a line break inside the paragraph

    slide = deck.slides.add_slide(title_only)
    slide.shapes.title.text = "Depot performance"
    rows = [("Depot", "On-time deliveries", "Incidents"), ("Carrow Fen", "96%", "2"), ("Lowther Quay", "91%", "5")]
    table = slide.shapes.add_table(len(rows), 3, Inches(1), Inches(2), Inches(8), Inches(2)).table
    for row, values in zip(table.rows, rows):
        for cell, value in zip(row.cells, values):
            cell.text = value

    slide = deck.slides.add_slide(title_and_body)
    slide.shapes.title.text = "Fleet renewal"
    slide.placeholders[1].text_frame.text = VANS
    slide.notes_slide.notes_text_frame.text = VAN_NOTES

    slide = deck.slides.add_slide(title_only)
    slide.shapes.title.text = "Next steps"
    # Added bottom first: the loader must still read top to bottom.
    slide.shapes.add_textbox(Inches(1), Inches(5), Inches(8), Inches(1)).text_frame.text = \
        "Third: review the routes again in the autumn."
    group = slide.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(5), Inches(2), Inches(4), Inches(1)).text_frame.text = \
        "Second: train the Millbrook drivers."
    group.shapes.add_textbox(Inches(1), Inches(2), Inches(4), Inches(1)).text_frame.text = \
        "First: order the charging points."
    return _save(deck)


def register_xlsx() -> bytes:
    """An asset register: sheet 1 "Summary", sheet 2 "Assets" (one row with a date, one with a gap)."""
    from openpyxl import Workbook

    workbook = Workbook()
    summary = workbook.active
    summary.title = "Summary"
    summary.append(["Location", "Assets", "Last audit"])
    summary.append(["Lab A", 2, datetime.date(2026, 2, 2)])
    summary.append(["Lab B", 2, datetime.date(2026, 3, 14)])
    assets = workbook.create_sheet("Assets")
    assets.append(["Asset tag", "Item", "Location", "Custodian", "Purchased"])
    assets.append(["AT-4471", "Thermal camera", "Lab B", "Oskar Brandt", None])
    assets.append(["AT-4472", "Oscilloscope", "Lab A", "Mirela Costa", datetime.date(2025, 11, 3)])
    assets.append([])
    assets.append(["AT-4473", "Fume hood sensor", "Lab B", None, datetime.date(2024, 6, 30)])
    assets.append(["AT-4474", "Label printer", "Lab A", "Oskar Brandt", None])
    for sheet in (summary, assets):
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, datetime.date):
                    cell.number_format = "yyyy-mm-dd"
    return _save(workbook)


def contacts_csv() -> bytes:
    """A team contact list as Excel writes it in Europe: semicolons."""
    return ("Team;Contact;Extension\r\n"
            "Payroll;Wenche Dahl;4417\r\n"
            "IT service desk;Tomasz Wójcik;4100\r\n"
            "Facilities;Aino Virtanen;4230\r\n").encode("utf-8")


# --- hostile and broken files ----------------------------------------------------------------

def _with_part(base: bytes, name: str, write: Callable[[io.BufferedIOBase], None], level: int = 1) -> bytes:
    """`base` with part `name` replaced (or added) by what `write` streams into it, deflated at `level`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(base)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as target:
        for info in source.infolist():
            if info.filename != name:
                target.writestr(info, source.read(info))
        with target.open(name, "w") as stream:
            write(stream)
    return out.getvalue()


def _minimal_docx() -> bytes:
    from docx import Document

    document = Document()
    document.add_paragraph("A harmless paragraph.")
    return _save(document)


def _minimal_xlsx() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["A harmless cell"])
    return _save(workbook)


def _word_document(body: bytes, prolog: bytes = b"") -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' + prolog +
            b'<w:document xmlns:w="' + W_NAMESPACE.encode() + b'"><w:body>' + body + b"</w:body></w:document>")


def zip_bomb_docx(gibibytes: int = 1) -> bytes:
    """word/document.xml inflates to `gibibytes` GiB of one paragraph (about 1 MiB on disk per GiB)."""
    def write(stream):
        opening, closing = _word_document(b"<w:p><w:r><w:t>\0</w:t></w:r></w:p>").split(b"\0")
        stream.write(opening)
        block = b"A" * 2**24
        for _ in range(gibibytes * 64):
            stream.write(block)
        stream.write(closing)

    return _with_part(_minimal_docx(), "word/document.xml", write, level=9)  # ~1000:1, as a real bomb


def billion_laughs_docx() -> bytes:
    """The classic entity expansion: ten levels of ten, a few hundred bytes that expand to gigabytes."""
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (level, b"&lol%d;" % (level - 1) * 10) for level in range(1, 10))
    document = _word_document(b"<w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>",
                              b"<!DOCTYPE w:document [" + entities + b"]>\n")
    return _with_part(_minimal_docx(), "word/document.xml", lambda stream: stream.write(document))


def external_entity_xlsx() -> bytes:
    """A sheet whose cell would show /etc/passwd if the parser resolved external entities."""
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<!DOCTYPE worksheet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
             b'<worksheet xmlns="' + S_NAMESPACE.encode() + b'"><sheetData><row r="1">'
             b'<c r="A1" t="inlineStr"><is><t>&secret;</t></is></c></row></sheetData></worksheet>')
    return _with_part(_minimal_xlsx(), "xl/worksheets/sheet1.xml", lambda stream: stream.write(sheet))


def password_protected_docx() -> bytes:
    """What Word writes for a password-protected file: an OLE compound file, not a zip."""
    return OLE_MAGIC + random.Random(4417).randbytes(16_384)


def truncated_pptx() -> bytes:
    """Half a slide deck, as an interrupted download or copy leaves it."""
    deck = deck_pptx()
    return deck[: len(deck) // 2]


def million_rows_xlsx(rows: int = 1_000_000) -> bytes:
    """A sensor log of `rows` rows x 2 columns; the sheet XML is written directly (openpyxl takes minutes),
    with the <dimension> Excel writes (without it openpyxl's read-only mode first parses the whole sheet)."""
    def write(stream):
        stream.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<worksheet xmlns="{S_NAMESPACE}">'
                     f'<dimension ref="A1:B{rows + 1}"/><sheetData><row r="1">'
                     '<c r="A1" t="inlineStr"><is><t>Sequence</t></is></c>'
                     '<c r="B1" t="inlineStr"><is><t>Reading</t></is></c></row>'.encode())
        for start in range(2, rows + 2, 10_000):
            stream.write("".join(
                f'<row r="{n}"><c r="A{n}"><v>{n - 1}</v></c><c r="B{n}" t="inlineStr"><is><t>reading {n - 1}</t>'
                f"</is></c></row>" for n in range(start, min(start + 10_000, rows + 2))).encode())
        stream.write(b"</sheetData></worksheet>")

    return _with_part(_minimal_xlsx(), "xl/worksheets/sheet1.xml", write)


def many_members_xlsx(members: int = 12_000) -> bytes:
    """A valid workbook padded with thousands of empty parts: each costs the reader memory and time."""
    out = io.BytesIO(_minimal_xlsx())
    with zipfile.ZipFile(out, "a") as archive:
        for number in range(members):
            archive.writestr(f"xl/media/padding{number}.bin", b"")
    return out.getvalue()


def many_small_bombs_xlsx(parts: int = 11) -> bytes:
    """Parts of 48 MiB each, under the per-part ratio check's floor, that add up to more than 512 MiB."""
    out = io.BytesIO(_minimal_xlsx())
    block = b"0" * 2**24
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for number in range(parts):
            with archive.open(f"xl/media/fill{number}.bin", "w") as stream:
                for _ in range(3):
                    stream.write(block)
    return out.getvalue()


def many_sheets_xlsx(sheets: int = 101) -> bytes:
    """One sheet more than the loader reads, each with one labelled row."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for number in range(1, sheets + 1):
        workbook.create_sheet(f"Week {number}").append([f"Shift plan for week {number}"])
    return _save(workbook)


def quote_storm_csv() -> bytes:
    """Opening quotes after delimiters and no closing ones: csv.Sniffer's regexes go quadratic on it."""
    return b',"a' * 30_000


def lying_header_docx() -> bytes:
    """word/document.xml declares 2 KiB in the zip directory but inflates to 64 MiB."""
    real = _with_part(_minimal_docx(), "word/document.xml", lambda stream: stream.write(
        _word_document(b"<w:p><w:r><w:t>" + b"B" * 2**26 + b"</w:t></w:r></w:p>")))
    name = b"word/document.xml"
    data = bytearray(real)
    declared = (2048).to_bytes(4, "little")
    local = zipfile.ZipFile(io.BytesIO(real)).getinfo(name.decode()).header_offset
    data[local + 22: local + 26] = declared  # the local header's uncompressed size
    central = data.find(b"PK\x01\x02")
    while data[central + 46: central + 46 + len(name)] != name:  # the name follows a 46-byte fixed header
        central = data.find(b"PK\x01\x02", central + 4)
    data[central + 24: central + 28] = declared
    return bytes(data)


def renamed_part_docx() -> bytes:
    """The main document moved to a part not named .xml, with a DTD: its content type still says XML."""
    document = _word_document(b"<w:p><w:r><w:t>&lol2;</w:t></w:r></w:p>",
                              b'<!DOCTYPE w:document [<!ENTITY lol1 "lol"><!ENTITY lol2 "&lol1;&lol1;">]>\n')
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_minimal_docx())) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            name = info.filename.replace("document.xml", "document.bin")  # the part and its relationships
            data = document if name == "word/document.bin" else source.read(info)
            target.writestr(name, data.replace(b"word/document.xml", b"word/document.bin"))  # content types, rels
    return out.getvalue()


def utf16_entity_docx() -> bytes:
    """A DTD hidden from a byte search for ASCII "<!DOCTYPE": the part is encoded as UTF-16."""
    document = _word_document(b"<w:p><w:r><w:t>&x;</w:t></w:r></w:p>",
                              b'<!DOCTYPE w:document [<!ENTITY x "hidden">]>\n')
    document = document.replace(b'encoding="UTF-8"', b'encoding="UTF-16"').decode().encode("utf-16")
    return _with_part(_minimal_docx(), "word/document.xml", lambda stream: stream.write(document))


# --- layouts a loader must get right --------------------------------------------------------

def structured_docx() -> bytes:
    """A custom heading style and a direct outline level, merged table cells, a content control
    and a tracked change: what real Word files hold and python-docx's simple paths miss."""
    from docx import Document
    from docx.enum.style import WD_STYLE_TYPE
    from docx.oxml import parse_xml
    from docx.oxml.ns import nsdecls

    document = Document()
    style = document.styles.add_style("Policy Heading", WD_STYLE_TYPE.PARAGRAPH)
    style.element.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="0"/>'))
    document.add_paragraph("Travel policy", style="Policy Heading")
    rail = document.add_paragraph("Rail travel")
    rail._p.get_or_add_pPr().append(parse_xml(f'<w:outlineLvl {nsdecls("w")} w:val="1"/>'))
    document.add_paragraph("Rail tickets are booked through the travel desk.")
    table = document.add_table(rows=4, cols=3)
    for row, values in zip(table.rows, [("Region", "Depot", "Manager"), ("", "Carrow Fen", "Ingrid Halvorsen"),
                                        ("", "Lowther Quay", "Marcus Oyelaran"), ("South", "", "")]):
        for cell, value in zip(row.cells, values):
            cell.text = value
    table.cell(1, 0).merge(table.cell(2, 0)).text = "North"
    table.cell(3, 1).merge(table.cell(3, 2)).text = "Closed for refurbishment"
    mileage = document.add_paragraph()
    mileage._p.append(parse_xml(
        f'<w:r {nsdecls("w")}><w:t xml:space="preserve">Mileage is paid at </w:t></w:r>'))
    mileage._p.append(parse_xml(
        f'<w:ins {nsdecls("w")} w:id="1" w:author="People team" w:date="2026-01-05T09:00:00Z">'
        f"<w:r><w:t>0.35 EUR per km</w:t></w:r></w:ins>"))
    mileage._p.append(parse_xml(
        f'<w:del {nsdecls("w")} w:id="2" w:author="People team" w:date="2026-01-05T09:00:00Z">'
        f"<w:r><w:delText>0.30 EUR per km</w:delText></w:r></w:del>"))
    mileage._p.append(parse_xml(f'<w:r {nsdecls("w")}><w:t>.</w:t></w:r>'))
    mileage._p.addnext(parse_xml(
        f'<w:sdt {nsdecls("w")}><w:sdtContent><w:p><w:r><w:t>Approved by the works council in 2026.</w:t>'
        f"</w:r></w:p></w:sdtContent></w:sdt>"))
    return _save(document)


def cell_formats_xlsx() -> bytes:
    """Times, date-times, whole and fractional numbers, booleans, a header gap, a table that starts at B3."""
    from openpyxl import Workbook

    workbook = Workbook()
    shifts = workbook.active
    shifts.title = "Shifts"
    shifts.append(["Shift", "Start", "Ends", "Hours", "Rate", None, "Confirmed"])
    shifts.append(["Early", datetime.time(6, 0), datetime.datetime(2026, 3, 14, 14, 30), 8.0, 12.5,
                   "bring a badge", True])
    offset = workbook.create_sheet("Offset")
    offset["B3"], offset["C3"] = "Room", "Seats"
    offset["B4"], offset["C4"] = "Fjord", 12
    return _save(workbook)
