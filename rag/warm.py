"""A warm assistant per user: a one-shot `python -m rag.ask "..."` hands its question to a process that holds the
models and the opened store already, instead of loading them again for every question.

The first one-shot ask starts it (and is answered by it); it stops after `RAG_WARM_IDLE` seconds without a
question (default 600), when its store is gone, or on `python -m rag.warm stop`. `RAG_WARM=off` (`--no-warm`)
answers in the asking process, as before. Interactive sessions, `--batch` and `--stream` always do.

What keeps it private (docs/security.md#the-warm-assistant):
- its socket is 0600 in a 0700 folder of the user's own (checked, never followed through a link), and it
  answers only processes of its own uid (SO_PEERCRED), as the asking process checks it is one of its own;
- one assistant per set of settings (store, collections, models, options, this code): a question asked with
  other settings never reaches it;
- each request proves it holds the same key material (the key file's bytes, the passphrase, the inference
  server's token) with an HMAC over a fresh nonce: a process that could not open the store is refused;
- it writes nothing but the audit entries the asking process would write; no question or answer is logged.
The answer is `Assistant.ask`'s, as in the asking process; the Assistant opens the store again (models kept) when
another process changed it on disk.

    python -m rag.warm status     # the user's warm assistants
    python -m rag.warm stop       # stop them all
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import socket
import stat
import struct
import subprocess
import sys
import warnings
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

from rag.errors import RagError
from rag.settings import Settings

PROTOCOL = 1
MAX_MESSAGE = 1 << 22  # a question is at most a few kB; an answer with its citations well under this
HELLO_TIMEOUT = 10.0
# Options a request carries itself: they do not need an assistant of their own.
PER_REQUEST = ("k", "warm", "warm_idle", "passphrase")
SECRET_ENV = "RAG_LLM_TOKEN"


@dataclass
class Reply:
    """An answer as the warm assistant sent it: what `rag.ask` shows, exactly as the Answer would show it."""
    answer: str
    abstained: bool
    text: str
    json: str

    def to_json(self) -> str:
        return self.json

    def render_text(self) -> str:
        return self.text


class RelayedError(RagError):
    """An expected failure in the warm assistant, shown as the asking process would show it."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


# --- what both sides share -------------------------------------------------------------------------------------

def private_dir() -> Path | None:
    """The user's own folder for sockets: in XDG_RUNTIME_DIR, else /tmp/private-rag-UID; None if it is not
    private (another owner, a link, open to others), in which case no warm assistant is used."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    folder = Path(base) / "private-rag" if base else Path(f"/tmp/private-rag-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    except OSError:
        return None
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        warnings.warn(f"no warm assistant: {folder} is not a private folder of this user; remove it", stacklevel=2)
        return None
    return folder


def _absolute(value: str) -> str:
    """A local path as an absolute one (the assistant runs elsewhere); names and URLs as they are."""
    if "://" in value or value == "default" or not Path(value).expanduser().exists():
        return value
    return str(Path(value).expanduser().resolve())


def resolved(settings: Settings) -> Settings:
    return replace(settings, store=settings.store if settings.store_is_url
                   else str(Path(settings.store).expanduser().absolute()),
                   key_file=settings.key_file.expanduser().absolute(),
                   cache_dir=settings.cache_dir.expanduser().absolute(),
                   llm=_absolute(settings.llm), embedder=_absolute(settings.embedder))


def _code_stamp() -> str:
    """This code as it is on disk: an assistant started before an upgrade is not asked after it."""
    package = Path(__file__).resolve().parent
    newest = max(p.stat().st_mtime_ns for p in package.rglob("*.py"))
    return f"{package}:{newest}"


def fingerprint(settings: Settings) -> str:
    """What an assistant must share with a request to answer it: every setting that can change an answer,
    every other RAG_* variable (the secrets aside: they are proven, not compared), the interpreter, the code."""
    chosen = {f.name: str(getattr(settings, f.name)) for f in fields(settings) if f.name not in PER_REQUEST}
    env = {k: v for k, v in os.environ.items()
           if k.startswith("RAG_") and k not in (SECRET_ENV, "RAG_PASSPHRASE", "RAG_WARM", "RAG_WARM_IDLE")}
    body = json.dumps([PROTOCOL, chosen, env, sys.executable, _code_stamp()], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()


def _secret(settings: Settings) -> bytes:
    """The key material a process needs to open this store, read now: what a request must prove it holds."""
    try:
        key_file = settings.key_file.read_bytes()
    except OSError:
        key_file = b""
    parts = [key_file, (settings.passphrase or "").encode(), os.environ.get(SECRET_ENV, "").encode()]
    return hashlib.sha256(b"private-rag warm assistant\0" + b"".join(
        struct.pack(">I", len(part)) + part for part in parts)).digest()


def _proof(settings: Settings, nonce: str, identity: str) -> str:
    return hmac.new(_secret(settings), f"{nonce}:{identity}".encode(), hashlib.sha256).hexdigest()


def _peer_uid(sock: socket.socket) -> int:
    _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message, ensure_ascii=False).encode() + b"\n")


def _receive(sock: socket.socket) -> dict:
    buffer = bytearray()
    while not buffer.endswith(b"\n"):
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("the other side closed the connection")
        buffer += piece
        if len(buffer) > MAX_MESSAGE:
            raise ValueError("message too long")
    message = json.loads(buffer)
    if not isinstance(message, dict):
        raise ValueError("not a message")
    return message


def _settings_to_dict(settings: Settings) -> dict:
    return {f.name: str(value) if isinstance(value := getattr(settings, f.name), Path) else value
            for f in fields(settings)}


def _settings_from_dict(data: dict) -> Settings:
    return Settings(**{f.name: Path(data[f.name]) if f.type == "Path" else data[f.name]
                       for f in fields(Settings) if f.name in data})


# --- the asking side --------------------------------------------------------------------------------------------

def ask(settings: Settings, question: str, within: list[str]) -> Reply | None:
    """The answer from the user's warm assistant for these settings, started if none runs; None when there is
    none to be had (turned off, not Linux, no store here, no key material), so the caller answers itself."""
    if not settings.warm or not sys.platform.startswith("linux"):
        return None
    settings = resolved(settings)
    if not settings.store_is_url and not (Path(settings.store) / "chroma").is_dir():
        return None  # the asking process says what is wrong, as it always did
    if not settings.passphrase and not settings.key_file.is_file():
        return None
    folder = private_dir()
    if folder is None:
        return None
    identity = fingerprint(settings)
    path = folder / f"{identity[:32]}.sock"
    request = {"op": "ask", "question": question, "within": list(within), "k": settings.k}
    reply = _exchange(path, settings, identity, request)
    if reply is _NOBODY:
        with _locked(folder / f"{identity[:32]}.lock"):
            reply = _exchange(path, settings, identity, request)  # another ask may have started one meanwhile
            if reply is _NOBODY and _start(path, settings):
                reply = _exchange(path, settings, identity, request)
    if reply is _NOBODY or reply.get("refused") or reply.get("fallback"):
        return None
    return _result(reply)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    descriptor = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def _connect(path: Path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(HELLO_TIMEOUT)
        sock.connect(str(path))
        if _peer_uid(sock) != os.getuid():
            raise ConnectionError("not this user's assistant")
        return sock
    except OSError:
        sock.close()
        return None


_NOBODY: dict = {}  # no assistant listens on the socket (never started, stopped, or killed)


def _exchange(path: Path, settings: Settings, identity: str, request: dict) -> dict:
    """One request and its reply; `_NOBODY` if no assistant takes it."""
    sock = _connect(path)
    if sock is None:
        return _NOBODY
    with sock:
        try:
            hello = _receive(sock)
            if hello.get("protocol") != PROTOCOL or hello.get("fingerprint") != identity:
                return {"refused": "another protocol or other settings"}
            _send(sock, {**request, "fingerprint": identity, "proof": _proof(settings, str(hello.get("nonce")), identity)})
            sock.settimeout(None)  # an answer takes as long as it takes, as in the asking process
            return _receive(sock)
        except (OSError, ValueError):
            return {"fallback": "the assistant went away"}


def _start(path: Path, settings: Settings) -> bool:
    """Start the assistant and wait until it listens; a failure to open the store is relayed as the error."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a socket left by an assistant that was killed
    package_root = str(Path(__file__).resolve().parents[1])  # the same code as this process, wherever it runs
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    try:
        child = subprocess.Popen([sys.executable, "-m", "rag.warm", "serve"], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                                 cwd="/", env=env)
    except OSError:
        return False
    # The settings (with the passphrase, if any) go through a pipe: never argv, which other users can read.
    child.stdin.write(json.dumps({"socket": str(path), "settings": _settings_to_dict(settings)}).encode() + b"\n")
    child.stdin.close()
    line = child.stdout.readline()
    child.stdout.close()
    try:
        status = json.loads(line)
    except ValueError:
        return False
    _print_notes(status.get("notes", []))
    if "error" in status:
        raise RelayedError(status["error"], int(status.get("exit_code", 2)))
    return bool(status.get("ready"))


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(note, file=sys.stderr)


def _result(reply: dict) -> Reply:
    _print_notes(reply.get("notes", []))
    if "error" in reply:
        raise RelayedError(reply["error"], int(reply.get("exit_code", 2)))
    return Reply(**reply["answer"])


# --- the assistant's side ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _captured() -> Iterator[list[str]]:
    """Warnings and log lines, as the asking process would have printed them on stderr."""
    notes: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(f"{record.levelname}: {record.getMessage()}")

    handler = Collect(level=logging.root.level)
    logging.root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield notes
        for item in caught:
            note = f"warning: {item.message}"
            if note not in notes:
                notes.append(note)
    finally:
        logging.root.removeHandler(handler)


class _Assistant:
    """The warm process: one opened Assistant, one request at a time."""

    def __init__(self, settings: Settings, path: Path):
        from rag.api import Assistant
        from rag.store.chroma import state_dir_for

        self.settings, self.path = settings, path
        self.identity = fingerprint(settings)
        self.state_dir = state_dir_for(settings)
        with _captured() as self.standing:  # what opening says, the asking process said every time
            self.assistant = Assistant.open(settings=settings)
            self.assistant.pipeline  # the generator and calibration, loaded now rather than at the first question

    def listen(self) -> socket.socket:
        """Bind beside the final name and rename: a client never connects to a half-made socket."""
        spare = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)
        try:
            listener.bind(str(spare))
        finally:
            os.umask(previous)
        listener.listen(16)
        os.rename(spare, self.path)
        self.inode = os.stat(self.path).st_ino
        return listener

    def serve(self, listener: socket.socket) -> None:
        listener.settimeout(max(1, self.settings.warm_idle))
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return  # idle
            with conn:
                try:
                    if not self.handle(conn):
                        return
                except (OSError, ValueError):
                    pass  # the asking process went away, or sent nonsense: the next one is served
            if not self.state_dir.exists() or not self._still_ours():
                return

    def _still_ours(self) -> bool:
        try:
            return os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            return False

    def handle(self, conn: socket.socket) -> bool:
        """Answer one request; False: stop serving."""
        conn.settimeout(HELLO_TIMEOUT)
        if _peer_uid(conn) != os.getuid():
            return True
        nonce = secrets.token_hex(16)
        _send(conn, {"protocol": PROTOCOL, "nonce": nonce, "fingerprint": self.identity, "pid": os.getpid(),
                     "store": self.settings.store, "collection": self.settings.collection})
        request = _receive(conn)
        if request.get("op") == "stop":
            _send(conn, {"stopped": True})
            return False
        if request.get("op") == "status":
            return True
        if request.get("op") != "ask" or request.get("fingerprint") != self.identity or not hmac.compare_digest(
                str(request.get("proof")), _proof(self.settings, nonce, self.identity)):
            _send(conn, {"refused": "not the key material or settings this assistant was started with"})
            return True
        conn.settimeout(None)
        _send(conn, self.answer(request))
        return True

    def answer(self, request: dict) -> dict:
        with _captured() as notes:
            try:
                answer = self.assistant.ask(str(request.get("question", "")), k=request.get("k"),
                                            within=[str(p) for p in request.get("within") or ()])
            except RagError as exc:
                return {"error": str(exc), "exit_code": exc.exit_code, "notes": self.standing + notes}
            except Exception:
                return {"fallback": True}  # the asking process answers, and shows what went wrong
        shown = {"answer": answer.answer, "abstained": answer.abstained, "text": answer.render_text(),
                 "json": answer.to_json()}
        return {"answer": shown, "notes": self.standing + [n for n in notes if n not in self.standing]}

    def close(self) -> None:
        if self._still_ours():
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self.assistant.close()


def serve() -> int:
    """`python -m rag.warm serve`, started by `ask`: settings from stdin, one status line on stdout, then serve."""
    import signal

    config = json.loads(sys.stdin.readline())
    settings, path = _settings_from_dict(config["settings"]), Path(config["socket"])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        warm = _Assistant(settings, path)
    except RagError as exc:
        print(json.dumps({"error": str(exc), "exit_code": exc.exit_code}), flush=True)
        return exc.exit_code
    try:
        listener = warm.listen()
        print(json.dumps({"ready": True, "notes": []}), flush=True)
        # Nothing more is said on stdout or stderr: the asking process is gone.
        devnull = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(devnull, stream)
        warm.serve(listener)
    finally:
        warm.close()
    return 0


def running() -> list[dict]:
    """The user's warm assistants that answer: their hello (pid, store, collection)."""
    folder = private_dir()
    found = []
    for path in sorted(folder.glob("*.sock")) if folder else []:
        sock = _connect(path)
        if sock is None:
            continue
        with sock, contextlib.suppress(OSError, ValueError):
            hello = _receive(sock)
            _send(sock, {"op": "status"})
            found.append({**hello, "socket": str(path)})
    return found


def stop_all() -> int:
    """Ask every warm assistant of this user to stop; how many did."""
    stopped = 0
    for assistant in running():
        sock = _connect(Path(assistant["socket"]))
        if sock is None:
            continue
        with sock, contextlib.suppress(OSError, ValueError):
            _receive(sock)
            _send(sock, {"op": "stop"})
            stopped += bool(_receive(sock).get("stopped"))
    return stopped


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m rag.warm", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["status", "stop", "serve"],
                        help="status: list this user's warm assistants; stop: stop them (serve: used by rag.ask)")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve()
    if args.command == "stop":
        print(f"stopped {stop_all()} warm assistant(s)")
        return 0
    assistants = running()
    for assistant in assistants:
        print(f"pid {assistant.get('pid')}: store {assistant.get('store')}, collection {assistant.get('collection')}")
    if not assistants:
        print("no warm assistant runs")
    return 0


if __name__ == "__main__":
    from rag.cli import run_main

    run_main(main)
