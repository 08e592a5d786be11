"""`python -m rag.collections list | create NAME | delete NAME | export NAME | import NAME FILE`."""
from __future__ import annotations

import argparse
from pathlib import Path

import rag.offline  # noqa: F401
from rag.cli import run_main


def main(argv: list[str] | None = None) -> int:
    from rag.settings import add_common_flags, settings_from_args
    from rag.store import collections

    parser = argparse.ArgumentParser(prog="python -m rag.collections",
                                     description="The store's collections: each has its own keys, records and index.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("list", "collections with their document and chunk counts"),
                           ("create", "make an empty collection (ingesting into a new name makes one too)"),
                           ("delete", "drop a collection's records and destroy its keys (not undoable)"),
                           ("export", "write a collection's keys alone, sealed under a key file of their own"),
                           ("import", "add exported collection keys to this store")):
        command = sub.add_parser(name, help=helptext)
        add_common_flags(command)
        if name != "list":
            command.add_argument("name", metavar="NAME")
        if name in ("export", "import"):
            command.add_argument("--export-key-file", type=Path, required=True,
                                 help="the key file that seals the export (made 0600 if absent on export)")
    sub.choices["export"].add_argument("--out", type=Path, required=True, help="the export file to write")
    sub.choices["import"].add_argument("file", type=Path, metavar="FILE", help="an export file")
    args = parser.parse_args(argv)
    settings = settings_from_args(args)
    if args.command == "list":
        for info in collections.list_collections(settings):
            print(f"{info.name}\t{info.documents} documents\t{info.chunks} chunks")
    elif args.command == "create":
        collections.create_collection(settings, args.name)
        print(f"created collection '{args.name}'")
    elif args.command == "delete":
        collections.delete_collection(settings, args.name)
        print(f"deleted collection '{args.name}': its records are dropped and its keys destroyed")
    elif args.command == "export":
        collections.export_keys(settings, args.name, args.out, args.export_key_file)
        print(f"exported the keys of '{args.name}' to {args.out} (sealed under {args.export_key_file})")
    else:
        collections.import_keys(settings, args.name, args.file, args.export_key_file)
        print(f"imported keys as collection '{args.name}'")
    return 0


if __name__ == "__main__":
    run_main(main)
