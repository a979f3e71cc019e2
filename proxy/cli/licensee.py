"""`optout licensee`: register, list and revoke the clients of the licence server.

    optout licensee add CLIENT_ID --organisation ORG --agent NAME --usage ai-train ...
    optout licensee list
    optout licensee revoke CLIENT_ID [--jti TOKEN_ID]

They edit `RULES/licensees.yaml` in place (comments kept), and refuse to write a
file that would not load, printing every problem with FILE:LINE. `add` prints
the new client secret once on standard output; the file keeps only its scrypt
hash. A running proxy applies a change on its next request. Exit codes: 0 done,
1 invalid file or unknown client, 2 a usage error.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from proxy.cli.serveflags import add_setting_flag, setting_value
from proxy.config.licensees import LICENSEES_FILE, load_licensees, parse_term
from proxy.errors import RuleError
from proxy.licensing.clients import hash_secret, new_secret
from proxy.prices import parse_price


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("licensee", help="clients of the licence server")
    sub = parser.add_subparsers(required=True, metavar="SUBCOMMAND")

    add = sub.add_parser("add", help="register a client; print its secret once")
    add.add_argument("client_id", metavar="CLIENT_ID")
    add.add_argument("--organisation", required=True, help="who the licensee is, as logged")
    add.add_argument("--contact", default="", help="mailto: or https: URL")
    add.add_argument("--agent", required=True, action="append", help="agent it crawls as; repeat")
    add.add_argument("--usage", required=True, nargs="+", help="RSL usage tokens, e.g. ai-train")
    add.add_argument("--paths", nargs="+", default=["/"], help="robots.txt-style path patterns")
    add.add_argument("--price", type=_price, help="price per grant, e.g. 'USD 250.00'")
    add.add_argument("--term", default="30d", type=_term, help="how long a token lasts: 30d, 12h")
    add.add_argument("--expires", help="the agreement's last day, YYYY-MM-DD")
    add.set_defaults(handler=_add)

    listing = sub.add_parser("list", help="print the registered clients (never their secrets)")
    listing.set_defaults(handler=_list)

    revoke = sub.add_parser("revoke", help="revoke a client, or one token of it with --jti")
    revoke.add_argument("client_id", metavar="CLIENT_ID")
    revoke.add_argument("--jti", help="the token id to revoke (its licence ledger entry has it)")
    revoke.set_defaults(handler=_revoke)
    for each in (add, listing, revoke):
        add_setting_flag(each, "rules")


def _price(text: str) -> str:
    try:
        parse_price(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def _term(text: str) -> str:
    try:
        parse_term(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def _path(args: argparse.Namespace) -> Path:
    return Path(setting_value(args, "rules")) / LICENSEES_FILE


def _read(path: Path) -> tuple[YAML, Any]:
    yaml = YAML(typ="rt")
    data = yaml.load(path.read_text(encoding="utf-8")) if path.is_file() else None
    if data is None:
        data = yaml.load("licensees: []\n")
    return yaml, data


def _write(path: Path, yaml: YAML, data: Any) -> int:
    """Write `data` only if it loads: a bad file never replaces a good one."""
    out = io.StringIO()
    yaml.dump(data, out)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".licensees-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(out.getvalue())
    try:
        load_licensees(Path(temp))
    except RuleError as e:
        os.unlink(temp)
        print(f"optout licensee: not written, {path} would be invalid:\n{e}", file=sys.stderr)
        return 1
    os.replace(temp, path)
    return 0


def _add(args: argparse.Namespace) -> int:
    path = _path(args)
    yaml, data = _read(path)
    entries = data.setdefault("licensees", [])
    if any(e.get("client_id") == args.client_id for e in entries):
        return _error(f"{args.client_id!r} is already registered", 1)
    secret = new_secret()
    offer: dict[str, Any] = {"usage": args.usage, "paths": args.paths, "term": args.term}
    if args.price:
        offer["price"] = args.price
    entry: dict[str, Any] = {
        "client_id": args.client_id,
        "secret_hash": hash_secret(secret),
        "organisation": args.organisation,
        "contact": args.contact,
        "agents": args.agent,
        "licences": [offer],
    }
    if args.expires:
        entry["expires"] = args.expires
    entries.append(yaml.load(_dump(yaml, entry)))
    code = _write(path, yaml, data)
    if code == 0:
        print(secret)
        print(
            f"optout licensee: {args.client_id} added to {path}; its secret is above, "
            "shown only this once",
            file=sys.stderr,
        )
    return code


def _dump(yaml: YAML, value: Any) -> str:
    out = io.StringIO()
    yaml.dump(value, out)
    return out.getvalue()


def _list(args: argparse.Namespace) -> int:
    registry = load_licensees(_path(args))
    for licensee in registry.licensees.values():
        status = "revoked" if licensee.revoked else "active"
        offers = "; ".join(
            f"{' '.join(o.usage)} on {' '.join(o.paths)}"
            + (f" at {o.price.currency} {o.price.amount}" if o.price else "")
            for o in licensee.offers
        )
        print(f"{licensee.client_id}\t{licensee.organisation}\t{status}\t{offers}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    path = _path(args)
    yaml, data = _read(path)
    entry = next(
        (e for e in data.get("licensees") or [] if e.get("client_id") == args.client_id), None
    )
    if entry is None:
        return _error(f"no licensee {args.client_id!r} in {path}", 1)
    if args.jti:
        tokens = entry.setdefault("revoked_tokens", [])
        if args.jti not in tokens:
            tokens.append(args.jti)
    else:
        entry["revoked"] = True
    return _write(path, yaml, data)


def _error(message: str, code: int) -> int:
    print(f"optout licensee: {message}", file=sys.stderr)
    return code
