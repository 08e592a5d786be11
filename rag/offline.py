"""The offline guard. Every entry point imports this module before anything else.

Environment variables stop the libraries from trying (hub downloads, telemetry, tracing);
the audit hook is the tripwire for anything that tries anyway: a socket connection or a
DNS lookup to a non-loopback address raises `EgressBlocked`, naming the code that tried.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Callable

_FORCED_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
    "DO_NOT_TRACK": "1",
    "ANONYMIZED_TELEMETRY": "False",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_CALLBACKS_BACKGROUND": "false",
    "TOKENIZERS_PARALLELISM": "false",
}
# Keys that would send traces somewhere even with tracing "off" in some versions.
_REMOVED_ENV = ("LANGCHAIN_API_KEY", "LANGSMITH_API_KEY", "LANGCHAIN_ENDPOINT", "LANGSMITH_ENDPOINT")

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}
_allowed_hosts: set[str] = set()
_resolved: dict[str, set[str]] = {}  # the addresses a name let through, withdrawn with it
_listeners: list[Callable[[str], None]] = []
_armed = False


class EgressBlocked(PermissionError):
    """Raised by the tripwire when code in this process tries to reach the network."""


def allow_host(host: str) -> None:
    """Let connections to `host` through: only for servers the user named explicitly. A name is resolved
    here and its addresses are let through too, since the connection itself goes to an address."""
    _allowed_hosts.add(host.lower())
    try:
        resolved = {info[4][0].lower() for info in socket.getaddrinfo(host, None)}
    except OSError:
        return  # not resolvable now: the connection will fail on its own, with its own error
    _resolved[host.lower()] = resolved - _allowed_hosts
    _allowed_hosts.update(resolved)


def revoke_host(host: str) -> None:
    """Undo `allow_host`, e.g. after a lookup made only to decide whether a server may be used."""
    _allowed_hosts.discard(host.lower())
    _allowed_hosts.difference_update(_resolved.pop(host.lower(), set()))


def on_block(listener: Callable[[str], None]) -> None:
    """Call `listener(message)` whenever the tripwire refuses something (the audit log uses this)."""
    _listeners.append(listener)


def off_block(listener: Callable[[str], None]) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def is_local(host: object) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    name = str(host).strip("[]").lower()
    if name in _LOCAL_NAMES or name in _allowed_hosts:
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _culprit() -> str:
    """The first frame outside the socket machinery: that is the code which tried."""
    frame = sys._getframe(2)
    plumbing = ("socket", "ssl", "selectors", "asyncio", "urllib3", "http", "httpx", "httpcore",
                "requests", "anyio", "aiohttp", "rag.offline", "concurrent")
    while frame is not None:
        module = frame.f_globals.get("__name__", "?")
        if not module.split(".")[0] in plumbing and module != __name__:
            return f"{module} ({frame.f_code.co_filename}:{frame.f_lineno})"
        frame = frame.f_back
    return "unknown code"


def _refuse(target: str) -> None:
    message = (f"blocked a network connection to {target} from {_culprit()}: "
               "this assistant never sends data off the machine")
    for listener in list(_listeners):
        try:
            listener(message)
        except Exception:  # a failing listener must not open a hole in the tripwire
            pass
    raise EgressBlocked(message)


def _hook(event: str, args: tuple) -> None:
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1] if len(args) > 1 else None
        if isinstance(address, tuple) and address and not is_local(address[0]):
            _refuse(f"{address[0]}:{address[1] if len(address) > 1 else '?'}")
    elif event == "socket.getaddrinfo":
        if not is_local(args[0]):
            _refuse(f"{args[0]!s}:{args[1]!s} (DNS lookup)")
    elif event in ("socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr"):
        if not is_local(args[0]):
            _refuse(f"{args[0]!s} (DNS lookup)")


def arm() -> None:
    """Force the offline environment and install the tripwire (idempotent; hooks cannot be removed)."""
    global _armed
    os.environ.update(_FORCED_ENV)
    for name in _REMOVED_ENV:
        os.environ.pop(name, None)
    if not _armed:
        sys.addaudithook(_hook)
        _armed = True


arm()
