"""Web pages (.html, .htm): the main content only, split at its headings ("Facilities news > Canteen").

Trafilatura (a readability-style extractor) finds the content; before it runs, what never belongs to
it is cut from the parsed page: scripts and styles (a value only a script holds must never reach the
store), menus, site header and footer, cookie and consent banners. Nothing is fetched: trafilatura
gets a parsed tree, never a URL, and links, images and frames are not followed.
"""
from __future__ import annotations

import logging
import re

import lxml.html
import trafilatura
from lxml import etree
from trafilatura.utils import decode_file
from trafilatura.xml import xmltotxt

from rag.errors import FileFailed
from rag.ingest.formats.text import markdown_sections
from rag.ingest.load import Context, Unit

MAX_HTML_BYTES = 20 * 2**20  # trafilatura's own limit; a real page's text is far smaller
# Trafilatura's time grows with the square of the elements: 40,000 take 7 s here, 160,000 would take minutes.
MAX_ELEMENTS = 60_000
_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, default_doctype=False,
                               collect_ids=False)
# Landmarks by tag and ARIA role; a header or aside inside the article is the article's own (its title, a note).
# A cookie or consent class marks a banner, unless the element wraps the content (<div class="cookies-ok">
# around <main>, or around the page's <h1>): pages flag the consent state on their wrappers, and on <body>.
_BOILERPLATE = etree.XPath(
    "(//script|//style|//noscript|//template|//nav|//footer"
    "|//header[not(ancestor::article or ancestor::main)]|//aside[not(ancestor::article or ancestor::main)]"
    "|//*[@role='navigation' or @role='banner' or @role='contentinfo' or @role='search']"
    "|//*[re:test(concat(@id, ' ', @class), 'cookie|consent|gdpr', 'i')][not(.//main or .//article or .//h1)])"
    "[not(self::html or self::body)]",
    namespaces={"re": "http://exslt.org/regular-expressions"})
_DECLARED_CHARSET = re.compile(rb"""(?:<meta[^>]*?charset|<\?xml[^>]*?encoding)\s*=\s*["']?\s*([\w.:-]+)""", re.I)
_HEADINGS = {f"h{level}": level for level in range(1, 7)}
_COMMENT_LINE = re.compile(r"^\s*#", re.M)
_BLOCKS = frozenset("address article aside blockquote br dd div dl dt figcaption figure hr li main ol p section "
                    "table tr ul".split())

# trafilatura logs each page it finds nothing in; the file's one-line verdict is enough.
logging.getLogger("trafilatura").setLevel(logging.ERROR)


def load(data: bytes, context: Context) -> list[Unit]:
    _refuse_huge(len(data))
    return markdown_sections(main_content(_decode(data)))


def main_content(html: str) -> str:
    """The page's main content as text: headings as Markdown "#" lines, table rows as "| a | b |",
    no escapes or emphasis marks (a quote must read as the page did). Empty if the page has no text."""
    _refuse_huge(len(html))
    try:
        tree = lxml.html.document_fromstring(html.encode("utf-8", errors="replace"), parser=_PARSER)
    except (etree.ParserError, ValueError):  # no element at all: an empty or whitespace-only page
        return ""
    for element in _BOILERPLATE(tree):
        element.drop_tree()
    if sum(1 for _ in tree.iter()) > MAX_ELEMENTS:
        raise FileFailed(f"web page with more than {MAX_ELEMENTS:,} HTML elements; save the main content only")
    return _extracted(tree) or _all_text(tree)


def _refuse_huge(size: int) -> None:
    if size > MAX_HTML_BYTES:
        raise FileFailed(f"web page larger than {MAX_HTML_BYTES >> 20} MB; save the main content only")


def _decode(data: bytes) -> str:
    """The charset the page declares, else UTF-8, else trafilatura's guess (it tries charset detection)."""
    declared = _DECLARED_CHARSET.search(data[:16384])
    for encoding in ([declared.group(1).decode("ascii")] if declared else []) + ["utf-8-sig"]:
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return decode_file(data)


def _extracted(tree) -> str:
    """Trafilatura's main content, as plain text with "#" heading lines added. Its Markdown output would
    escape "report\\_2025.xlsx" and "\\[B12\\]" and bold words with "**", which no reader types."""
    # Recall first: a short intranet page is content, not boilerplate. The tree is copied, not changed.
    document = trafilatura.bare_extraction(tree, favor_recall=True, include_comments=False, include_tables=True,
                                           include_formatting=False, with_metadata=False)
    if document is None:
        return ""
    for heading in document.body.findall("head"):
        heading.text = f"{'#' * _HEADINGS.get(heading.get('rend'), 2)} {heading.text or ''}"
    for block in document.body:
        if block.tag in ("code", "quote"):  # trafilatura's names for <pre> blocks
            _fence_comment_lines(block)
    return xmltotxt(document.body, False)


def _all_text(tree) -> str:
    """Every text of <main>, <article> or <body>, line by line: for a page trafilatura finds nothing in
    (it takes a lone block with "comment" in its class for reader comments)."""
    root = next((found[0] for path in ("//main", "//article", "//body") if (found := tree.xpath(path))), tree)
    for element in list(root.iter()):
        if element.tag in _HEADINGS:
            text = " ".join(element.text_content().split())
            element.clear(keep_tail=True)
            element.text = f"\n{'#' * _HEADINGS[element.tag]} {text}\n"
        elif element.tag == "pre":
            _fence_comment_lines(element)
            element.tail = "\n" + (element.tail or "")
        elif element.tag in ("td", "th"):
            element.tail = " | " + (element.tail or "")
        elif element.tag in _BLOCKS:
            element.tail = "\n" + (element.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n".join(line for line in lines if line)


def _fence_comment_lines(block) -> None:
    """Put a block with a "# ..." line (a shell or config comment) in a code fence: to the splitter,
    a "#" line outside a fence is a heading."""
    if not _COMMENT_LINE.search("".join(block.itertext())):
        return
    block.text = "\n```\n" + (block.text or "")
    if len(block):
        block[-1].tail = (block[-1].tail or "") + "\n```\n"
    else:
        block.text += "\n```\n"
