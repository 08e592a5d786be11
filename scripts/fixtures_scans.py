"""Scanned pages and photos with invented content, drawn here so OCR tests need no files from elsewhere.

Text is drawn with Pillow's built-in font (no system font needed) in black on a slightly grey page,
as a flatbed scan at 200 dpi would show it.
"""
from __future__ import annotations

import io

from PIL import Image, ImageDraw, ImageFont

A4_AT_200_DPI = (1654, 2339)

SCAN_PAGES = [
    ["Harrowgate Freight - Reception rules", "",
     "Visitors sign in at the front desk and wear a",
     "badge at all times while on site."],
    ["Reception rules (continued)", "",
     "Visitor badges must be returned to reception",
     "before 17:00 on the day of the visit.",
     "Lost badges are reported to the security office."],
]
WHITEBOARD_LINES = ["SPRINT NOTES", "Sprint review moved to Thursday 10:00", "in meeting room Fjord.",
                    "Retro on Friday."]


def _page(lines: list[str], size=A4_AT_200_DPI, font_size=44, background=238) -> Image.Image:
    page = Image.new("L", size, background)
    draw = ImageDraw.Draw(page)
    font = ImageFont.load_default(size=font_size)
    for number, line in enumerate(lines):
        draw.text((140, 180 + number * int(font_size * 1.6)), line, fill=15, font=font)
    return page


def scanned_pdf() -> bytes:
    """Two pages that are only images: no text layer at all."""
    pages = [_page(lines) for lines in SCAN_PAGES]
    out = io.BytesIO()
    pages[0].save(out, format="PDF", save_all=True, append_images=pages[1:], resolution=200)
    return out.getvalue()


def mixed_pdf() -> bytes:
    """Page 1 has a text layer (reportlab); page 2 is a scan of the second page above."""
    from pypdf import PdfReader, PdfWriter
    from reportlab.pdfgen import canvas

    text_page = io.BytesIO()
    sheet = canvas.Canvas(text_page)
    sheet.drawString(72, 760, "Parking permits are renewed every January at the facilities office.")
    sheet.save()
    scan = io.BytesIO()
    _page(SCAN_PAGES[1]).save(scan, format="PDF", resolution=200)
    writer = PdfWriter()
    for part in (text_page, scan):
        writer.add_page(PdfReader(io.BytesIO(part.getvalue())).pages[0])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def whiteboard_png() -> bytes:
    """A photo of a whiteboard: wide, light background, large writing."""
    out = io.BytesIO()
    _page(WHITEBOARD_LINES, size=(1800, 700), font_size=64, background=245).save(out, format="PNG")
    return out.getvalue()


def pixel_bomb_png() -> bytes:
    """A 60,000 x 60,000 PNG header over a tiny compressed body: a decompression bomb."""
    import struct
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 60_000, 60_000, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\xff" * 60_000
    body = zlib.compress(row * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
