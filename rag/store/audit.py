"""The audit log: an append-only, HMAC-chained record of who did what to the store.

Each line is a JSON entry whose `mac` covers the entry and the previous entry's mac, keyed by a
key derived from the store's index key; `audit.head` holds the mac of the last entry, so a cut
tail is noticed too. Questions and answers are sealed inside the entry (`sealed`), never written
in clear. A failed key attempt cannot be keyed (no key was given), so it goes to `audit.pending`
and is folded into the chain, marked late, the next time the right key opens the store.
"""
from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from filelock import FileLock

from rag.fsutil import now_iso
from rag.store.records import seal_blob, unseal_blob


class KeySource(Protocol):
    """A keyring, as far as the audit log needs one (the store's keyring does not import this module)."""

    def derive(self, purpose: str) -> bytes: ...


LOG_NAME = "audit.log"
HEAD_NAME = "audit.head"
PENDING_NAME = "audit.pending"
_GENESIS = "0" * 64


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (some containers)
        return str(os.getuid())


def _canonical(entry: dict) -> bytes:
    return json.dumps({k: v for k, v in entry.items() if k != "mac"}, sort_keys=True, separators=(",", ":")).encode()


@dataclass
class Problem:
    line: int
    reason: str


class AuditLog:
    def __init__(self, state_dir: Path, keyring: KeySource):
        self.state_dir = Path(state_dir)
        self.mac_key = keyring.derive("audit-chain")
        self.seal_key = keyring.derive("audit-seal")
        self.path = self.state_dir / LOG_NAME

    def _mac(self, previous: str, entry: dict) -> str:
        return hmac.new(self.mac_key, previous.encode() + _canonical(entry), hashlib.sha256).hexdigest()

    def _head(self) -> tuple[int, str]:
        head = self.state_dir / HEAD_NAME
        if not head.exists():
            return 0, _GENESIS
        seq, mac = head.read_text().split()
        return int(seq), mac

    def append(self, action: str, outcome: str = "ok", counts: dict | None = None,
               secret: dict | None = None, late: dict | None = None, user: str | None = None,
               collection: str | None = None) -> None:
        """`user` names who asked when it is not this process's account (an API token's name); `collection`
        the collection(s) the action read or wrote (a name, or names joined by ",")."""
        with self.lock():
            self._fold_pending()
            self._append_locked(action, outcome, counts, secret, late, user, collection)

    def _append_locked(self, action, outcome, counts, secret, late, user=None, collection=None) -> None:
        seq, previous = self._head()
        entry = {"seq": seq + 1, "time": now_iso(), "user": user or _user(), "action": action, "outcome": outcome,
                 "counts": counts or {}}
        if collection:
            entry["collection"] = collection
        if late:
            entry["late"] = late
        if secret is not None:
            blob = seal_blob(self.seal_key, f"audit/{seq + 1}", json.dumps(secret, ensure_ascii=False).encode())
            entry["sealed"] = base64.b64encode(blob).decode("ascii")
        entry["mac"] = self._mac(previous, entry)
        with open(self.path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, separators=(",", ":")) + "\n")
            log.flush()
            os.fsync(log.fileno())
        head = self.state_dir / HEAD_NAME
        tmp = head.with_suffix(".tmp")
        tmp.write_text(f"{entry['seq']} {entry['mac']}\n")
        os.replace(tmp, head)

    def lock(self) -> FileLock:
        """Held by every append; hold it to read the log and its head as one consistent state."""
        return FileLock(str(self.state_dir / ".audit.lock"))

    def fold_pending(self) -> None:
        """Chain the failed key attempts recorded while no key was at hand."""
        with self.lock():
            self._fold_pending()

    def _fold_pending(self) -> None:
        pending = self.state_dir / PENDING_NAME
        if not pending.exists():
            return
        for line in pending.read_text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self._append_locked(event.get("action", "unknown"), event.get("outcome", "failed"), {}, None,
                                {"time": event.get("time"), "user": event.get("user")})
        pending.unlink()

    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def verify(self) -> list[Problem]:
        """Every edited, deleted, inserted or reordered entry, and a cut tail, as a problem."""
        problems, previous, expected = [], _GENESIS, 1
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        for number, line in enumerate(lines, start=1):
            try:
                entry = json.loads(line)
            except ValueError:
                problems.append(Problem(number, "not a JSON entry (edited or corrupted)"))
                return problems
            if entry.get("seq") != expected:
                problems.append(Problem(number, f"entry {entry.get('seq')} where {expected} belongs "
                                                "(entries deleted, inserted or reordered)"))
                return problems
            if not hmac.compare_digest(str(entry.get("mac")), self._mac(previous, entry)):
                problems.append(Problem(number, f"entry {expected} does not match its chain mac (edited, or the "
                                                "entries before it changed)"))
                return problems
            previous, expected = entry["mac"], expected + 1
        seq, head_mac = self._head()
        if seq != expected - 1 or head_mac != previous:
            problems.append(Problem(len(lines), f"the log ends at entry {expected - 1} but its head records entry "
                                                f"{seq}: the tail was cut or the log replaced"))
        return problems

    def reveal(self, entry: dict) -> dict | None:
        if "sealed" not in entry:
            return None
        blob = base64.b64decode(entry["sealed"])
        return json.loads(unseal_blob(self.seal_key, f"audit/{entry['seq']}", blob, f"audit entry {entry['seq']}"))


def record_unkeyed(state_dir: Path, action: str, outcome: str) -> None:
    """A failed key attempt: no key to chain with, so it waits in the pending file."""
    state_dir = Path(state_dir)
    if not state_dir.is_dir():
        return
    event = {"time": now_iso(), "user": _user(), "action": action, "outcome": outcome}
    with open(state_dir / PENDING_NAME, "a", encoding="utf-8") as pending:
        pending.write(json.dumps(event) + "\n")
