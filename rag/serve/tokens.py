"""Who may call the server: API tokens with roles, an optional TOTP second factor, web sessions.

Tokens live in `api-tokens.json` in the store's state directory. The file holds no token, only
HMAC-SHA256(name, role, token) under a key derived from the store's index key: nobody can mint a
token or raise a role by editing the file without the store key. TOTP secrets are sealed there
with AES-GCM under another derived key, bound to the user's name.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from rag.errors import UsageError
from rag.fsutil import atomic_write, now_iso
from rag.store.keyring import Keyring, check_collection_name
from rag.store.records import seal_blob, unseal_blob

ROLES = ("reader", "ingester", "admin")  # each role may do everything the roles before it may
TOKEN_PREFIX = "rag_"
SESSION_PREFIX = "ses_"
FILE_NAME = "api-tokens.json"
FORMAT = 1
SESSION_SECONDS = 8 * 3600  # a working day; the page keeps its session in memory only
MAX_SESSIONS = 1000
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_TOKEN = re.compile(r"(rag|ses)_[A-Za-z0-9_-]{43}")


ALL = "*"


@dataclass(frozen=True)
class User:
    name: str
    role: str
    totp: bool = False  # enrolled in a second factor: the bare token alone is not enough
    created: str = ""
    collections: str = ALL  # the collections this person may use, joined by ","; "*" for all

    def may(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    def may_use(self, collection: str) -> bool:
        """Admins see every collection; everyone else the ones their token names."""
        return self.role == "admin" or self.collections == ALL or collection in self.collections.split(",")


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)  # 256 random bits, 43 characters


class TokenStore:
    def __init__(self, state_dir: Path, keyring: Keyring):
        self.path = Path(state_dir) / FILE_NAME
        self._lock = FileLock(str(Path(state_dir) / ".api-tokens.lock"))
        self._mac_key = keyring.derive("api-tokens")
        self._seal_key = keyring.derive("api-totp")
        self._cached: tuple[tuple, dict] = ((), {})
        self._last_totp_step: dict[str, int] = {}

    # -- the file ------------------------------------------------------------------------
    def _entries(self) -> dict[str, dict]:
        """The stored entries, re-read whenever the file changed (a `token revoke` takes effect at once)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._cached[0] != stamp:
            doc = json.loads(self.path.read_bytes())
            if doc.get("format") != FORMAT:
                raise UsageError(f"{self.path} has token format {doc.get('format')}; this version reads {FORMAT}")
            self._cached = (stamp, doc["tokens"])
        return self._cached[1]

    def _save(self, entries: dict[str, dict]) -> None:
        atomic_write(self.path, json.dumps({"format": FORMAT, "tokens": entries}, indent=1).encode(), mode=0o600)

    def _digest(self, name: str, role: str, token: str, collections: str | None = None) -> str:
        """Keyed over name, role and scope: editing the file cannot widen a token. Tokens made before
        collections (no scope on file) keep their digest and use every collection, as they did."""
        scope = "" if collections is None else f"{collections}\0"
        return hmac.new(self._mac_key, f"{name}\0{role}\0{scope}{token}".encode(), hashlib.sha256).hexdigest()

    # -- management ----------------------------------------------------------------------
    def add(self, name: str, role: str, totp: bool = False, collections: str = ALL) -> tuple[str, str | None]:
        """A new token for `name` (and a TOTP secret when enrolled), for the collections named ("hr,legal")
        or all ("*"). Only its keyed hash is kept."""
        if not _NAME.fullmatch(name or ""):
            raise UsageError(f"token name {name!r}: use 1-64 letters, digits and . _ @ - (starting with a "
                             "letter or digit)")
        if role not in ROLES:
            raise UsageError(f"role {role!r}: choose one of {', '.join(ROLES)}")
        collections = ",".join(sorted({c.strip() for c in collections.split(",") if c.strip()})) or ALL
        if collections != ALL:
            for collection in collections.split(","):
                check_collection_name(collection)
        token = _new_secret(TOKEN_PREFIX)
        totp_secret = None
        entry = {"role": role, "created": now_iso(), "collections": collections,
                 "digest": self._digest(name, role, token, collections), "totp": None}
        if totp:
            import pyotp

            totp_secret = pyotp.random_base32()
            blob = seal_blob(self._seal_key, f"api-totp/{name}", totp_secret.encode())
            entry["totp"] = base64.b64encode(blob).decode("ascii")
        with self._lock:
            entries = dict(self._entries())
            if name in entries:
                raise UsageError(f"a token named {name!r} exists; revoke it first: python -m rag.serve token "
                                 f"revoke {name}")
            entries[name] = entry
            self._save(entries)
        return token, totp_secret

    def revoke(self, name: str) -> None:
        with self._lock:
            entries = dict(self._entries())
            if name not in entries:
                raise UsageError(f"no token named {name!r}; see python -m rag.serve token list")
            del entries[name]
            self._save(entries)

    def users(self) -> list[User]:
        return [_user(n, e) for n, e in sorted(self._entries().items())]

    # -- checks --------------------------------------------------------------------------
    def authenticate(self, token: str) -> User | None:
        """The user holding `token`, or None. Every entry is compared, each in constant time."""
        if not token.startswith(TOKEN_PREFIX) or not _TOKEN.fullmatch(token):
            return None
        found = None
        for name, entry in self._entries().items():
            if hmac.compare_digest(entry["digest"], self._digest(name, entry["role"], token, entry.get("collections"))):
                found = _user(name, entry)
        return found

    def current(self, user: User) -> bool:
        """Whether `user`'s token is still the one on file (a session ends when its token is revoked)."""
        entry = self._entries().get(user.name)
        return bool(entry) and _user(user.name, entry) == user

    def check_totp(self, user: User, code: str) -> bool:
        """A valid code from this or the neighbouring 30-s step, never one already used (no replay)."""
        import pyotp

        sealed = self._entries().get(user.name, {}).get("totp")
        if not sealed or not re.fullmatch(r"\d{6}", code or ""):
            return False
        secret = unseal_blob(self._seal_key, f"api-totp/{user.name}", base64.b64decode(sealed),
                             f"the TOTP secret of {user.name}").decode()
        totp, now = pyotp.TOTP(secret), time.time()
        for drift in (0, -1, 1):
            step = int(now // totp.interval) + drift
            if hmac.compare_digest(totp.generate_otp(step), code) and step > self._last_totp_step.get(user.name, -1):
                self._last_totp_step[user.name] = step
                return True
        return False


def _user(name: str, entry: dict) -> User:
    return User(name, entry["role"], bool(entry.get("totp")), entry.get("created", ""),
                entry.get("collections", ALL))


class Sessions:
    """Web-page logins: short-lived random session tokens, in this process's memory only. Each session keeps its
    conversation's turns (rag/conversation.py) there too: dropped at logout, out of reach once the session expires or
    its token is revoked or replaced (no request gets past `user`), freed with the expired sessions at the next login.
    Only `open` and `close`, on the event loop, change this state."""

    def __init__(self, tokens: TokenStore, seconds: float = SESSION_SECONDS):
        self.tokens, self.seconds = tokens, seconds
        self._open: dict[str, tuple[User, float]] = {}  # sha256(session token) -> (user, expiry)
        self._turns: dict[str, list] = {}  # sha256(session token) -> its conversation's turns

    @staticmethod
    def _key(session: str) -> str:
        return hashlib.sha256(session.encode()).hexdigest()

    def open(self, user: User) -> str:
        now = time.monotonic()
        self._open = {k: v for k, v in self._open.items() if v[1] > now}
        while len(self._open) >= MAX_SESSIONS:
            self._open.pop(next(iter(self._open)))
        self._turns = {k: v for k, v in self._turns.items() if k in self._open}
        session = _new_secret(SESSION_PREFIX)
        self._open[self._key(session)] = (user, now + self.seconds)
        return session

    def user(self, session: str) -> User | None:
        if not _TOKEN.fullmatch(session):
            return None
        found = self._open.get(self._key(session))
        if not found or found[1] < time.monotonic() or not self.tokens.current(found[0]):
            return None
        return found[0]

    def turns(self, session: str) -> list:
        """The conversation of a session `user` accepted: its turns, in memory only."""
        return self._turns.setdefault(self._key(session), [])

    def close(self, session: str) -> None:
        self._open.pop(self._key(session), None)
        self._turns.pop(self._key(session), None)


def open_token_store(settings) -> TokenStore:
    """The token store of the store named by `settings`; opening it needs the store's key."""
    from rag.store.chroma import state_dir_for
    from rag.store.keyring import open_keyring

    state_dir = state_dir_for(settings)
    return TokenStore(state_dir, open_keyring(settings, state_dir, create=False))


def provisioning_uri(name: str, secret: str) -> str:
    import pyotp

    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="private-rag")
