"""`optout licence`: make the label's signing key, issue licence tokens and check them.

    optout licence keygen --out FILE        write a private key; print its public key line
    optout licence issue --key FILE ...     print a signed token for one licensee
    optout licence check TOKEN ...          print how a token verifies, as JSON
    optout licence hash TOKEN               print the SHA-256 a listed token is kept as
    optout licence rotate                   a new signing key for the licence server (OLP)
    optout licences summary                 who holds which licence, paid and fetched

`issue` makes the deprecated `olt1.` tokens; the licence server (addons/olp.py)
issues JWTs to the clients of `rules/licensees.yaml` instead.

Standard output carries only data (the public key line, the token, the JSON result),
so each can be captured by a script; messages go to standard error. Exit codes: 0
done (check: the token is valid), 1 a key file that cannot be used (check: the token
is refused), 2 a usage error, as argparse does.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.cli.serveflags import add_setting_flag, setting_value
from proxy.evidence.chain import worker_sets
from proxy.evidence.logfiles import LogReadError, iter_records, log_files
from proxy.licensing import keyfiles, ledger
from proxy.licensing import tokens as licence
from proxy.patterns import compile_paths
from proxy.store import keys

USAGE, KEY = 2, 1
_STDIN = "-"


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `licence` and its subcommands to the `optout` command's subparsers."""
    parser = commands.add_parser(
        "licence", aliases=["licences"], help="licence keys and tokens; the licence ledger"
    )
    sub = parser.add_subparsers(required=True, metavar="SUBCOMMAND")

    keygen = sub.add_parser("keygen", help="write a new signing key; print its public key line")
    keygen.add_argument(
        "--out", required=True, type=Path, metavar="FILE", help="file for the private key (0600)"
    )
    keygen.set_defaults(handler=_keygen)

    issue = sub.add_parser(
        "issue",
        help="print a signed licence token (olt1, deprecated: prefer the licence server)",
    )
    issue.add_argument(
        "--key", required=True, type=Path, metavar="FILE", help="the private key file (keygen)"
    )
    issue.add_argument(
        "--licensee", required=True, metavar="NAME", help="who the licence is for, as logged"
    )
    issue.add_argument(
        "--agent",
        required=True,
        action="append",
        metavar="NAME",
        help="agent name it covers; repeat; '*' = any",
    )
    issue.add_argument(
        "--paths",
        required=True,
        nargs="+",
        type=_path,
        metavar="PATTERN",
        help="robots.txt-style path patterns",
    )
    issue.add_argument(
        "--expires",
        required=True,
        metavar="WHEN",
        type=_expiry,
        help="YYYY-MM-DD (valid through that day, UTC) or an ISO 8601 time (UTC if no offset)",
    )
    issue.set_defaults(handler=_issue)

    check = sub.add_parser("check", help="verify a token for one request; print JSON")
    check.add_argument("token", metavar="TOKEN", help="the token, or '-' to read it from stdin")
    check.add_argument(
        "--public-key",
        required=True,
        metavar="KEY",
        action="append",
        type=_public_key,
        help="a public key line (ed25519:...); repeat for several",
    )
    check.add_argument(
        "--agent", metavar="NAME", help="the requesting agent's name (omit for none)"
    )
    check.add_argument("--path", required=True, metavar="PATH", help="the request path")
    check.set_defaults(handler=_check)

    hash_ = sub.add_parser("hash", help="print the SHA-256 to list an opaque token under")
    hash_.add_argument("token", metavar="TOKEN", help="the token, or '-' to read it from stdin")
    hash_.set_defaults(handler=_hash)

    rotate = sub.add_parser("rotate", help="a new signing key for the licence server's JWTs")
    add_setting_flag(rotate, "state")
    rotate.set_defaults(handler=_rotate)

    summary = sub.add_parser("summary", help="licensees, their grants, payments and fetches")
    summary.add_argument("ledger", nargs="?", help="default: STATE/licences/ledger.jsonl")
    add_setting_flag(summary, "state")
    add_setting_flag(summary, "log")
    summary.add_argument("--json", action="store_true", help="one JSON document")
    summary.set_defaults(handler=_summary)


def _path(text: str) -> str:
    try:
        compile_paths([text])
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e
    return text


def _expiry(text: str) -> datetime:
    """A date means the end of that day in UTC; a time without an offset is UTC."""
    try:
        if len(text) == 10:
            day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1)
        moment = datetime.fromisoformat(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not YYYY-MM-DD or an ISO 8601 time like 2027-01-31T12:00:00Z"
        ) from e
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _public_key(text: str) -> Ed25519PublicKey:
    try:
        return licence.parse_public_key(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from e


def _keygen(args: argparse.Namespace) -> int:
    key = licence.generate_key()
    try:
        keys.save_private_key(key, args.out)
    except FileExistsError:
        return _error(f"{args.out} exists; refusing to overwrite a key", KEY)
    except OSError as e:
        return _error(f"cannot write {args.out}: {e.strerror or e}", KEY)
    print(licence.public_key_text(key))
    print(
        f"optout: private key written to {args.out}; list the line above in the rules",
        file=sys.stderr,
    )
    return 0


def _issue(args: argparse.Namespace) -> int:
    if args.expires <= datetime.now(UTC):
        return _error(f"--expires {args.expires.isoformat()} is in the past", USAGE)
    try:
        key = keys.load_private_key(args.key)
    except OSError as e:
        return _error(f"cannot read {args.key}: {e.strerror or e}", KEY)
    except ValueError as e:
        return _error(str(e), KEY)
    try:
        token = licence.issue(
            key, licensee=args.licensee, agents=args.agent, paths=args.paths, expires=args.expires
        )
    except ValueError as e:
        return _error(str(e), USAGE)
    print(token)
    return 0


def _rotate(args: argparse.Namespace) -> int:
    directory = keyfiles.keys_dir(Path(setting_value(args, "state")))
    kid = keyfiles.rotate(directory)
    print(kid)
    print(
        f"optout licence: new signing key {kid} in {directory}; the previous one still "
        "verifies until the next rotation",
        file=sys.stderr,
    )
    return 0


def _summary(args: argparse.Namespace) -> int:
    state = Path(setting_value(args, "state"))
    path = Path(args.ledger) if args.ledger else ledger.ledger_path(state)
    ledgers = [f for p in ([path] if args.ledger else worker_sets(path)) for f in log_files(p)]
    if not ledgers:  # --workers: one ledger per worker
        return _error(f"no licence ledger at {path}", USAGE)
    access = str(setting_value(args, "log"))
    logs = worker_sets(Path(access)) if access != "-" else []
    try:
        records = list(iter_records(ledgers))
        served = list(iter_records([f for p in logs for f in log_files(p)]))
    except (LogReadError, OSError) as e:
        return _error(str(e), USAGE)
    holders = ledger.summary(records, served)
    if args.json:
        print(json.dumps([ledger.as_json(h) for h in holders]))
        return 0
    for h in holders:
        state_ = "revoked" if h.revoked else "active"
        print(
            f"{h.client_id} ({h.licensee}), {state_}, since {h.since or '-'}: "
            f"{h.grants} grant(s), {h.refusals} refusal(s), {h.requests} request(s)"
        )
        print(f"  usage {' '.join(sorted(h.usage)) or '-'} on {' '.join(sorted(h.paths)) or '-'}")
        for (month, currency), amount in sorted(h.paid.items()):
            print(f"  paid {month}: {currency} {amount}")
        for fetched, count in h.fetched.items():
            print(f"  fetched {fetched} x{count}")
    return 0


def _check(args: argparse.Namespace) -> int:
    token = sys.stdin.readline().strip() if args.token == _STDIN else args.token
    result = licence.verify_token(
        token, args.public_key, agent=args.agent, path=args.path, now=time.time()
    )
    answer = {
        "ok": result.ok,
        "licensee": result.licensee,
        "token_id": result.token_id,
        "error": result.error,
        "description": result.description,
    }
    print(json.dumps(answer))
    return 0 if result.ok else 1


def _hash(args: argparse.Namespace) -> int:
    token = _token(args.token)
    if not token:
        return _error("the token is empty", USAGE)
    print(licence.hash_token(token))
    return 0


def _token(text: str) -> str:
    return sys.stdin.readline().strip() if text == _STDIN else text


def _error(message: str, code: int) -> int:
    print(f"optout licence: {message}", file=sys.stderr)
    return code
