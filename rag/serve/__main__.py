"""`python -m rag.serve [--host 127.0.0.1] [--port 8443] [--cert FILE --key FILE]`, `init-tls`, `token`."""
from __future__ import annotations

import argparse
from pathlib import Path

import rag.offline  # noqa: F401
from rag.cli import run_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from rag.serve.tokens import ROLES
    from rag.settings import add_common_flags

    parser = argparse.ArgumentParser(
        prog="python -m rag.serve",
        description="Serve the store over HTTPS: a JSON API (/ask, /search, /documents, /ingest, /health) and a "
                    "web page at /. Every request needs 'Authorization: Bearer TOKEN' (see the token command) "
                    "and is written to the audit log.",
        epilog="commands: 'init-tls --out DIR' writes a self-signed cert.pem/key.pem; "
               "'token add NAME --role reader|ingester|admin', 'token list', 'token revoke NAME'")
    add_common_flags(parser)
    parser.add_argument("--llm", help="'default' (packaged Gemma 3 270M) or a local model directory (env RAG_LLM)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; any "
                        "other than loopback needs --allow-remote and TLS)")
    parser.add_argument("--port", type=int, default=8443, help="TCP port (default 8443; 0 picks a free one)")
    parser.add_argument("--cert", type=Path, help="TLS certificate (PEM) for HTTPS")
    parser.add_argument("--key", type=Path, help="TLS private key (PEM) for HTTPS; not the store's --key-file")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (e.g. 0.0.0.0 in a container); requires --cert/--key")
    parser.add_argument("--rate-limit", type=int, default=120, metavar="PER_MINUTE",
                        help="requests per minute per client address (0: no limit)")
    parser.add_argument("--rate-burst", type=int, default=30, metavar="REQUESTS",
                        help="requests a client address may make at once before the per-minute rate applies")
    parser.add_argument("--max-upload-mb", type=float, default=25.0, help="largest upload to /ingest (default 25)")
    commands = parser.add_subparsers(dest="command", metavar="{init-tls,token}")
    tls = commands.add_parser("init-tls", help="write a self-signed cert.pem and key.pem (0600)")
    tls.add_argument("--out", type=Path, required=True, help="folder for cert.pem and key.pem")
    tls.add_argument("--name", action="append", default=[], help="another host name or IP address the "
                     "certificate is for (repeatable; localhost, 127.0.0.1 and ::1 are always included)")
    tls.add_argument("--days", type=int, default=365, help="validity (default 365)")
    token = commands.add_parser("token", help="add, list or revoke API tokens (needs the store's key)")
    actions = token.add_subparsers(dest="token_command", required=True)
    add = actions.add_parser("add", help="a new token; printed once, alone on the last line")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--totp", action="store_true", help="enrol a TOTP second factor for the web page")
    add.add_argument("--collections", default="*", metavar="NAME,NAME|*",
                     help="the collections this token may use (default '*': all; admins always see all)")
    revoke = actions.add_parser("revoke", help="the token stops working at once")
    revoke.add_argument("name")
    listing = actions.add_parser("list", help="names, roles, collections, second factor, creation time")
    for sub in (add, revoke, listing):
        add_common_flags(sub)
    args = parser.parse_args(argv)
    if args.rate_limit < 0 or args.rate_burst < 1 or args.max_upload_mb <= 0:
        parser.error("--rate-limit must be 0 or more, --rate-burst 1 or more and --max-upload-mb more than 0")
    return args


def run_init_tls(args: argparse.Namespace) -> int:
    from rag.serve.tls import write_self_signed

    cert, key = write_self_signed(args.out, args.name, args.days)
    print(f"wrote {cert} and {key} (0600); serve with: python -m rag.serve --cert {cert} --key {key}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    from rag.serve.tokens import open_token_store, provisioning_uri
    from rag.settings import settings_from_args

    tokens = open_token_store(settings_from_args(args))
    if args.token_command == "list":
        for user in tokens.users():
            print(f"{user.name:24} {user.role:9} {user.collections:24} {'totp' if user.totp else '-':5} {user.created}")
        return 0
    if args.token_command == "revoke":
        tokens.revoke(args.name)
        print(f"revoked {args.name}")
        return 0
    token, secret = tokens.add(args.name, args.role, args.totp, args.collections)
    print(f"token for {args.name} ({args.role}, collections {args.collections}); it is shown only this once:")
    if secret:
        print(f"TOTP secret (add it to an authenticator app): {secret}")
        print(provisioning_uri(args.name, secret))
    print(token)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "init-tls":
        return run_init_tls(args)
    if args.command == "token":
        return run_token(args)
    from rag.serve.app import Limits
    from rag.serve.server import ServeOptions, run_serve
    from rag.settings import settings_from_args

    limits = Limits(rate_per_minute=args.rate_limit, burst=args.rate_burst,
                    max_upload_bytes=int(args.max_upload_mb * 2**20))
    options = ServeOptions(args.host, args.port, args.cert, args.key, args.allow_remote, limits)
    return run_serve(settings_from_args(args), options)


if __name__ == "__main__":
    run_main(main)
