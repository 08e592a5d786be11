"""Segments for quotes (rag/segment.py): sentences of prose, code lines and blocks, option-list items."""
import pytest
from conftest import SHARED

from rag import language as languages
from rag.segment import Quote

R_MANUALS = SHARED / "corpora" / "r-manuals"


def texts(text, language="en"):
    return [q.text for q in languages.get(language).segments(text)]


def flat(text):
    return " ".join(text.split())


def assert_exact_and_complete(text, out):
    """Every segment is the original text at its offsets; every non-whitespace character is in exactly one
    segment, in order."""
    position = 0
    for q in out:
        assert isinstance(q, Quote)
        assert text[q.start:q.end] == q.text and q.text == q.text.strip() and q.text
        assert q.start >= position and not text[position:q.start].strip()
        position = q.end
    assert not text[position:].strip()


def test_english_abbreviations_decimals_and_versions_do_not_cut():
    text = ("Dr. Smith met Mr. Jones on Jan. 5 to discuss Fig. 3, cf. the appendix. The constants, i.e. 3.14 "
            "and 2.72, are well known. Use R 3.5.0 or later, e.g. R 4.1 on Linux. Errors, warnings etc. are "
            "logged in version 4.2.2 of the tool. Allocate approx. 2 GB per core. It works in R 3.5.0. Later "
            "versions also work.")
    assert texts(text) == [
        "Dr. Smith met Mr. Jones on Jan. 5 to discuss Fig. 3, cf. the appendix.",
        "The constants, i.e. 3.14 and 2.72, are well known.",
        "Use R 3.5.0 or later, e.g. R 4.1 on Linux.",
        "Errors, warnings etc. are logged in version 4.2.2 of the tool.",
        "Allocate approx. 2 GB per core.",
        "It works in R 3.5.0.",
        "Later versions also work.",
    ]


def test_french_cuts_before_accented_capitals_and_guillemets_and_keeps_abbreviations():
    text = ("Hier, M. Dupont est arrivé à 8 h. À midi, il est reparti. Il a dit : « Nous partirons demain. » "
            "Ensuite, il est sorti. « Bonjour », dit-elle. Évidemment, personne ne répondit. Voir p. 12, "
            "c.-à-d. le chapitre 3. Les fruits, légumes, etc. sont frais. La version 4.2.2 de R est sortie.")
    assert texts(text, "fr") == [
        "Hier, M. Dupont est arrivé à 8 h.",
        "À midi, il est reparti.",
        "Il a dit : « Nous partirons demain. »",
        "Ensuite, il est sorti.",
        "« Bonjour », dit-elle.",
        "Évidemment, personne ne répondit.",
        "Voir p. 12, c.-à-d. le chapitre 3.",
        "Les fruits, légumes, etc. sont frais.",
        "La version 4.2.2 de R est sortie.",
    ]


def test_a_french_text_may_start_with_an_abbreviation():
    assert texts("M. Dupont est là. Il part.", "fr") == ["M. Dupont est là.", "Il part."]


def test_a_code_block_between_two_sentences_is_its_own_segment():
    text = ("To create an empty vector, type\n"
            "> e <- numeric()\n"
            "> e[3] <- 17\n"
            "and e now has length 3. The first two components are NA.")
    assert texts(text) == ["To create an empty vector, type", "> e <- numeric()\n> e[3] <- 17",
                           "and e now has length 3.", "The first two components are NA."]


def test_shell_and_r_lines_without_a_prompt_are_code():
    text = ("The simplest way is to download the most recent sources, and unpack them with\n"
            "tar -xf R-x.y.z.tar.gz\n"
            "on systems that have a suitable tar installed. Then run\n"
            "R CMD INSTALL --preclean pkg\n"
            "Sys.setenv(LANGUAGE = \"en\")  ## optional\n"
            "to install it.")
    assert texts(text) == [
        "The simplest way is to download the most recent sources, and unpack them with",
        "tar -xf R-x.y.z.tar.gz",
        "on systems that have a suitable tar installed.",
        "Then run",
        "R CMD INSTALL --preclean pkg\nSys.setenv(LANGUAGE = \"en\")  ## optional",
        "to install it.",
    ]


def test_prose_that_mentions_code_stays_prose():
    text = ("Numerically, it is both inefficient and potentially unstable to compute\n"
            "x <- solve(A) %*% b instead of solve(A,b). The function attr(object, name) selects one.")
    assert texts(text) == [
        ("Numerically, it is both inefficient and potentially unstable to compute\n"
         "x <- solve(A) %*% b instead of solve(A,b)."),
        "The function attr(object, name) selects one.",
    ]


def test_a_long_code_block_is_quoted_line_by_line():
    lines = [f"result_{i} <- compute_something_long(data[[{i}]], threshold = 0.{i}, verbose = TRUE)"
             for i in range(5)]
    text = "Run the following.\n" + "\n".join(lines) + "\nThat is all."
    assert texts(text) == ["Run the following.", *lines, "That is all."]


def test_each_option_list_item_is_its_own_segment():
    text = ("Probably the most important options are (defaults in brackets)\n"
            "--with-x use the X Window System [yes]\n"
            "--x-includes=DIR\n"
            "X include files are in DIR\n"
            "-h, --help print a short help message and exit\n"
            "--enable-BLAS-shlib\n"
            "build the BLAS as a shared/dynamic library [yes, except on AIX]\n"
            "You can use --without-foo or --disable-foo for the negatives.")
    assert texts(text) == [
        "Probably the most important options are (defaults in brackets)",
        "--with-x use the X Window System [yes]",
        "--x-includes=DIR\nX include files are in DIR",
        "-h, --help print a short help message and exit",
        "--enable-BLAS-shlib\nbuild the BLAS as a shared/dynamic library [yes, except on AIX]",
        "You can use --without-foo or --disable-foo for the negatives.",
    ]


def test_an_option_with_a_sentence_description_and_bare_terms_grouped():
    text = ("R accepts the following command-line options.\n"
            "--save\n"
            "--no-save\n"
            "Control whether data sets should be saved or not at the end of the R session. If neither is\n"
            "given, the user is asked.\n"
            "--vanilla\n"
            "Combine --no-save, --no-environ and\n"
            "--no-restore. Under Windows, this also includes --no-Rconsole.")
    assert texts(text) == [
        "R accepts the following command-line options.",
        "--save\n--no-save\nControl whether data sets should be saved or not at the end of the R session.",
        "If neither is\ngiven, the user is asked.",
        "--vanilla\nCombine --no-save, --no-environ and\n--no-restore.",
        "Under Windows, this also includes --no-Rconsole.",
    ]


def test_wrapped_lines_do_not_cut_but_blank_lines_headings_and_list_items_do():
    text = ("1.2 Getting patched and development versions\n"
            "A patched version of the current release and the current development version are available\n"
            "as daily tarballs. They are built in exactly the same way as distributions of R releases and\n"
            "can be installed the same way\n"
            "\n"
            "a paragraph after a blank line\n"
            "Steps:\n"
            "1. Download the sources. Check them.\n"
            "• Unpack them\n"
            "- Build them")
    assert texts(text) == [
        "1.2 Getting patched and development versions",
        ("A patched version of the current release and the current development version are available\n"
         "as daily tarballs."),
        "They are built in exactly the same way as distributions of R releases and\ncan be installed the same way",
        "a paragraph after a blank line\nSteps:",
        "1. Download the sources.",
        "Check them.",
        "• Unpack them",
        "- Build them",
    ]


def test_offsets_are_exact_with_windows_line_breaks_and_pdfium_hyphens():
    text = ("Sources are also available via the R Subversion reposi\x02tory.\r\nIf you have a client, check\r\n"
            "out the current r-devel (see https://svn.R-project.org/R/).\r\n> x <- c(1, 2)\r\nDone.")
    out = languages.get("en").segments(text)
    assert [q.text for q in out] == [
        "Sources are also available via the R Subversion reposi\x02tory.",
        "If you have a client, check\r\nout the current r-devel (see https://svn.R-project.org/R/).",
        "> x <- c(1, 2)",
        "Done.",
    ]
    assert_exact_and_complete(text, out)


def test_a_web_address_broken_at_a_line_end_is_not_a_sentence_end():
    text = "For example, CRAN package RSiena (https://CRAN.\nR-project.org/package=RSiena) has a makefile."
    assert texts(text) == [text]


@pytest.mark.parametrize("text", [
    "",
    "   \n\n  ",
    "One sentence without a full stop",
    "Hello there. À bientôt.",
    "> x <- 1\n+ 2\n[1] 3\n\n\nThe end.  ",
    "Title\nFirst line of text. Second (with a bracket.) Third.\n\n--help\n-h Print help.\n• item one. Two.",
    ("(For the two weeks prior to a minor (4.x.0) release, see below.) The tarballs are there.\n"
     "1. a\n2.\n3. c\n\u2028Line\x0cFeed\tTab\x85Next"),
    "x1, x2, . . . , xp are variables. A, B, C, . . . are factors.\nR_alloc . . . . . . . . . 214\nR_free . . . 215",
])
def test_no_text_is_lost_and_offsets_are_exact(text):
    for language in ("en", "fr"):
        assert_exact_and_complete(text, languages.get(language).segments(text))


def _page(manual, index):
    if not (R_MANUALS / manual).exists():
        pytest.skip("the R manuals are not on this machine")
    pdfium = pytest.importorskip("pypdfium2")
    document = pdfium.PdfDocument(str(R_MANUALS / manual))
    try:
        return document[index].get_textpage().get_text_bounded()
    finally:
        document.close()


@pytest.mark.parametrize("manual, index, code, sentence", [
    ("R-admin.pdf", 5, "tar -xf R-x.y.z.tar.gz",
     "Keep this setting of umask whilst building and installing."),
    ("R-intro.pdf", 20, "> e <- numeric()", "An “empty” object may still have a mode."),
    ("R-admin.pdf", 20, ("pdf(\"tests.pdf\") ## optional, but prevents flashing graphics windows "
                         "Sys.setenv(LC_COLLATE = \"C\", LC_TIME = \"C\", LANGUAGE = \"en\") "
                         "tools::testInstalledBasic(\"both\") tools::testInstalledPackages(scope = \"base\") "
                         "tools::testInstalledPackages(scope = \"recommended\")"),
     "runs the basic tests and then all the tests on the standard and recommended packages."),
    ("R-admin.pdf", 59, "--with-x use the X Window System [yes]",
     "You can use --without-foo or --disable-foo for the negatives."),
])
def test_r_manual_pages_keep_code_and_sentences_apart(manual, index, code, sentence):
    text = _page(manual, index)
    out = languages.get("en").segments(text)
    assert_exact_and_complete(text, out)
    found = [flat(q.text) for q in out]
    assert code in found and sentence in found


def test_a_markdown_heading_is_its_own_segment_whole():
    text = "### 4. Saffron Kestrel Project\n\nThe project is late. It needs money.\n## Canteen\nLunch is at noon.\n"
    assert [q.text for q in languages.get("en").segments(text)] == ["### 4. Saffron Kestrel Project", "The project is late.",
                                                "It needs money.", "## Canteen", "Lunch is at noon."]
