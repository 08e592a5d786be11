"""One server, several departments: a token sees, searches and gets answers only from its collections."""
from __future__ import annotations

import pytest

from conftest import run_cli
from test_collections import FINANCE_FACT, FINANCE_QUESTION, HR_FACT, HR_QUESTION, _folder

LEAKS = ("7.4 million", "finance-notes", "Harrowgate treasury", "Invoices are paid")  # none is in the question


@pytest.fixture(scope="module")
def departments(rag_server, tmp_path_factory):
    """`hr` and `finance` beside the demo documents in the server's store; a reader scoped to hr."""
    base = tmp_path_factory.mktemp("departments")
    for name, fact, filler in (("hr", HR_FACT, "The canteen opens at eight."),
                               ("finance", FINANCE_FACT, "Invoices are paid within thirty days.")):
        done = run_cli("-m", "ingest", str(_folder(base, name, fact, filler)), "--collection", name, env=rag_server.env)
        assert done.returncode == 0, done.stderr
    return {"reader": rag_server.add_token("hr-reader", "reader", "--collections", "hr"),
            "ingester": rag_server.add_token("hr-ingester", "ingester", "--collections", "hr")}


def test_a_reader_scoped_to_hr_gets_nothing_of_finance(rag_server, departments):
    with rag_server.client(departments["reader"]) as client:
        asked = client.post("/ask", json={"question": FINANCE_QUESTION})
        searched = client.post("/search", json={"query": "treasury reserve Quillmoor acquisition", "k": 10})
        documents = client.get("/documents").json()["documents"]
        collections = client.get("/collections").json()
        own = client.post("/ask", json={"question": HR_QUESTION, "collection": "hr"}).json()
    assert asked.status_code == 200 and asked.json()["abstained"]
    for leaked in LEAKS:
        assert leaked not in asked.text and leaked not in searched.text
    assert {d["collection"] for d in documents} == {"hr"} and collections == {"collections": ["hr"]}
    assert not own["abstained"] and "Solveig Brekkestad" in own["answer"] + own["citations"][0]["quote"]


@pytest.mark.parametrize("collection", ["finance", "no-such-collection", ["hr", "finance"]])
def test_naming_a_collection_not_yours_is_the_same_403_whether_or_not_it_exists(rag_server, departments, collection):
    with rag_server.client(departments["reader"]) as client:
        replies = [client.post("/ask", json={"question": FINANCE_QUESTION, "collection": collection}),
                   client.post("/search", json={"query": "treasury", "collection": collection}),
                   client.get("/documents", params={"collection": collection})]
    assert [r.status_code for r in replies] == [403, 403, 403]
    assert {r.json()["error"] for r in replies} == {"no such collection for this token"}
    assert not any(leaked in r.text for r in replies for leaked in LEAKS)


def test_an_ingester_writes_only_its_collections_and_in_scopes_a_search(rag_server, departments):
    with rag_server.client(departments["ingester"]) as client:
        refused = client.post("/ingest", params={"collection": "finance"},
                              files={"file": ("memo.md", b"# Memo\n\nThe finance memo.\n")})
        accepted = client.post("/ingest", params={"collection": "hr"},
                               files={"file": ("rota.md", b"# Rota\n\nThe night rota starts at ten.\n")})
    assert refused.status_code == 403 and accepted.status_code == 200, accepted.text
    with rag_server.client(departments["reader"]) as client:
        scoped = client.post("/search", json={"query": "night rota canteen", "k": 10, "in": ["uploads"]}).json()
    assert {r["source"] for r in scoped["results"]} == {"uploads/rota.md"}


def test_denied_requests_are_audited_with_their_collection(rag_server, departments):
    with rag_server.client(departments["reader"]) as client:
        client.post("/ask", json={"question": FINANCE_QUESTION, "collection": "finance"})
    with rag_server.client(rag_server.token("admin")) as client:
        log = client.get("/admin/audit", params={"collection": "finance", "limit": 1000}).json()
    denied = [e for e in log["entries"] if e["user"] == "api:hr-reader" and e["outcome"] != "ok"]
    assert denied and all("finance" in e["collection"].split(",") for e in denied) and log["intact"]


def test_token_list_shows_each_tokens_collections(rag_server, departments):
    listed = rag_server.cli("token", "list").stdout
    assert any(line.split()[:3] == ["hr-reader", "reader", "hr"] for line in listed.splitlines())
