"""The rule author's commands: check, robots, classify and replay.

optout check     validate a rules directory
optout robots    print the robots.txt the proxy would serve
optout classify  show how user agents are classified and decided (proxy.cli.classify)
optout replay    run past requests from an access log through the rules
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from proxy.cli import classify
from proxy.cli.serveflags import add_rules_flag, setting_value
from proxy.config.reservation import coverage_lines
from proxy.errors import RuleError
from proxy.ruleset import Ruleset, load_rules
from proxy.signals.robotstxt import merge


def add_parsers(commands: Any) -> None:
    check = commands.add_parser("check", help="validate a rules directory")
    add_rules_flag(check)
    check.add_argument(
        "--media",
        type=Path,
        metavar="DIR",
        help="also list media files under DIR (a web root) whose embedded reservation "
        "disagrees with the policy (see optout media)",
    )
    check.set_defaults(handler=_check)

    robots = commands.add_parser("robots", help="print the robots.txt the proxy would serve")
    add_rules_flag(robots)
    source = robots.add_mutually_exclusive_group()
    source.add_argument("--upstream-file", help="the site's own robots.txt (answered with 200)")
    source.add_argument(
        "--upstream-status",
        type=int,
        help="the status the site answers (e.g. 404, 503) when it has no robots.txt to give",
    )
    robots.add_argument("--host", default="", help="Host of the request (rules may match on it)")
    robots.set_defaults(handler=_robots)

    classify.add_parser(commands)

    replay = commands.add_parser(
        "replay", help="run past requests from an access log through the rules"
    )
    add_rules_flag(replay)
    replay.add_argument("logfiles", nargs="+", metavar="LOGFILE", help="access log file(s)")
    replay.add_argument(
        "-q", "--quiet", action="store_true", help="no progress on the terminal (stderr)"
    )
    replay.set_defaults(handler=_replay)


def _check(args: argparse.Namespace) -> int:
    directory = setting_value(args, "rules")
    try:
        ruleset = load_rules(directory)
    except RuleError as e:
        for problem in e.problems:
            print(problem)
        print(f"{len(e.problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    for warning in ruleset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for line in coverage_lines(ruleset.policy.reservation):
        print(line, file=sys.stderr)
    if getattr(args, "media", None) is not None:
        from proxy.cli.media import check_tree

        policy = ruleset.policy
        disagree = check_tree(args.media, policy.reservation, policy.label)
        for line in disagree:
            print(line)
        if disagree:
            print(f"{len(disagree)} media file(s) in {args.media} disagree", file=sys.stderr)
            return 1
    print(f"{directory}: OK, {summary(ruleset)}")
    return 0


def _robots(args: argparse.Namespace) -> int:
    ruleset = load_rules(setting_value(args, "rules"))
    body: bytes | None = None
    status: int | None = args.upstream_status
    if args.upstream_file is not None:
        try:
            body, status = Path(args.upstream_file).read_bytes(), 200
        except OSError as e:
            print(f"optout: cannot read {args.upstream_file}: {e}", file=sys.stderr)
            return 1
    elif status is None:
        status = 404  # no upstream file given: what the site says without one
    merged = merge(body, status, ruleset.robots(args.host))
    for note in merged.notes:
        print(f"note: {note}", file=sys.stderr)
    sys.stdout.write(merged.text)
    return 0


def summary(ruleset: Ruleset) -> str:
    policy = ruleset.policy
    return (
        f"{len(ruleset.catalogue.agents)} agents of {len(ruleset.catalogue.operators)} "
        f"operators, {len(policy.rules)} rules, default {policy.default.action.value}"
    )


def _replay(args: argparse.Namespace) -> int:
    from proxy.evidence.logfiles import LogReadError
    from proxy.review import progress
    from proxy.review.files import ReviewError, resolve
    from proxy.review.replay import render
    from proxy.review.replayrun import replay_files

    ruleset = load_rules(setting_value(args, "rules"))
    progress.set_quiet(args.quiet)
    try:
        paths = resolve(args.logfiles)  # with rotated files, and the logs of every worker
        with progress.bar("replay", paths) as advance:
            result = replay_files(paths, ruleset, done=advance)
    except (LogReadError, OSError, ReviewError) as e:
        print(f"optout: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(render(result))
    return 0
