"""Office files and tables: Word sections, slides, sheets and CSV.

A table row becomes one line with the header row's labels, "Depot: Carrow Fen; Site manager: Ingrid
Halvorsen.", so a question about one value finds its row and the quote shows what the value means.
Zip-based files pass `guard.check_zip` before any parser sees them.
"""
from __future__ import annotations

import codecs
import csv
import datetime
import io
import re
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from rag.errors import FileFailed
from rag.ingest.formats.guard import check_zip
from rag.ingest.load import Context, Unit

MAX_CELLS_PER_SHEET = 200_000  # a million-row log is read in its first cells, in seconds, not refused
MAX_SHEETS = 100
MAX_GRID_SPAN = 63  # Word's column limit; a hostile gridSpan of a billion must not become a loop
MAX_STYLE_DEPTH = 10  # styles based on styles; a hostile loop of "based on" must end
# csv.Sniffer's regexes are quadratic in the sample: 28 s on a hostile 64 KiB one, 0.6 s on 8 KiB.
SNIFF_CHARS = 8 * 2**10
_HEADING_STYLE = re.compile(r"Heading (\d+)$")
_SENTENCE_END = (".", "!", "?")
# Where every producer (Word, LibreOffice, Google, python-docx) puts the main part of each type.
_MAIN_FOLDER = {".docx": ("word/", "Word document"), ".pptx": ("ppt/", "PowerPoint deck"),
                ".xlsx": ("xl/", "Excel workbook")}


def load(data: bytes, context: Context) -> list[Unit]:
    """Units by the suffix: a Word section, a slide or a sheet each; a CSV file is one unit."""
    kind = Path(context.name).suffix.lower()
    if kind == ".csv":
        return _load_csv(data, context)
    folder, what = _MAIN_FOLDER[kind]
    if not any(name.startswith(folder) for name in check_zip(data, kind)):
        raise FileFailed(f"no {what} inside (no {folder} part): another file type renamed to {kind}?")
    reader = {".docx": _load_docx, ".pptx": _load_pptx, ".xlsx": _load_xlsx}[kind]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about each extension it skips; the text is what counts
            return reader(data, context)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError, SyntaxError, NotImplementedError,
            RecursionError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        # SyntaxError covers lxml's and ElementTree's parse errors; a missing part is a KeyError,
        # openpyxl's "no valid workbook part" an OSError.
        raise FileFailed(f"unreadable {kind} ({type(exc).__name__}: {str(exc)[:120]}); "
                         "open it in Office and save it again") from None


# --- Word ---------------------------------------------------------------------------------------

def _load_docx(data: bytes, context: Context) -> list[Unit]:
    """One unit per section under a heading; the heading path is that of Markdown (Title > Heading 1 > ...)."""
    import docx
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    sections: list[tuple[list[str], list[tuple[str, bool]]]] = [([], [])]
    path: list[tuple[int, str]] = []
    for block in _blocks(document.element.body):
        if block.tag.endswith("}tbl"):
            lines = _word_table_lines(block)
            if lines:
                sections[-1][1].append(("\n".join(lines), False))
            continue
        text = _paragraph_text(block)
        if not text:
            continue
        paragraph = Paragraph(block, document)
        level = _heading_level(paragraph)
        if level is not None:
            path = [(lvl, h) for lvl, h in path if lvl < level] + [(level, text)]
            sections.append(([h for _, h in path], []))
        sections[-1][1].append((text, level is None and _is_list_item(paragraph)))
    units, offset = [], 0
    for headings, parts in sections:
        if parts:
            text = _join_paragraphs(parts)
            units.append(Unit(text, headings=headings, offset=offset))
            offset += len(text) + 2  # sections follow each other as paragraphs do, a blank line apart
    return units


def _blocks(parent) -> Iterator:
    """Paragraph and table elements in document order, also those inside content controls (w:sdt),
    where Word puts cover pages and forms and where python-docx's own iteration does not look."""
    from docx.oxml.ns import qn

    for child in parent.iterchildren():
        if child.tag in (qn("w:p"), qn("w:tbl")):
            yield child
        elif child.tag == qn("w:sdt"):
            content = child.find(qn("w:sdtContent"))
            if content is not None:
                yield from _blocks(content)


def _paragraph_text(p) -> str:
    """python-docx's `Paragraph.text` reads only runs and links: not tracked insertions, inline
    content controls or fields. Every run counts but deleted ones and text boxes (drawn elsewhere)."""
    runs = p.xpath(".//w:r[not(ancestor::w:del or ancestor::w:moveFrom or ancestor::w:txbxContent)]")
    return "".join(run.text for run in runs).strip()


def _heading_level(paragraph) -> int | None:
    """0 for the Title, N for "Heading N", else the outline level (custom heading styles) if any."""
    style = paragraph.style
    name = style.name if style is not None else ""
    if name == "Title":
        return 0
    match = _HEADING_STYLE.match(name or "")
    if match:
        return int(match.group(1))
    levels = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    for _ in range(MAX_STYLE_DEPTH):
        if levels or style is None:
            break
        levels = style.element.xpath("./w:pPr/w:outlineLvl/@w:val")
        style = style.base_style
    # Outline level 9 is Word's "body text".
    return int(levels[0]) + 1 if levels and levels[0].isdigit() and int(levels[0]) < 9 else None


def _is_list_item(paragraph) -> bool:
    style_name = paragraph.style.name if paragraph.style is not None else ""
    return bool(paragraph._p.xpath("./w:pPr/w:numPr")) or (style_name or "").startswith("List")


def _join_paragraphs(parts: list[tuple[str, bool]]) -> str:
    """Paragraphs apart by a blank line (the chunker's first boundary); a list's items one per line."""
    pieces = []
    for index, (text, is_item) in enumerate(parts):
        if index:
            pieces.append("\n" if is_item and parts[index - 1][1] else "\n\n")
        pieces.append(text)
    return "".join(pieces)


def _word_table_lines(table) -> list[str]:
    """Rows by grid column, walked on the XML: python-docx's `row.cells` follows each vertical merge
    up row by row (quadratic, and recursive past 1,000 rows)."""
    rows, above = [], {}  # above: grid column -> text of the cell a vertical merge continues
    for tr in table.tr_lst:
        cells, column = [], tr.grid_before
        for tc in tr.tc_lst:
            text = above.get(column, "") if tc.vMerge == "continue" else _word_cell_text(tc)
            # A vertically merged value stays on every row it spans: each line must stand on its own.
            above[column] = text
            if text:
                cells.append((column, text))
            column += min(tc.grid_span, MAX_GRID_SPAN)
        rows.append(cells)
    return _row_lines(rows, letter_labels=False)


def _word_cell_text(tc) -> str:
    texts = ["; ".join(_word_table_lines(block)) if block.tag.endswith("}tbl")
             else _paragraph_text(block) for block in _blocks(tc)]
    return " ".join(" ".join(texts).split())


# --- Slides --------------------------------------------------------------------------------------

def _load_pptx(data: bytes, context: Context) -> list[Unit]:
    """One unit per slide: title, shapes top to bottom and left to right, tables, then the speaker notes."""
    from pptx import Presentation

    presentation = Presentation(io.BytesIO(data))
    units = []
    for number, slide in enumerate(presentation.slides, start=1):
        title_shape = slide.shapes.title
        title = _one_line(title_shape.text_frame.text) if title_shape is not None else ""
        parts = [title] if title else []
        for shape in _reading_order(slide.shapes):
            if title_shape is None or shape.element is not title_shape.element:
                parts.extend(_shape_texts(shape))
        notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        if notes is not None and notes.text.strip():
            parts.append("Notes: " + _line_breaks(notes.text).strip())
        units.append(Unit("\n\n".join(parts), page=number, headings=[title] if title else []))
    return units


def _reading_order(shapes) -> list:
    # A placeholder without its own position inherits the layout's; one without any sorts first.
    return sorted(shapes, key=lambda shape: (shape.top or 0, shape.left or 0))


def _shape_texts(shape) -> list[str]:
    from pptx.shapes.group import GroupShape

    if isinstance(shape, GroupShape):
        return [text for child in _reading_order(shape.shapes) for text in _shape_texts(child)]
    if shape.has_table:
        rows = [[(column, _one_line(cell.text)) for column, cell in enumerate(row.cells, start=1)
                 if not cell.is_spanned and cell.text.strip()] for row in shape.table.rows]
        lines = _row_lines(rows, letter_labels=False)
        return ["\n".join(lines)] if lines else []
    if shape.has_text_frame and shape.text_frame.text.strip():
        return [_line_breaks(shape.text_frame.text).strip()]
    return []


def _line_breaks(text: str) -> str:
    # python-pptx writes a line break inside a paragraph as "\v", which the central clean-up deletes.
    return text.replace("\v", "\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --- Spreadsheets --------------------------------------------------------------------------------

def _load_xlsx(data: bytes, context: Context) -> list[Unit]:
    """One unit per sheet, streamed (read-only mode) and cut at MAX_CELLS_PER_SHEET."""
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        units = []
        for number, name in enumerate(workbook.sheetnames, start=1):
            if number > MAX_SHEETS:
                context.warnings.append(f"only the first {MAX_SHEETS} of {len(workbook.sheetnames)} sheets were read")
                break
            sheet = workbook[name]
            if not hasattr(sheet, "iter_rows"):
                continue  # a chart sheet holds no cells
            # The stored dimensions may be stale, and read-only mode cuts every row to them.
            sheet.reset_dimensions()
            rows = _capped(sheet.iter_rows(values_only=True), f"sheet '{name}'", context)
            units.append(Unit("\n".join(_row_lines(rows, letter_labels=True)), page=number, headings=[name]))
            context.heartbeat()
        return units
    finally:
        workbook.close()


def _cell_text(value) -> str:
    """A cell as a reader sees it: 2026-03-14, 08:00, 12 (not 12.0), TRUE."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return f"{value:.15g}"  # Excel's 15 significant digits: no "12.0", no "0.30000000000000004"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time():
            return value.date().isoformat()
        return f"{value.date().isoformat()} {_clock(value.time())}"
    if isinstance(value, datetime.time):
        return _clock(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    return " ".join(str(value).split())


def _clock(time: datetime.time) -> str:
    return time.strftime("%H:%M:%S" if time.second else "%H:%M")


# --- CSV -----------------------------------------------------------------------------------------

def _load_csv(data: bytes, context: Context) -> list[Unit]:
    encoding = _csv_encoding(data)
    # Streamed: a huge file is decoded only as far as the cell cap reads it.
    stream = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, errors="replace", newline="")
    reader = csv.reader(stream, _sniff(data[:SNIFF_CHARS * 4].decode(encoding, errors="ignore")[:SNIFF_CHARS]))
    try:
        lines = _row_lines(_capped(reader, "the CSV file", context), letter_labels=True)
    except csv.Error as exc:
        raise FileFailed(f"malformed CSV (line {reader.line_num}: {exc}); check its quoting") from None
    return [Unit("\n".join(lines))]


def _csv_encoding(data: bytes) -> str:
    """UTF-8 if all of it is (checked in blocks: no second copy of a large file), else Windows' cp1252."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for start in range(0, len(data), 2**20):
            decoder.decode(view[start:start + 2**20])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return "cp1252"
    return "utf-8-sig"


def _sniff(sample: str) -> type[csv.Dialect] | csv.Dialect:
    # Whole lines only: a line cut in the middle misleads the sniffer's count of delimiters.
    sample = sample.rpartition("\n")[0] or sample
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


# --- Rows ----------------------------------------------------------------------------------------

def _capped(rows: Iterable[Sequence], what: str, context: Context) -> Iterator[list[tuple[int, str]]]:
    """Rows as (column, text) pairs of their non-empty cells, until MAX_CELLS_PER_SHEET cells were read."""
    cells = 0
    for row in rows:
        cells += len(row)
        if cells > MAX_CELLS_PER_SHEET:
            context.warnings.append(f"{what}: only the first {MAX_CELLS_PER_SHEET} cells were read")
            return
        pairs = [(column, _cell_text(value)) for column, value in enumerate(row, start=1)]
        yield [(column, text) for column, text in pairs if text]


def _row_lines(rows: Iterable[list[tuple[int, str]]], letter_labels: bool) -> list[str]:
    """The first non-empty row labels the others: "Header: value; Header: value." per row.

    A cell without a header is labelled by its column letter on a sheet (letter_labels), and left
    bare in a document table, where a blank header cell is the corner of a matrix.
    """
    header: dict[int, str] | None = None
    lines = []
    for row in rows:
        if not row:
            continue
        if header is None:
            header = dict(row)
            continue
        labelled = []
        for column, text in row:
            label = header.get(column) or (_column_letter(column) if letter_labels else "")
            labelled.append(f"{label}: {text}" if label else text)
        lines.append(_sentence(labelled))
    if header is not None and not lines:
        return [_sentence(header.values())]  # a table of one row: its cells are the content
    return lines


def _sentence(parts: Iterable[str]) -> str:
    line = "; ".join(parts)
    return line if line.endswith(_SENTENCE_END) else line + "."


def _column_letter(column: int) -> str:
    from openpyxl.utils import get_column_letter

    # Letters end at ZZZ (column 18,278); a wider CSV row numbers the rest.
    return get_column_letter(column) if column <= 18_278 else f"column {column}"
