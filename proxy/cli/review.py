"""The review commands: `optout logs summary|violations|search|report` and `optout evidence`.

    optout logs summary [FILES] [--since T] [--until T] [--by agent|operator|purpose] [--json]
    optout logs violations [FILES] [--state DIR] [--rules DIR] [--agent A] [--all-purposes]
    optout logs search [FILES] [--agent ...] [--path P] [--json] [--limit N]
    optout logs report --out report.html [FILES]
    optout evidence --agent NAME|--operator NAME|--ip NET|--flagged --out bundle.zip [FILES]
    optout evidence verify bundle.zip [--key-file F]
    optout evidence notice bundle.zip --out notice.html [--pdf notice.pdf] [--rules DIR]

FILES default to the log the proxy writes, --log / OPTOUT_LOG; a current log file
stands for all its rotated (and gzipped) files, for every command alike, and each
says on standard error which files it read. Data goes to standard output,
messages and progress to standard error. Exit status 2 means the command could
not run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path

from proxy.cli.serveflags import add_setting_flag, setting_value
from proxy.config.catalogue import load_catalogue
from proxy.errors import OptoutError, Problem, RuleError, SettingsError
from proxy.review.files import ReviewError, chains, describe, parse_time, resolve
from proxy.review.progress import bar, set_quiet, spinner
from proxy.ruleset import load_rules

Handler = Callable[[argparse.Namespace], int]


def add_review_parsers(logs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`summary`, `violations`, `search` and `report` under `optout logs`."""
    p = logs.add_parser("summary", help="requests, blocks and identities per agent")
    _common(p)
    p.add_argument("--by", choices=GROUPS, default="agent", help="group rows by")
    p.set_defaults(handler=_guard(_summary))

    p = logs.add_parser("violations", help="robots.txt and TDM reservation violations")
    _common(p)
    _state_rules(p)
    p.add_argument("--agent", help="only this agent's violations")
    p.add_argument(
        "--all-purposes",
        action="store_true",
        help="report TDM reservation violations of every agent, not only AI agents",
    )
    p.set_defaults(handler=_guard(_violations))

    p = logs.add_parser("search", help="records matching filters, as a table or JSON lines")
    _common(p)
    for name, what in (("agent", "agent name"), ("purpose", "purpose"), ("identity", "identity")):
        p.add_argument(f"--{name}", help=f"{what} ('-' for records with none)")
    p.add_argument("--action", help="allow, block, error, ...")
    p.add_argument("--ip", help="client address or network (203.0.113.0/24)")
    p.add_argument("--path", help="path prefix, or a glob with * ? [")
    p.add_argument("--ref", help="the reference a block page quoted, or a sequence number")
    p.add_argument("--limit", type=int, help="at most N records")
    p.set_defaults(handler=_guard(_search))

    p = logs.add_parser("report", help="one self-contained HTML page with charts")
    _common(p, json_flag=False)
    _state_rules(p)
    p.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    add_setting_flag(p, "log_hmac_key_file", flag="--key-file", meaning="HMAC key of the log")
    p.set_defaults(handler=_guard(_report))


def add_evidence_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The top-level `optout evidence` (build a bundle) and `optout evidence verify BUNDLE`."""
    p = commands.add_parser(
        "evidence",
        help="a zip of one agent's records with the chain proof; 'evidence verify' checks one",
        usage="optout evidence --agent NAME|--operator NAME|--ip NET|--flagged "
        "--out bundle.zip [FILES] [options]\n"
        "       optout evidence verify bundle.zip [--key-file F]\n"
        "       optout evidence notice bundle.zip --out notice.html [--pdf notice.pdf]",
    )
    p.add_argument("files", nargs="*", metavar="FILES", help="log files, or: verify BUNDLE")
    p.add_argument("--agent", help="the agent's name as logged (optout.agent)")
    p.add_argument("--operator", help="every agent of this operator (optout.operator)")
    p.add_argument("--ip", help="requests from this address or network (203.0.113.0/24)")
    p.add_argument("--flagged", action="store_true", help="requests flagged as suspicious")
    p.add_argument("--since", help="from this time (ISO 8601, UTC unless an offset is given)")
    p.add_argument("--until", help="before this time (a bare date: through that day)")
    p.add_argument("--out", type=Path, help="the zip file to write")
    add_setting_flag(p, "log", meaning="the log file, when FILES are not given")
    add_setting_flag(p, "state")
    add_setting_flag(p, "log_hmac_key_file", flag="--key-file", meaning="HMAC key of the log")
    add_setting_flag(p, "tsa_certs")
    add_setting_flag(p, "rules", meaning="rules directory: the notice's label, address, contact")
    p.add_argument("--pdf", type=Path, help="notice: also print it to this PDF (Chromium)")
    add_quiet_flag(p)
    p.set_defaults(handler=_guard(_evidence))


def add_quiet_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on the terminal (stderr)"
    )


def _common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("files", nargs="*", metavar="FILES", help="log files (default: --log)")
    add_quiet_flag(p)
    add_setting_flag(p, "log", meaning="the log file, when FILES are not given")
    p.add_argument("--since", help="from this time (ISO 8601, UTC unless an offset is given)")
    p.add_argument("--until", help="before this time (a bare date: through that day)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="JSON instead of a table")


GROUPS = ("agent", "operator", "purpose")  # as proxy.review.summary.GROUPS


def _state_rules(p: argparse.ArgumentParser) -> None:
    add_setting_flag(p, "state")
    add_setting_flag(p, "rules")


def _guard(handler: Handler) -> Handler:
    """Turn the errors a review can meet into one line on stderr and exit status 2."""

    @wraps(handler)
    def run(args: argparse.Namespace) -> int:
        import duckdb  # here, not at import: `optout run` must not load an analytics engine

        set_quiet(args.quiet)
        try:
            return handler(args)
        except (ReviewError, OptoutError, SettingsError, duckdb.Error) as e:
            print(f"optout: {e}", file=sys.stderr)
        except OSError as e:
            print(f"optout: {e.filename or ''}: {e.strerror or e}", file=sys.stderr)
        return 2

    return run


def _files(args: argparse.Namespace) -> list[Path]:
    """FILES, else the proxy's log (--log / OPTOUT_LOG); says on stderr which were read."""
    from proxy.review.vocabulary import unreadable_note

    files = resolve(args.files, args.log)
    print(f"optout: {describe(files)}", file=sys.stderr)
    note = unreadable_note(files)
    if note:
        print(f"optout: warning: {note}", file=sys.stderr)
    return files


def _window(args: argparse.Namespace) -> tuple[str | None, str | None]:
    return parse_time(args.since), parse_time(args.until, end=True)


def _state(args: argparse.Namespace) -> Path:
    return Path(setting_value(args, "state"))


def _tokens(args: argparse.Namespace) -> Callable[[str], Sequence[str]]:
    """An agent's robots tokens from the catalogue; its name when the catalogue lacks it."""
    # The catalogue alone: the whole rules (network ranges compiled) cost 1.2 s and 100 MB.
    directory = Path(setting_value(args, "rules"))
    problems: list[Problem] = []
    catalogue = load_catalogue(directory / "agents", problems)
    if problems:
        raise RuleError(problems)

    def tokens(name: str) -> Sequence[str]:
        agent = catalogue.by_name(name)
        return agent.robots_tokens if agent and agent.robots_tokens else (name,)

    return tokens


def _summary(args: argparse.Namespace) -> int:
    from proxy.review import summary

    since, until = _window(args)
    files = _files(args)
    with spinner("summary"):
        result = summary.summarise(files, since, until, by=args.by, unmask=True)
    _out(json.dumps(result.as_json(), indent=2) if args.json else summary.render(result))
    return 0


def _violations(args: argparse.Namespace) -> int:
    from proxy.review import violations

    since, until = _window(args)
    purposes = None if args.all_purposes else violations.AI_PURPOSES
    opts = violations.Options(since, until, args.agent, purposes)
    files, tokens = _files(args), _tokens(args)
    with spinner("violations"):
        found = violations.find(files, _state(args), tokens, opts)
    _out(json.dumps(found.as_json(), indent=2) if args.json else violations.render(found))
    return 0


def _search(args: argparse.Namespace) -> int:
    from proxy.review import search
    from proxy.review.vocabulary import check_choice, check_ip

    for flag in ("purpose", "identity", "action"):
        check_choice(flag, getattr(args, flag))
    check_ip(args.ip)
    since, until = _window(args)
    filters = search.Filters(
        args.agent, args.purpose, args.identity, args.action, args.ip, args.path, since, until,
        args.ref,
    )  # fmt: skip
    files = _files(args)
    with spinner("search"):  # until the first row: then the rows stream to stdout
        rows = search.search(files, filters, raw=args.json, limit=args.limit)
        first = next(rows, None)
    rows = itertools.chain([first] if first is not None else [], rows)
    if args.json:
        for row in rows:
            sys.stdout.write(row[-1] + "\n")
        return 0
    _out(search.render(list(rows)))
    return 0


def _report(args: argparse.Namespace) -> int:
    from proxy.review import integrity, report

    since, until = _window(args)
    files = _files(args)
    key = setting_value(args, "log_hmac_key_file")
    tokens, state = _tokens(args), _state(args)
    with bar("report: verify", files) as advance:
        checked = integrity.check_all(files, state, key, done=advance)
    with spinner("report"):
        page = report.build(files, state, tokens, since, until, key, checked)
    args.out.write_text(page, encoding="utf-8")
    print(f"optout: wrote {args.out}", file=sys.stderr)
    return 0


def _evidence(args: argparse.Namespace) -> int:
    from proxy.review import evidence
    from proxy.review.vocabulary import check_ip

    if args.files[:1] == ["verify"]:
        return _evidence_verify(args)
    if args.files[:1] == ["notice"]:
        return _evidence_notice(args)
    if not args.out:
        raise ReviewError("evidence needs --out bundle.zip")
    check_ip(args.ip)
    since, until = _window(args)
    want = evidence.Request(args.agent, since, until, args.operator, args.ip, args.flagged)
    certs = setting_value(args, "tsa_certs")
    files = _files(args)
    found = chains(files)
    if len(found) > 1:  # a bundle proves its records with one chain segment and head
        names = ", ".join(str(c.files[-1]) for c in found)
        raise ReviewError(
            f"evidence bundles hold one chain, and these files are {len(found)} chains (the "
            f"logs of several workers): make one bundle per chain, giving its log as FILES: "
            f"{names}"
        )
    manifest = evidence.build(files, want, args.out, _state(args), Path(certs) if certs else None)
    print(
        f"optout: wrote {args.out}: {manifest['records']} record(s) of "
        f"{want.agent or want.describe()}, "
        f"{len(manifest['served'])} served document(s), "
        f"{len(manifest['timestamps'])} timestamp token(s)",
        file=sys.stderr,
    )
    return 0


def _evidence_verify(args: argparse.Namespace) -> int:
    from proxy.review import bundle_verify

    if len(args.files) != 2:
        raise ReviewError("usage: optout evidence verify bundle.zip [--key-file F]")
    outcome = bundle_verify.verify(Path(args.files[1]), setting_value(args, "log_hmac_key_file"))
    for fact in outcome.facts:
        print(fact)
    for problem in outcome.problems:
        print(f"FAILED: {problem}")
    if outcome.statement:
        print("\n" + outcome.statement + "\n")
    print("OK: the bundle is consistent" if outcome.ok else "the bundle does NOT verify")
    return 0 if outcome.ok else (2 if outcome.needs_key else 1)


def _evidence_notice(args: argparse.Namespace) -> int:
    from proxy.review import notice

    if len(args.files) != 2 or not args.out:
        raise ReviewError("usage: optout evidence notice bundle.zip --out notice.html [--pdf F]")
    policy = load_rules(setting_value(args, "rules")).policy
    args.out.write_text(notice.build(Path(args.files[1]), policy), encoding="utf-8")
    print(f"optout: wrote {args.out}", file=sys.stderr)
    if args.pdf:
        notice.render_pdf(args.out, args.pdf)
        print(f"optout: wrote {args.pdf}", file=sys.stderr)
    return 0


def _out(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
