"""The offline guard (rag/offline.py): nothing reaches the network; loopback still works."""
import os
import socket

import pytest

import rag.offline
from rag.offline import EgressBlocked


def test_environment_forces_offline():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert os.environ["LANGCHAIN_TRACING_V2"] == "false"


def test_rearming_removes_tracing_api_keys(monkeypatch):
    monkeypatch.setenv("LANGCHAIN_API_KEY", "lsv2-secret")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    rag.offline.arm()
    assert "LANGCHAIN_API_KEY" not in os.environ
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_outbound_connection_is_blocked_and_names_the_caller():
    with pytest.raises(EgressBlocked) as info:
        socket.create_connection(("203.0.113.5", 443), timeout=1)
    message = str(info.value)
    assert "203.0.113.5:443" in message
    assert __name__ in message


def test_dns_lookup_is_blocked():
    with pytest.raises(EgressBlocked, match="example.com"):
        socket.getaddrinfo("example.com", 443)


def test_loopback_connection_is_allowed():
    server = socket.socket()
    try:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1) as client:
            peer, _ = server.accept()
            client.sendall(b"ping")
            assert peer.recv(4) == b"ping"
            peer.close()
        # the name "localhost" resolves locally too
        socket.getaddrinfo("localhost", port)
    finally:
        server.close()


def test_on_block_listener_gets_the_message():
    seen = []
    listener = seen.append
    rag.offline.on_block(listener)
    try:
        with pytest.raises(EgressBlocked) as info:
            socket.create_connection(("198.51.100.7", 80), timeout=1)
    finally:
        rag.offline._listeners.remove(listener)  # the registry has no public removal
    assert seen == [str(info.value)]
    assert "198.51.100.7" in seen[0]


def test_failing_listener_does_not_open_a_hole():
    def broken(message):
        raise RuntimeError("listener bug")

    rag.offline.on_block(broken)
    try:
        with pytest.raises(EgressBlocked):
            socket.create_connection(("203.0.113.9", 443), timeout=1)
    finally:
        rag.offline._listeners.remove(broken)


def test_a_server_named_by_host_name_is_reachable_at_the_addresses_it_resolves_to(monkeypatch):
    import socket

    from rag import offline

    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [(2, 1, 6, "", ("10.89.250.2", 0))])
    try:
        offline.allow_host("chroma")
        assert offline.is_local("chroma") and offline.is_local("10.89.250.2")
        assert not offline.is_local("10.89.250.3")
    finally:
        offline.revoke_host("chroma")
    assert not offline.is_local("10.89.250.2")  # withdrawn with the name
