"""Follow-up questions: the fallback's reading in English and French, a conversation on the demo documents with the
real default models (Python API, interactive CLI, HTTPS API with sessions), its sealed audit entries, and a chat
model's rewrite over llama.cpp's server. The web page's conversation is tested in test_web.py."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

LEAVE = "How many days of paid annual leave do employees get?"
PART_TIME = "And for part-time staff?"
# What "And for part-time staff?" means after LEAVE, asked on its own: the passage it finds is the one to find.
PART_TIME_ALONE = "How many days of paid annual leave do part-time staff get?"


@pytest.fixture(scope="module")
def english():
    from rag.language import get

    return get("en")


@pytest.fixture(scope="module")
def french():
    from rag.language import get

    return get("fr")


# -- the fallback: which questions are follow-ups, and what they become ------------------------------------------------
def test_an_elliptic_follow_up_asks_the_previous_question_about_its_phrase(english):
    from rag.conversation import follow_up

    assert follow_up(PART_TIME, LEAVE, english) == (
        "How many days of paid annual leave do employees get, for part-time staff?")
    assert "part-time staff" in follow_up("What about part-time staff?", LEAVE, english)
    # The phrase opened by the same function word is replaced: the previous subject no longer pulls retrieval.
    budget = "What budget did the board approve for the Tromsø office renovation?"
    assert follow_up("And for the Saffron Kestrel project?", budget, english) == (
        "What budget did the board approve for the Saffron Kestrel project?")


def test_a_follow_up_with_its_own_question_carries_the_previous_subject(english):
    from rag.conversation import follow_up

    compassionate = "How many days of compassionate leave do employees get?"
    assert follow_up("Is it paid?", compassionate, english) == "Is it paid? (days compassionate leave employees get)"
    assert follow_up("Why?", "Who approves exceptions to the policy?", english) == "Why? (approves exceptions policy)"
    assert follow_up("What does he do?", "Who is the CISO?", english) == "What does he do? (CISO)"  # as written
    assert follow_up("How long?", "Is parental leave paid?", english).startswith("How long? (parental leave paid")


def test_a_question_that_stands_alone_is_left_alone(english):
    from rag.conversation import follow_up

    for question in ["Who chaired the board meeting?", "How long must passwords be?",
                     # "it" with much to say of its own is no reference back
                     "How long does it take to get a new laptop from the IT department?",
                     "And how long is the notice period during the probation period?"]:
        assert follow_up(question, LEAVE, english) is None, question


def test_french_follow_ups_read_by_french_words(french):
    from rag.conversation import follow_up

    leave = "Combien de jours de congés payés les salariés ont-ils ?"
    assert follow_up("Et pour les salariés à temps partiel ?", leave, french) == (
        "Combien de jours de congés payés les salariés ont-ils, pour les salariés à temps partiel ?")
    assert follow_up("Et pour les cadres ?", "Combien de jours de congé pour les salariés ?", french) == (
        "Combien de jours de congé pour les cadres ?")
    # "qu'en est-il" with either apostrophe opens a follow-up
    for opener in ("Qu'en est-il", "Qu’en est-il"):
        assert follow_up(f"{opener} des stagiaires ?", leave, french).endswith(", des stagiaires ?")
    assert follow_up("Sont-elles payées ?", leave, french) == "Sont-elles payées ? (jours congés salariés)"
    assert follow_up("Pourquoi ?", leave, french) == "Pourquoi ? (jours congés payés salariés)"
    # An impersonal "il" is no reference back, and a question with its own subject stands alone.
    for question in ["Y a-t-il un parking au siège ?", "Qui préside le conseil d'administration ?"]:
        assert follow_up(question, leave, french) is None, question


def test_a_chat_models_rewrite_is_checked_before_it_is_used(english):
    from rag.conversation import accepted

    budget = ["What budget did the board approve for the Tromsø office renovation?"]
    saffron = "And for the Saffron Kestrel project?"
    good = "What budget did the board approve for the Saffron Kestrel project?"
    assert accepted(f'"{good}"\nI named the project.', saffron, budget, english) == good
    assert accepted("", saffron, budget, english) is None
    assert accepted(saffron, saffron, budget, english) is None  # took nothing of the history
    assert accepted(budget[0], saffron, budget, english) is None  # lost what the follow-up asks about
    assert accepted(good + " " + "And the pension scheme as well?" * 3, saffron, budget, english) is None  # too long
    assert accepted("What budget did the Tromsø project of the Saffron Kestrel fleet get in Hamburg from Oslo?",
                    saffron, budget, english) is None  # names what nobody said


# -- a conversation on the demo documents, real default models ---------------------------------------------------------
def cited(answer) -> list[tuple[str, int | None, str]]:
    return [(c.source, c.page, c.chunk_id) for c in answer.citations]


def test_a_follow_up_finds_what_the_question_it_means_finds(assistant):
    alone = assistant.ask(PART_TIME_ALONE)
    assert not alone.abstained and cited(alone)[0][:2] == ("hr-policy.pdf", 2)
    bare = assistant.ask(PART_TIME)  # without the conversation there is nothing to answer
    assert bare.abstained, bare.to_dict()

    conversation = assistant.conversation()
    first = conversation.ask(LEAVE)
    assert first.standalone == LEAVE and "27 days" in first.answer
    follow = conversation.ask(PART_TIME)
    assert not follow.abstained, follow.to_dict()
    assert cited(follow) == cited(alone)  # the very passage the standalone question finds
    data = json.loads(follow.to_json())
    assert data["question"] == PART_TIME and "paid annual leave" in data["standalone"] and "part-time" in data["standalone"]
    assert "(Understood as: How many days of paid annual leave" in follow.render_text()
    assert [turn.by for turn in conversation.turns] == ["asked", "words"]  # the default model: the fallback

    conversation.reset()
    again = conversation.ask(PART_TIME)
    assert again.standalone == PART_TIME and again.abstained  # a new conversation: nothing to carry


def test_a_follow_up_is_answered_about_its_own_subject_not_the_previous_one(assistant):
    conversation = assistant.conversation()
    first = conversation.ask("What budget did the board approve for the Tromsø office renovation?")
    assert "4.2 million" in first.answer
    follow = conversation.ask("And for the Saffron Kestrel project?")
    assert not follow.abstained and "Saffron Kestrel" in follow.citations[0].quote, follow.to_dict()
    assert "Tromsø" not in follow.citations[0].quote


def test_a_short_french_follow_up_keeps_the_conversations_language(assistant):
    from rag.conversation import Turn

    leave = "Combien de jours de congés payés les salariés ont-ils ?"
    conversation = assistant.conversation([Turn(leave, leave, "fr", "asked")])
    standalone, by, language = conversation.standalone("Et les cadres ?")  # too short to tell its language
    assert language.code == "fr" and by == "words" and standalone.startswith("Combien de jours de congés payés")


def test_each_turn_is_audited_sealed_with_the_question_it_was_answered_as(assistant, demo_store):
    from rag.audit import open_log

    conversation = assistant.conversation()
    conversation.ask("How long must passwords be?")
    conversation.ask("And how often are they rotated?")
    log = open_log(demo_store)
    entries = [e for e in log.entries() if e["action"] == "ask"][-2:]
    revealed = [log.reveal(e) for e in entries]
    assert [r["question"] for r in revealed] == ["How long must passwords be?", "And how often are they rotated?"]
    assert revealed[0]["standalone"] == "How long must passwords be?"
    assert revealed[1]["standalone"].startswith("And how often are they rotated?") and "passwords" in revealed[1][
        "standalone"]
    assert all(r["sources"] == ["it-security-policy.pdf"] for r in revealed), revealed
    raw = (Path(demo_store.store) / "audit.log").read_text()
    assert "rotated" not in raw and "passwords" not in raw.lower()  # sealed: nobody without the key reads a turn
    assert not log.verify()


def test_the_interactive_cli_keeps_a_conversation_and_starts_anew(demo_store):
    env = {**os.environ, "RAG_STORE": str(demo_store.store), "RAG_KEY_FILE": str(demo_store.key_file)}
    result = subprocess.run([sys.executable, "-m", "rag.ask", "--json"], input=f"{LEAVE}\n{PART_TIME}\n/new\n"
                            f"{PART_TIME}\n\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert result.returncode == 0, result.stderr
    first, follow, fresh = [json.loads(line) for line in result.stdout.splitlines()]  # piped: JSON lines only
    assert first["standalone"] == LEAVE and "27 days" in first["answer"]
    assert follow["question"] == PART_TIME and "paid annual leave" in follow["standalone"]
    assert not follow["abstained"] and follow["citations"][0]["source"] == "hr-policy.pdf"
    assert fresh["standalone"] == PART_TIME and fresh["abstained"]
    assert "New conversation." in result.stderr


# -- the HTTPS API: one conversation per session, in memory, gone at logout ----------------------------------------------
def test_a_session_keeps_its_own_conversation_until_logout(rag_server):
    token = rag_server.token("reader")

    def login() -> str:
        with rag_server.client() as client:
            return client.post("/login", json={"token": token}).json()["session"]

    first_session, second_session = login(), login()
    with rag_server.client(first_session) as first, rag_server.client(second_session) as second:
        assert first.post("/ask", json={"question": LEAVE}).status_code == 200
        follow = first.post("/ask", json={"question": PART_TIME}).json()
        assert "paid annual leave" in follow["standalone"] and not follow["abstained"], follow
        assert follow["citations"][0]["source"] == "hr-policy.pdf"
        other = second.post("/ask", json={"question": PART_TIME}).json()  # another session: its own history
        assert other["standalone"] == PART_TIME and other["abstained"]
        anew = first.post("/ask", json={"question": PART_TIME, "new_conversation": True}).json()
        assert anew["standalone"] == PART_TIME
        assert first.post("/ask", json={"question": LEAVE}).status_code == 200
        assert first.post("/logout").status_code == 204
        assert first.post("/ask", json={"question": PART_TIME}).status_code == 401
    with rag_server.client(login()) as again:  # logged in anew: the old conversation is gone
        assert again.post("/ask", json={"question": PART_TIME}).json()["standalone"] == PART_TIME
    with rag_server.client(token) as raw:  # a token's own questions stand alone: no conversation, no standalone
        raw.post("/ask", json={"question": LEAVE})
        assert "standalone" not in raw.post("/ask", json={"question": PART_TIME}).json()
    with rag_server.client(rag_server.token("admin")) as admin:
        entries = admin.get("/admin/audit", params={"limit": 50}).json()["entries"]
    turn = next(e for e in reversed(entries) if e["details"] and e["details"].get("question") == PART_TIME
                and "paid annual leave" in e["details"].get("standalone", ""))
    assert turn["action"] == "ask" and turn["user"] == "api:test-reader"


# -- a chat model rewrites: the test model over llama.cpp's server (see test_written_server.py) --------------------------
@pytest.mark.filterwarnings("ignore:the packaged abstention threshold")  # fitted with the default model
def test_a_chat_model_is_asked_to_rewrite_and_its_rewrite_is_used_only_if_it_holds(demo_store):
    """The 0.5B test model mostly echoes a question: the mechanics (its chat template, the checks, the fallback) are
    what this shows, not the quality of a capable model's rewrites."""
    from dataclasses import replace

    from conftest import llama_server
    from test_written_server import PARTS, qwen_gguf

    from rag.api import Assistant
    from rag.conversation import accepted
    from rag.language import get

    if importlib.util.find_spec("llama_cpp") is None or any(importlib.util.find_spec(p) is None for p in PARTS):
        pytest.skip("llama-cpp-python[server] and the test chat model are not installed (dev extra)")
    with llama_server(qwen_gguf(demo_store.cache_dir)) as url, \
            Assistant.open(settings=replace(demo_store, llm=url)) as assistant:
        conversation = assistant.conversation()
        conversation.ask(LEAVE, mode="extractive")
        follow = conversation.ask(PART_TIME, mode="extractive")
    turn = conversation.turns[-1]
    assert turn.by in ("model", "words")
    if turn.by == "model":  # a rewrite is used only as the checks allow
        assert accepted(turn.standalone, PART_TIME, [LEAVE], get("en")) == turn.standalone
    else:  # discarded: the fallback's reading
        assert turn.standalone == "How many days of paid annual leave do employees get, for part-time staff?"
    assert not follow.abstained and follow.citations[0].source == "hr-policy.pdf", follow.to_dict()
