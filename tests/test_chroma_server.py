"""A real Chroma server as the store: it and the client run with no network but loopback, and the server's
files hold no readable document text."""
from __future__ import annotations

import json
import shutil

import pytest
from conftest import CANARIES, ROOT, copy_docs, network_namespace_available, run_cli, store_bytes

pytestmark = pytest.mark.skipif(not (network_namespace_available() and shutil.which("ip")),
                                reason="unshare -rn (user+network namespace) and ip(8) needed to run a "
                                "server with loopback only")


def test_ingest_ask_and_prune_through_a_chroma_server_with_no_network(isolated):
    docs = copy_docs(isolated / "docs")
    data = isolated / "chroma-server"
    state = isolated / "xdg"  # keyring, manifest and audit log of a server store stay on this side
    # run_cli puts this interpreter right after the prefix: it is the driver's first argument.
    result = run_cli(str(data), str(docs), "How many days of paid annual leave do employees get?",
                     "procedures/claims-procedure.txt", env={"XDG_DATA_HOME": str(state)},
                     prefix=("unshare", "-rn", "bash", str(ROOT / "tests" / "chroma_roundtrip.sh")))
    assert result.returncode == 0, result.stderr[-3000:]
    ingested, answer_json, pruned, scoped_json, before, after = result.stdout.strip().splitlines()
    assert "ingested 4" in ingested and "chroma+http://127.0.0.1:8000" in ingested
    answer = json.loads(answer_json)
    assert not answer["abstained"] and "27" in answer["answer"]
    assert (answer["citations"][0]["source"], answer["citations"][0]["page"]) == ("hr-policy.pdf", 2)
    assert "pruned 1" in pruned
    scoped = json.loads(scoped_json)
    assert scoped["citations"] and all(c["source"].startswith("meetings/") for c in scoped["citations"])
    opened, total = before.split()[1::2]
    assert opened == total and int(total) > 10  # while the collection exists, its keys open every record
    assert after == f"opened 0 of {total}"  # once deleted, no key the client holds opens any of them

    server_blob = store_bytes(data)
    assert len(server_blob) > 100_000  # the vectors and sealed records really went to the server
    assert (state / "private-rag" / "servers").is_dir() and not (isolated / "store").exists()
    for phrase in CANARIES + ["Vantablue", "hr-policy", "Ingrid Solberg"]:
        assert phrase.encode() not in server_blob, f"{phrase!r} readable in the server's files"
        assert phrase.encode("utf-16-le") not in server_blob
        assert phrase.encode() not in store_bytes(state), f"{phrase!r} readable in the client's state"
