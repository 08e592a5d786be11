"""Start the server: refuse unsafe binds, open the store and models, listen, serve until stopped."""
from __future__ import annotations

import ipaddress
import socket
import ssl
import sys
from dataclasses import dataclass, field
from pathlib import Path

from rag.errors import UsageError
from rag.serve.app import Limits, create_app
from rag.settings import Settings


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8443
    cert: Path | None = None
    key: Path | None = None
    allow_remote: bool = False
    limits: Limits = field(default_factory=Limits)

    @property
    def tls(self) -> bool:
        return self.cert is not None


def bind_address(options: ServeOptions) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The address to listen on, if the options allow it: loopback, or another address only when asked
    for explicitly and with TLS."""
    host = "127.0.0.1" if options.host == "localhost" else options.host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"--host {options.host}: give an IP address (127.0.0.1, ::1, or an interface's "
                         "address), not a name") from None
    if not 0 <= options.port <= 65535:
        raise UsageError(f"--port {options.port} is not a TCP port")
    if (options.cert is None) != (options.key is None):
        raise UsageError("HTTPS needs both --cert FILE and --key FILE")
    if not address.is_loopback:
        if not options.allow_remote:
            raise UsageError(f"--host {options.host} makes the server reachable from other machines; add "
                             "--allow-remote if that is intended (it also needs --cert and --key)")
        if not options.tls:
            raise UsageError(f"--host {options.host} needs TLS: --cert FILE --key FILE "
                             "(python -m rag.serve init-tls --out DIR writes a self-signed pair)")
    return address


def check_tls(options: ServeOptions) -> None:
    """Fail with one line now rather than with a traceback from inside the server later."""
    if not options.tls:
        return
    for path in (options.cert, options.key):
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file (python -m rag.serve init-tls --out DIR writes a pair)")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(options.cert, options.key)
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(f"--cert {options.cert} / --key {options.key} do not load as a TLS pair: {exc}") from None


def listening_socket(address, port: int) -> socket.socket:
    """Bound after the models have loaded, so the address printed answers at once; bound to an address,
    never a name, so there is no lookup for the offline tripwire to refuse."""
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and address.is_unspecified:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((str(address), port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {address} port {port}: {exc.strerror}") from None
    sock.listen(128)
    return sock


def run_serve(settings: Settings, options: ServeOptions) -> int:
    import uvicorn

    from rag.serve.backend import Backend
    from rag.serve.tokens import TokenStore
    from rag.store.audit import AuditLog
    from rag.store.chroma import state_dir_for

    address = bind_address(options)
    check_tls(options)
    backend = Backend.open(settings)
    state_dir, keyring = state_dir_for(settings), backend.keyring
    tokens = TokenStore(state_dir, keyring)
    if not tokens.users():
        print("warning: no API tokens yet, so every request will be refused; add one: python -m rag.serve token "
              f"add NAME --role admin --store {settings.store}", file=sys.stderr)
    app = create_app(backend, tokens, AuditLog(state_dir, keyring), options.limits)
    sock = listening_socket(address, options.port)
    port = sock.getsockname()[1]
    host = f"[{address}]" if address.version == 6 else str(address)
    scheme = "https" if options.tls else "http"
    print(f"listening on {scheme}://{host}:{port}/ (store {settings.store}"
          f"{'' if options.tls else '; plain HTTP, loopback only'})", flush=True)
    config = uvicorn.Config(app, ssl_certfile=options.cert, ssl_keyfile=options.key, log_level="warning",
                            access_log=False, server_header=False, proxy_headers=False, lifespan="off",
                            limit_concurrency=64, timeout_graceful_shutdown=10)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        backend.close()
    return 0
