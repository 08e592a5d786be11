"""Web pages and e-mails: what a citation will show, what must never reach the store, and hostile
files that fail fast with a reason."""
from __future__ import annotations

import socket
import sys
import time
from email.message import EmailMessage

import pytest
from conftest import ROOT

from rag.errors import FileFailed
from rag.ingest.load import Context, load_bytes

sys.path.insert(0, str(ROOT / "scripts"))
import fixtures_web_mail as fixtures  # noqa: E402


def _load(data: bytes, name: str) -> tuple[list, list[str]]:
    context = Context(name)
    return load_bytes(data, context), context.warnings


def _unit_with(units: list, text: str):
    return next(unit for unit in units if text in unit.text)


def _page(body: str, head: str = "") -> bytes:
    return f"<!DOCTYPE html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>".encode()


def _refused_quickly(data: bytes, name: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(FileFailed, match=reason):
        load_bytes(data, Context(name))
    assert time.monotonic() - started < 5


# ---------------------------------------------------------------- web pages

def test_a_web_page_section_keeps_its_heading_path():
    units, warnings = _load(fixtures.intranet_html(), "intranet.html")
    canteen = _unit_with(units, fixtures.CANTEEN)
    assert canteen.headings == ["Facilities news", "Canteen"] and canteen.page is None
    assert _unit_with(units, fixtures.BICYCLES).headings == ["Facilities news", "Bicycles"]
    assert warnings == []


def test_menu_banner_footer_and_script_never_reach_a_unit():
    units, _ = _load(fixtures.intranet_html(), "intranet.html")
    everything = "\n".join(unit.text + " ".join(unit.headings) for unit in units)
    for boilerplate in [fixtures.SCRIPT_SECRET, "staffShopDiscountCode", "font-family", fixtures.COOKIE_TEXT,
                        "Accept all cookies", fixtures.FOOTER_ADDRESS, fixtures.HEADER_TAGLINE, "Related pages",
                        *fixtures.NAV_ITEMS]:
        assert boilerplate not in everything, boilerplate


def test_a_table_row_reads_as_one_line_and_text_keeps_its_characters():
    page = _page("<nav><a href='/'>Staff directory</a></nav><main><h1>Opening hours</h1>"
                 "<p>Book <b>room [B12]</b> as report_2025_final.xlsx; 5 * 3 desks.</p>"
                 "<table><tr><th>Service</th><th>Opens</th><th>Closes</th></tr>"
                 "<tr><td>Reception</td><td>07:30</td><td>17:00</td></tr>"
                 "<tr><td>Post room</td><td>09:00</td><td>15:00</td></tr></table></main>")
    units, _ = _load(page, "hours.html")
    text = "\n".join(unit.text for unit in units)
    assert "| Post room | 09:00 | 15:00 |" in text
    # Markdown escapes and emphasis would put "\_", "\[" and "**" into quotes.
    assert "Book room [B12] as report_2025_final.xlsx; 5 * 3 desks." in text
    assert units[0].headings == ["Opening hours"] and "Staff directory" not in text


def test_a_comment_line_in_a_code_block_is_no_heading():
    units, _ = _load(_page("<main><h1>Printer</h1><p>Restart the print server like this:</p>"
                           "<pre># run as root\nsudo systemctl restart cups</pre><p>Then wait a minute.</p></main>"),
                     "printer.html")
    assert len(units) == 1 and units[0].headings == ["Printer"]
    assert "# run as root\nsudo systemctl restart cups" in units[0].text


def test_a_short_page_or_a_bare_fragment_is_content():
    units, _ = _load(b"<p>The door code of the archive room is 4411.</p>", "fragment.htm")
    assert [unit.text for unit in units] == ["The door code of the archive room is 4411."]
    units, _ = _load(_page("<h1>Archive room</h1><p>The door code is 4411.</p><h2>Keys</h2>"
                           "<p>Keys are kept at reception.</p>"), "archive.html")
    assert _unit_with(units, "Keys are kept").headings == ["Archive room", "Keys"]


def test_a_page_trafilatura_finds_nothing_in_still_gives_its_text_but_never_its_script():
    # A lone block classed "comments" is reader comments to trafilatura; the page has nothing else.
    page = _page("<nav><a href='/'>Staff directory</a></nav><div class='comments'><h2>Holiday</h2>"
                 "<p>The office is closed on 17 May for the national holiday.</p></div>"
                 "<footer>Harbour Lane 12</footer>",
                 head="<script>var token = 'ZEBRA-9931';</script><style>p { color: red }</style>")
    units, _ = _load(page, "closed.html")
    text = "\n".join(unit.text for unit in units)
    assert "closed on 17 May" in text and units[0].headings == ["Holiday"]
    for boilerplate in ("ZEBRA-9931", "Staff directory", "Harbour Lane", "color"):
        assert boilerplate not in text


def test_a_page_is_decoded_with_the_charset_it_declares():
    page = ("<html><head><meta http-equiv='Content-Type' content='text/html; charset=windows-1252'></head>"
            "<body><p>The contractor is Brekke Rør AS – call before 08:00.</p></body></html>").encode("cp1252")
    units, _ = _load(page, "contractor.html")
    assert "Brekke Rør AS – call" in units[0].text


def test_reading_a_page_never_touches_the_network(monkeypatch):
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network used while loading a web page")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    page = _page("<base href='https://intranet.harrowgate.example/'><img src='https://cdn.example/x.png'>"
                 "<iframe src='https://intranet.harrowgate.example/embed'></iframe>"
                 f"<article><h1>Parking</h1><p>{fixtures.BICYCLES}</p></article>",
                 head="<link rel='canonical' href='https://intranet.harrowgate.example/parking'>")
    units, _ = _load(page, "parking.html")
    assert fixtures.BICYCLES in units[0].text and attempts == []


def test_a_50_mb_page_is_refused_at_once():
    _refused_quickly(fixtures.huge_html(), "huge.html", "web page larger than 20 MB; save the main content only")


def test_a_page_of_too_many_elements_is_refused_before_extraction():
    _refused_quickly(_page("<p>x</p>" * 100_000), "long.html", "more than 60,000 HTML elements")


# ---------------------------------------------------------------- e-mail

def test_the_message_is_one_unit_with_its_headers_and_body():
    units, _ = _load(fixtures.notice_eml(), "notice.eml")
    message = units[0]
    assert message.text.startswith(f"From: {fixtures.SENDER}\nTo: {fixtures.STAFF}\nDate: {fixtures.DATE}\n"
                                   "Subject: Water shutdown in Building C\n\n")
    assert "Water will be shut off in Building C on 14 March from 08:00 to 12:00." in message.text
    assert message.headings == ["Water shutdown in Building C"]
    assert message.part is None and message.page is None


def test_a_pdf_attachment_is_cited_by_its_name_and_page():
    units, _ = _load(fixtures.notice_eml(), "notice.eml")
    contractor = _unit_with(units, "Brekke Rør AS")
    assert contractor.part == "contractors.pdf" and contractor.page == 1


def test_an_unsupported_attachment_is_a_warning_and_the_message_still_ingests():
    units, warnings = _load(fixtures.notice_eml(), "notice.eml")
    assert warnings == ["attachment 'logo.gif': unsupported type '.gif', not ingested"]
    assert {unit.part for unit in units} == {None, "contractors.pdf"}


def test_an_html_only_message_is_read_like_a_web_page():
    message = EmailMessage()
    message["From"], message["Subject"] = "Kari <kari@harrowgate.example>", "Fire drill"
    message.set_content("<html><head><script>var secret = 'ZEBRA-9931';</script></head><body><div dir='ltr'>"
                        "Hi all,<br><br>The fire drill is on Friday at 10:00.<br><br>Kari</div></body></html>",
                        subtype="html")
    units, _ = _load(message.as_bytes(), "drill.eml")
    assert "The fire drill is on Friday at 10:00." in units[0].text
    assert "ZEBRA" not in units[0].text and "<div" not in units[0].text


def _message(subject: str, body: str, attachments: list[tuple[str, bytes | EmailMessage]]) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = fixtures.SENDER, fixtures.STAFF, subject
    message.set_content(body)
    for name, content in attachments:
        if isinstance(content, EmailMessage):
            message.add_attachment(content, filename=name)
        else:
            message.add_attachment(content, maintype="text", subtype="plain", filename=name)
    return message


def test_attachment_names_are_safe_unique_and_nested_messages_give_a_path():
    forwarded = _message("Plans", "See the plan.", [("plan.txt", b"The plan is to paint Building C in May.\n")])
    outer = _message("Fwd: Plans", "Forwarding.", [
        ("notes.txt", b"First notes.\n"), ("notes.txt", b"Second notes.\n"),
        ("../../etc/passwd.txt", b"Not a system file.\n"), ("C:\\Users\\kari\\budget.txt", b"Budget: 40,000.\n"),
        ("fwd.eml", forwarded)])
    units, warnings = _load(outer.as_bytes(), "outer.eml")
    parts = {unit.text.strip().splitlines()[-1]: unit.part for unit in units}
    assert parts["First notes."] == "notes.txt" and parts["Second notes."] == "notes (2).txt"
    assert parts["Not a system file."] == "passwd.txt" and parts["Budget: 40,000."] == "budget.txt"
    assert parts["See the plan."] == "fwd.eml"
    assert parts["The plan is to paint Building C in May."] == "fwd.eml/plan.txt"
    assert warnings == []


def test_a_message_forwarded_too_deep_is_a_warning_not_a_failure():
    message = _message("Level 4", "The fourth message.", [])
    for level in (3, 2, 1):
        message = _message(f"Level {level}", f"Message {level}.", [(f"level{level + 1}.eml", message)])
    units, warnings = _load(message.as_bytes(), "level1.eml")
    assert [unit.part for unit in units] == [None, "level2.eml", "level2.eml/level3.eml",
                                             "level2.eml/level3.eml/level4.eml"]
    assert warnings == []
    deeper = _message("Level 0", "Message 0.", [("level1.eml", message)])
    units, warnings = _load(deeper.as_bytes(), "level0.eml")
    assert len(units) == 4
    assert warnings == ["attachment 'level1.eml': attachment 'level2.eml': attachment 'level3.eml': "
                        "attachment 'level4.eml': nested more than 3 levels deep, not ingested"]


def test_a_file_that_is_no_message_is_refused():
    with pytest.raises(FileFailed, match="not an e-mail message"):
        load_bytes(b"%PDF-1.7 renamed to .eml by mistake\n", Context("renamed.eml"))


def test_a_message_nested_100_deep_is_refused_at_once():
    _refused_quickly(fixtures.deeply_nested_eml(), "deep.eml", "e-mail nested more than 10 levels deep")


def test_a_message_of_10000_parts_is_refused_at_once():
    _refused_quickly(fixtures.many_parts_eml(), "many.eml", "e-mail with more than 1,000 MIME parts")
