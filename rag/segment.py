"""Segments of a passage for quoting: sentences of prose, code lines and blocks, option-list items.

The prose is cut by sentencex (Wikimedia): of pysbd, syntok, blingfire and spaCy's sentencizer, the only one both
maintained (1.0.32, 2026-09) and with French abbreviations, offline Rust wheels, 0.03 ms a passage; its few systematic
misses are fixed in _sentence_starts (docs/research-log.md, "Sentence segmentation").

Before it runs, the text is split into blocks by line kind, so that code never merges with prose: a run of code
lines is one segment (one per line past CODE_BLOCK_MAX characters), an option-list item ("--with-x  use X11")
starts its own block, and a blank line, a heading line or a list item's first line ends a block. Inside a block
a line break is whitespace: a sentence wrapped over PDF lines stays whole. The library only proposes where
sentences start; every segment is a span of the original text (text == original[start:end]) and every
non-whitespace character belongs to exactly one segment, in order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import sentencex


@dataclass(frozen=True)
class Quote:
    text: str
    start: int
    end: int
    kind: str = "prose"  # "prose", "code" (a code line or block) or "option" (an option-list item)


CODE_BLOCK_MAX = 300  # a longer run of code lines is quoted line by line
_DESCRIPTION_LINES = 3  # an option's description: the lines after it that may be followed by the next option
LONG_SEGMENT = 600  # a longer segment of prose is cut at its line ends after a closing mark too
# A heading is a line clearly shorter than the text's usual line (PDF body lines wrap near the page width),
# never less than _HEADING_MIN (narrow columns) and never more than _HEADING_CAP characters (as rag/cite.py had it).
_HEADING_MIN, _HEADING_SHARE, _HEADING_CAP = 48, 0.7, 80

_BLANK, _PROSE, _CODE, _OPTION = "blank", "prose", "code", "option"

# ---------------------------------------------------------------------------------------------------------------
# The line classifier: the one place with hand-written patterns. A line is code when it looks like R or shell
# code and not like a sentence; prose that only mentions code ("x <- solve(A) %*% b instead of solve(A,b).")
# stays prose.
_PROMPT = re.compile(r"\s*(?:> |\[\d+\] )")  # R's prompt "> x <- 1", a printed result "[1] 0.876"
_CONTINUATION = re.compile(r"\s*\+ ")  # R's continuation prompt: code only right after code
# A command at the line start: R CMD, a shell prompt, a path ("./configure", "../bin/R"), a common tool.
_SHELL = re.compile(r"\s*(?:\$ |R CMD |Rscript |\.{1,2}/|(?:make|tar|gzip|gunzip|bzip2|xz|unzip|cd|export|sudo|"
                    r"apt-get|apt|yum|dnf|brew|svn|git|rsync|curl|wget|cp|mv|rm|ln|mkdir|chmod|sh|bash|env|gcc|"
                    r"clang|gfortran|pkg-config|otool|ldd|nm)(?: |$))")
# A command with options and no sentence around it: "nm -g /path/to/splines.so", "cproto -I/path -e x.c".
_COMMAND = re.compile(r"\s*[a-z][\w.+-]*\s+-{1,2}[A-Za-z]")
_PREPROCESSOR = re.compile(r"\s*#\s*(?:include|define|undef|ifn?def|if|elif|else|endif|pragma)\b")  # C in R-exts
_ASSIGNMENT = re.compile(r"\s*[A-Za-z_][\w.$\[\]]*\s*(?:<<?-|:?=|\+=)")  # x <- 1, CFLAGS = -O2, LANGUAGE=en
_NAME = re.compile(r"[\w.:$@]+")
_PARENTHESES = re.compile(r"\([^()]*\)")
_CODE_MARKS = ("<-", "{", "}", ";", "::", "$(", "%*%", "%>%", "|>", "&&", "||", "==", " ~ ")
_CODE_SYMBOLS = frozenset("{}<>=$#%*~;\"\\|&^@")  # brackets are left out: "(see below)", "[yes]" are prose
_SYMBOL_SHARE = 0.2
# One or more options, then the description: "--with-x use X11", "-h, --help print help", "--x-includes=DIR".
_OPTION_TERM = re.compile(r"\s*-{1,2}[A-Za-z][\w.+-]*(?:=\S+)?(?:,?\s+-{1,2}[A-Za-z][\w.+-]*(?:=\S+)?)*(?=\s|$)")
_LIST_ITEM = re.compile(r"\s*(?:[•◦▪‣*–-]\s|\d{1,3}[.)]\s|\(?[a-z]\)\s)")  # "• x", "- x", "1. x", "(a) x"
# A contents or index entry ends at its dot leader and page numbers: "R_alloc . . . . . . 214".
_LEADER = re.compile(r"(?:\.\s?){4,}[\s\d,–-]*$")
_URL = re.compile(r"(?:https?|ftp)://\S+|www\.\S+")
_COMMENT = re.compile(r"(?:^|\s)#.*$")  # an R or shell comment: "## optional" says nothing of the line's kind
_STRING = re.compile(r'"[^"]*"')  # a string literal's words are not prose
_OPEN_ENDS = ("\\", ",", "(", "{", "[", "|", "+", "*", "&&", "||", "<-", "=")  # code that goes on
_CLOSING = ".,;:!?-"  # a line ending in one of these is no heading
_MARKDOWN_HEADING = re.compile(r"#{1,6} \S")


def _prose_words(line: str, prose_words: frozenset[str]) -> int:
    words = (token.strip(",.;:!?\"'()[]“”‘’«»").lower() for token in line.split())
    return sum(1 for word in words if word in prose_words)


def _is_call(line: str) -> bool:
    """A call alone on its line: tools::testInstalledBasic("both"), Sys.setenv(LANGUAGE = "en")."""
    line = line.rstrip(" ,;")
    if not line.endswith(")"):
        return False
    inner = None
    while inner != line:
        inner, line = line, _PARENTHESES.sub("", line)
    return bool(_NAME.fullmatch(line))


def _kind(line: str, previous: str, previous_kind: str, option_may_start: bool, prose_words: frozenset[str]) -> str:
    stripped = line.strip()
    if not stripped:
        return _BLANK
    if _PROMPT.match(line) or _PREPROCESSOR.match(line):
        return _CODE
    if previous_kind == _CODE and (_CONTINUATION.match(line) or stripped.startswith("#")):
        return _CODE
    term = _OPTION_TERM.match(line)
    # A bare term line is an option; "--no-restore." with its full stop ends a sentence that mentions one.
    if term and not term.group().endswith((".", ",")) and (option_may_start or term.end() == len(line.rstrip())):
        return _OPTION
    bare = _STRING.sub('""', _COMMENT.sub("", _URL.sub("", stripped))).strip()
    words = _prose_words(bare, prose_words)
    ending = stripped.rstrip(_CLOSERS) or stripped
    if words >= 2 or (words and ending[-1] in "!?") or (ending[-1] == "." and not ending.endswith("..")):
        return _PROSE  # sentence-shaped: function words, or a full stop at the end ("... options.)")
    if previous_kind == _CODE and previous.rstrip().endswith(_OPEN_ENDS):
        return _CODE  # the expression goes on: "centre <- function(x, type) {", "OBJECTS = a.o \\"
    if _SHELL.match(stripped) or _COMMAND.match(bare) or _ASSIGNMENT.match(bare) or _is_call(bare):
        return _CODE
    if any(mark in bare for mark in _CODE_MARKS):
        return _CODE
    visible = [c for c in bare if not c.isspace()]
    if visible and sum(c in _CODE_SYMBOLS for c in visible) / len(visible) >= _SYMBOL_SHARE:
        return _CODE
    return _PROSE
# ---------------------------------------------------------------------------------------------------------------


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's content, its line break left out (every break str.splitlines knows)."""
    spans, start = [], 0
    for line in text.splitlines(keepends=True):
        content = line.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        spans.append((start, start + len(content)))
        start += len(line)
    return spans or [(0, 0)]


def _heading_max(text: str, lines: list[tuple[int, int]]) -> int:
    lengths = sorted(len(text[a:b].strip()) for a, b in lines if text[a:b].strip())
    typical = lengths[len(lengths) // 2] if lengths else 0
    return max(_HEADING_MIN, min(_HEADING_CAP, int(_HEADING_SHARE * typical)))


def _is_heading(line: str, heading_max: int) -> bool:
    """A short line that starts like a title ("1.2 Getting the sources", "Examples") and ends without
    closing punctuation, a bracket or quote after it included ("... via Subversion.)" ends a sentence)."""
    if _MARKDOWN_HEADING.match(line):  # "## Canteen": a heading whatever its length and case
        return True
    ending = line.rstrip(_CLOSERS)[-1:]
    return len(line) <= heading_max and (line[0].isupper() or line[0].isdigit()) and ending not in _CLOSING


def _first_char(line: str) -> str:
    stripped = line.lstrip()
    return stripped[:1]


@dataclass
class _Block:
    kind: str
    start: int
    end: int
    described: bool = False  # an option item: has a description after its term(s)
    fragmentary: bool = False  # ... and the description starts in lower case ("use readline library [yes]")
    lines: list | None = None  # the (start, end) of each line, for code blocks
    item: bool = False  # a list item's block, starting with its marker


def _kinds(text: str, lines: list[tuple[int, int]], prose_words: frozenset[str]) -> list[str]:
    kinds, previous, previous_kind = [], "", _BLANK
    since_option = _DESCRIPTION_LINES + 1  # prose lines since the last option line
    for a, b in lines:
        line = text[a:b]
        # An option item starts after a blank, code or option line, a line that closes a sentence, or an
        # option's description; "-j n option: most do." after "... supports the make" ends a sentence.
        option_may_start = (previous_kind in (_BLANK, _CODE, _OPTION) or previous.rstrip()[-1:] in ".:;!?)]"
                            or since_option <= _DESCRIPTION_LINES)
        kind = _kind(line, previous, previous_kind, option_may_start, prose_words)
        since_option = 0 if kind == _OPTION else since_option + 1 if kind == _PROSE else _DESCRIPTION_LINES + 1
        kinds.append(kind)
        previous, previous_kind = line, kind
    return kinds


def _blocks(text: str, prose_words: frozenset[str]) -> list[_Block]:
    """The text's blocks by line kind, in order; together they hold every non-blank line."""
    lines = _lines(text)
    kinds = _kinds(text, lines, prose_words)
    heading_max = _heading_max(text, [span for span, kind in zip(lines, kinds) if kind == _PROSE])
    blocks: list[_Block] = []
    current: _Block | None = None
    previous, previous_kind, previous_end = "", _BLANK, 0

    def close():
        nonlocal current
        if current is not None:
            blocks.append(current)
        current = None

    for index, ((a, b), kind) in enumerate(zip(lines, kinds)):
        line = text[a:b]
        stripped = line.strip()
        if kind == _BLANK:
            close()
        elif kind == _CODE:
            if current is None or current.kind != _CODE:
                close()
                current = _Block(_CODE, a, b, lines=[])
            current.end = b
            current.lines.append((a, b))
        elif kind == _OPTION:
            term = _OPTION_TERM.match(line)
            description = line[term.end():].strip()
            # "--save\n--no-save\nControl whether ..." is one item: bare terms gather until a description.
            if current is None or current.kind != _OPTION or current.described:
                close()
                current = _Block(_OPTION, a, b)
            current.end = b
            if description:
                current.described, current.fragmentary = True, description[0].islower()
        else:  # prose
            starts_item = bool(_LIST_ITEM.match(line))
            # An option's lower-case fragment ("build the BLAS as a shared library [yes]") ends where a line
            # without closing punctuation is followed by a capitalised one.
            option_ends = (current is not None and current.kind == _OPTION and current.fragmentary
                           and previous.rstrip()[-1:] not in _CLOSING and stripped[0].isupper())
            if current is not None and current.kind == _OPTION and not current.described and not starts_item:
                current.described, current.fragmentary = True, stripped[0].islower()
                current.end = b
                previous, previous_kind, previous_end = line, kind, b
                continue  # a bare term's description: never a heading
            if current is None or current.kind == _CODE or starts_item or option_ends:
                close()
                current = _Block(_PROSE, a, b, item=starts_item)
            else:
                current.end = b
            # A heading: a short line without closing punctuation followed by a capitalised line ...
            following = next((text[c:d] for c, d in lines[index + 1:index + 2]), "")
            # ... and not the end of a sentence wrapped from a full-width line ("... RSiena (https://CRAN.\n
            # R-project.org/package=RSiena) has").
            wrapped = previous_kind == _PROSE and len(previous.strip()) > heading_max and (
                previous.rstrip().rstrip(_CLOSERS)[-1:] not in ".!?:" or _broken_url(previous.split()[-1]))
            if _LEADER.search(stripped):
                close()
            elif not wrapped and _is_heading(stripped, heading_max) and _first_char(following).isupper():
                if current.start < a:  # the lines before it are a block of their own
                    current.end = previous_end
                    close()
                    current = _Block(_PROSE, a, b)
                close()
        previous, previous_kind, previous_end = line, kind, b
    close()
    return blocks


# The library's view of a block: same length, line breaks as spaces, PDFium's \x02 (a hyphen where a word was
# broken at a line end) as a hyphen, so that offsets into the view are offsets into the text.
_VIEW = str.maketrans({**dict.fromkeys("\n\r\t\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", " "), "\x02": "-"})
_CLOSERS = ")]}»”’\"'"
_ELIDED = re.compile(r"^\w+['’]")  # "l'" of "l'art.": the abbreviation is the word after it


def _sentence_starts(view: str, language) -> list[int]:
    """Where the library starts a sentence in `view`, cleaned: a start sits after whitespace (no cut inside
    "CRAN.R-project.org" or "~/.Rprofile"), after any closing bracket or quote ("(... Subversion.)" keeps its
    ")"), not inside a web address broken at a line end, not before a lower-case letter or a comma (an
    abbreviation the library does not know: "3 janv. depuis"; an ellipsis: "x1, . . . , xp"), not before a
    number after a lower-case word or a lone letter and its full stop ("approx. 3 GB", "l'art. 12",
    "art. L. 1234-5"), and not after a title the language writes before a name ("M. Dupont", "art. L. 12")."""
    n = len(view)
    proposed = [b["start_index"] for b in sentencex.get_sentence_boundaries(language.code, view)
                if not b["is_paragraph_break"]]
    # Two ends the library misses: a bracket closed after the sentence's punctuation ("(Note: optional.) Then"),
    # and a whole word its abbreviation list holds ("... starts in May. Notice ...").
    whole_words, titles = language.whole_word_abbreviations, language.titles
    for i in range(1, n - 2):
        if view[i + 1] != " ":
            continue
        closed = view[i] == ")" and view[i - 1] in ".!?"
        if closed or view[i] == "." and whole_words and view[view.rfind(" ", 0, i) + 1:i].lower() in whole_words:
            proposed.append(i + 2)
    starts: list[int] = []
    for c in sorted(proposed):
        if c <= 0:
            continue
        while c < n and view[c] in _CLOSERS and not view[c - 1].isspace():
            c += 1
        while c < n and view[c].isspace():
            c += 1
        if c >= n or not view[c - 1].isspace() or view[c].islower() or view[c] in ",;:.!?":
            continue
        before = view[:c].rstrip()
        last = before[before.rfind(" ") + 1:]
        if _broken_url(last):
            continue
        word = _ELIDED.sub("", last[:-1]) if last.endswith(".") else ""
        if view[c].isdigit() and word.isalpha() and (word.islower() or len(word) == 1):
            continue  # "approx. 3 GB", "env. 3 kg", "p. 45", "l'art. 12": an abbreviation before a number
        if word.lower() in titles:
            continue
        if not starts or c > starts[-1]:
            starts.append(c)
    return starts


def _broken_url(token: str) -> bool:
    """A web address cut at a line end inside its host name: "https://CRAN." before "R-project.org/"."""
    scheme = token.find("://")
    return scheme >= 0 and "/" not in token[scheme + 3:]


def _is_fragment(text: str) -> bool:
    """A lone initial or list number ("M.", "É.", "1.") is no sentence: it belongs to the next one."""
    return text.endswith(".") and (len(text) == 2 and text[0].isalpha() or text[:-1].isdigit() and len(text) <= 4)


def _spans(text: str, start: int, cuts: list[int], end: int) -> list[tuple[int, int]]:
    out = []
    for a, b in zip([start, *cuts], [*cuts, end]):
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if b <= a:
            continue
        if out and _is_fragment(text[out[-1][0]:out[-1][1]]):
            a = out.pop()[0]
        out.append((a, b))
    return out


def _line_ends_in_long(text: str, block: _Block, cuts: list[int]) -> list[int]:
    """Cuts at the line breaks after a closing mark (".", ")", "]" ...) inside a segment longer than
    LONG_SEGMENT: a list of entries without sentences ("double gammafn (double x) [Function]") or prose
    the library would not cut ("x[[i]] or x[i] will return ...") is no quote."""
    out = []
    for a, b in zip([block.start, *cuts], [*cuts, block.end]):
        if b - a <= LONG_SEGMENT:
            continue
        for line_start, line_end in _lines(text[a:b])[:-1]:
            if text[a + line_start:a + line_end].rstrip()[-1:] in ".!?:;)]":
                out.append(a + line_end)
    return out


def segments(text: str, language, prose_words: frozenset[str]) -> list[Quote]:
    """Sentences of prose, each code line/block and each option-list item as its own segment; offsets into `text`.
    `language` is the text's `rag.language.Language` (not imported: it calls this module); `prose_words` the
    function words that tell a prose line from code."""
    out: list[Quote] = []
    for block in _blocks(text, prose_words):
        if _MARKDOWN_HEADING.match(text, block.start) and "\n" not in text[block.start:block.end].strip():
            spans = _spans(text, block.start, [], block.end)  # "### 4. Saffron Kestrel Project": one heading
        elif block.kind == _CODE:
            if block.end - block.start > CODE_BLOCK_MAX:
                spans = [span for a, b in block.lines for span in _spans(text, a, [], b)]
            else:
                spans = _spans(text, block.start, [], block.end)
        else:
            view = text[block.start:block.end].translate(_VIEW)
            if block.item:  # sentencex keeps a list item whole; its sentences are quoted one by one here
                marker = _LIST_ITEM.match(view).end()
                view = " " * marker + view[marker:]
            cuts = [block.start + c for c in _sentence_starts(view, language)]
            cuts = sorted(set(cuts) | set(_line_ends_in_long(text, block, cuts)))
            spans = _spans(text, block.start, cuts, block.end)
        out.extend(Quote(text[a:b], a, b, block.kind) for a, b in spans)
    return out
