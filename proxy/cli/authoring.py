"""The rule author's commands: check, robots, classify and replay.

optout check     validate a rules directory
optout robots    print the robots.txt the proxy would serve
optout classify  show how user agents are classified and decided
optout replay    run past requests from an access log through the rules
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from time import time
from typing import Any

from proxy.cli.serveflags import add_rules_flag, rules_dir
from proxy.decision import act
from proxy.decision.decide import decide
from proxy.errors import RuleError, SettingsError
from proxy.evidence.record import act_fields
from proxy.identity.classify import classify
from proxy.identity.fcrdns import FcrdnsVerifier
from proxy.identity.verify import Verifier
from proxy.model import Classification, RequestInfo
from proxy.ruleset import Ruleset, load_rules
from proxy.signals.robotstxt import merge


def add_parsers(commands: Any) -> None:
    check = commands.add_parser("check", help="validate a rules directory")
    add_rules_flag(check)
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

    cls = commands.add_parser("classify", help="classify user agents and show the decision")
    add_rules_flag(cls)
    cls.add_argument("--user-agent", help="the User-Agent; without it, one per line from stdin")
    cls.add_argument(
        "--ip",
        default="",
        help="client address: verifies the claimed agent "
        "(published IP ranges, and reverse DNS unless OPTOUT_VERIFY_DNS=off)",
    )
    cls.add_argument("--host", default="localhost", help="Host of the request")
    cls.add_argument("--path", default="/", help="path of the request")
    cls.add_argument("--method", default="GET", help="method of the request")
    cls.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header, e.g. 'Authorization: License TOKEN' or "
        "'crawler-max-price: USD 0.05'; shows the licence and charge outcome",
    )
    cls.set_defaults(handler=_classify)

    replay = commands.add_parser(
        "replay", help="run past requests from an access log through the rules"
    )
    add_rules_flag(replay)
    replay.add_argument("logfiles", nargs="+", metavar="LOGFILE", help="access log file(s)")
    replay.set_defaults(handler=_replay)


def _check(args: argparse.Namespace) -> int:
    directory = rules_dir(args)
    try:
        ruleset = load_rules(directory)
    except RuleError as e:
        for problem in e.problems:
            print(problem)
        print(f"{len(e.problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    for warning in ruleset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{directory}: OK, {summary(ruleset)}")
    return 0


def _robots(args: argparse.Namespace) -> int:
    ruleset = load_rules(rules_dir(args))
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


def _classify(args: argparse.Namespace) -> int:
    ruleset = load_rules(rules_dir(args))
    agents: Iterable[str] = (
        [args.user_agent]
        if args.user_agent is not None
        else (line.rstrip("\r\n") for line in sys.stdin)
    )
    verifier = None
    if args.ip:
        dns = os.environ.get("OPTOUT_VERIFY_DNS", "on").lower() not in ("off", "false", "0", "no")
        verifier = Verifier(ruleset.ipranges, _fcrdns() if dns else None)
    for ua in agents:
        request = RequestInfo(args.method.upper(), args.host, args.path, ua, args.ip)
        result = asyncio.run(classify_one(ruleset, request, verifier, _headers(args.header)))
        print(json.dumps(result), flush=True)
    return 0


def _fcrdns() -> FcrdnsVerifier:
    from proxy.net.dns import DnsResolver

    return FcrdnsVerifier(DnsResolver())


def _headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, rest = value.partition(":")
        if not sep or not name.strip():
            raise SettingsError(f"--header {value!r} must be 'Name: value'")
        headers[name.strip().lower()] = rest.strip()
    return headers


async def classify_one(
    ruleset: Ruleset,
    request: RequestInfo,
    verifier: Verifier | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, object]:
    found = classify(ruleset.catalogue, request)
    if verifier is not None:
        result = await verifier.identify(found.agent, request.client_ip)
        found = Classification(found.agent, result.identity, result.method, result.failure)
    headers = headers or {}
    policy = ruleset.policy
    check = policy.licences.check(headers.get("authorization"), found.name, request.path, time())
    verdict = decide(policy, request, found, check)
    agent = found.agent
    answer: dict[str, object] = {
        "user_agent": request.user_agent,
        "agent": agent.name if agent else None,
        "operator": agent.operator if agent else None,
        "purpose": agent.purpose.value if agent else None,
        "identity": found.identity.value,
        "action": verdict.action.value,
        "rule": verdict.rule,
    }
    acted = act.answer(policy, verdict, request, found, headers.get, check, act.Buckets())
    answer["outcome"] = acted.outcome
    if isinstance(acted, act.Answer):
        answer["status"] = acted.status
        answer["headers"] = dict(h for h in acted.headers if h[0] != "content-type")
    answer.update(act_fields(None, verdict, check, getattr(acted, "charged", None)))
    if found.method:
        answer["verified_by"] = found.method
    if found.failure:
        answer["verification_failure"] = found.failure
    return answer


def summary(ruleset: Ruleset) -> str:
    policy = ruleset.policy
    return (
        f"{len(ruleset.catalogue.agents)} agents of {len(ruleset.catalogue.operators)} "
        f"operators, {len(policy.rules)} rules, default {policy.default.action.value}"
    )


def _replay(args: argparse.Namespace) -> int:
    from proxy.evidence.logfiles import LogReadError, iter_records, log_files
    from proxy.review.replay import render, replay

    ruleset = load_rules(rules_dir(args))
    paths = [p for name in args.logfiles for p in log_files(Path(name))]
    try:
        result = replay(iter_records(paths), ruleset)
    except (LogReadError, OSError) as e:
        print(f"optout: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(render(result))
    return 0
