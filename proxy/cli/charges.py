"""`optout charges summary`: what the ledger says crawlers owe, per crawler and month."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from proxy.cli.serveflags import add_setting_flag, setting_value
from proxy.evidence.chain import worker_sets
from proxy.evidence.ledger import ledger_dir, totals
from proxy.evidence.logfiles import LogReadError, iter_records, log_files


def add_parsers(commands: Any) -> None:
    charges = commands.add_parser("charges", help="the charges ledger")
    sub = charges.add_subparsers(required=True, metavar="COMMAND")
    summary = sub.add_parser("summary", help="totals per crawler and month")
    summary.add_argument(
        "ledger",
        nargs="?",
        help="ledger file (default: STATE/ledger/ledger.jsonl, and the workers' "
        "ledger-<i>.jsonl beside it)",
    )
    add_setting_flag(summary, "state")
    summary.add_argument("--json", action="store_true", help="one JSON document")
    summary.set_defaults(handler=_summary)


def _summary(args: argparse.Namespace) -> int:
    state = setting_value(args, "state")
    path = Path(args.ledger) if args.ledger else ledger_dir(state) / "ledger.jsonl"
    found = [path] if args.ledger else worker_sets(path)  # --workers: one ledger per worker
    files = [f for p in found for f in log_files(p)]
    if not files:
        print(f"optout: no ledger at {path}", file=sys.stderr)
        return 2
    try:
        rows = totals(iter_records(files))
    except (LogReadError, OSError) as e:
        print(f"optout: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "agent": r.agent,
                        "month": r.month,
                        "currency": r.currency,
                        "requests": r.requests,
                        "amount": str(r.amount),
                    }
                    for r in rows
                ]
            )
        )
        return 0
    print(f"{'agent':<24} {'month':<8} {'requests':>9} {'amount':>14}")
    for r in rows:
        print(f"{r.agent:<24} {r.month:<8} {r.requests:>9} {r.currency} {r.amount:>10}")
    return 0
