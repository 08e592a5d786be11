"""`python -m rag.audit show | verify`: the store's audit log (see rag/store/audit.py) for its key holder."""
from __future__ import annotations

import json

from rag.store.audit import AuditLog


def open_log(settings) -> AuditLog:
    from rag.store.chroma import state_dir_for
    from rag.store.keyring import open_keyring

    state_dir = state_dir_for(settings)
    log = AuditLog(state_dir, open_keyring(settings, state_dir, create=False))
    log.fold_pending()
    return log


def main(argv: list[str] | None = None) -> int:
    import argparse

    from rag.settings import add_common_flags, settings_from_args

    parser = argparse.ArgumentParser(prog="python -m rag.audit", description="Show or verify the store's audit log.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("show", "print the entries, decrypting questions and answers (needs the key)"),
                           ("verify", "check the hash chain; exit 1 naming the first bad entry")):
        add_common_flags(sub.add_parser(name, help=helptext))
    args = parser.parse_args(argv)
    log = open_log(settings_from_args(args))
    if args.command == "verify":
        problems = log.verify()
        for problem in problems:
            print(f"audit log line {problem.line}: {problem.reason}")
        if not problems:
            print(f"audit log intact: {len(log.entries())} entries")
        return 1 if problems else 0
    # --collection shows the entries about those collections only (an entry may name several: "hr,legal").
    wanted = set(args.collection.split(",")) if args.collection else None
    for entry in log.entries():
        if wanted is not None and not wanted & set(entry.get("collection", "").split(",")):
            continue
        details = log.reveal(entry)
        line = f"{entry['seq']:5} {entry['time']} {entry['user']:10} {entry['action']:12} {entry['outcome']:8} "
        line += " ".join(f"{k}={v}" for k, v in entry["counts"].items())
        if entry.get("collection"):
            line += f" collection={entry['collection']}"
        if entry.get("late"):
            line += f" (happened {entry['late'].get('time')}, recorded late)"
        print(line)
        if details:
            print("      " + json.dumps(details, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    from rag.cli import run_main

    run_main(main)
