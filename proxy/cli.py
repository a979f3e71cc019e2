"""The `optout` command.

    optout run       serve as a reverse proxy in front of --upstream
    optout demo      serve the bundled demo label site behind the proxy
    optout check     validate a rules directory
    optout classify  show how user agents are classified and decided

Human messages go to standard error; standard output carries data (the access
log when it is '-', classify's JSON lines), so either can be piped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from proxy import __version__
from proxy.classify import classify
from proxy.decide import decide
from proxy.errors import RuleError
from proxy.model import RequestInfo
from proxy.ruleset import Ruleset, load_rules
from proxy.settings import DEFAULTS, SettingsError, resolve


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (RuleError, SettingsError) as e:
        print(f"optout: {e}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optout", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"optout-proxy {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve as a reverse proxy in front of --upstream")
    _add_serve_flags(run)
    run.add_argument(
        "--upstream", help="origin to proxy to, http(s)://HOST[:PORT] (env OPTOUT_UPSTREAM)"
    )
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="serve the bundled demo label site behind the proxy")
    _add_serve_flags(demo)
    demo.add_argument(
        "--site",
        default="127.0.0.1:0",
        help="where the demo site listens (default: a free loopback port)",
    )
    demo.set_defaults(handler=_demo)

    check = commands.add_parser("check", help="validate a rules directory")
    _add_rules_flag(check)
    check.set_defaults(handler=_check)

    cls = commands.add_parser("classify", help="classify user agents and show the decision")
    _add_rules_flag(cls)
    cls.add_argument("--user-agent", help="the User-Agent; without it, one per line from stdin")
    cls.add_argument("--ip", default="", help="client address")
    cls.add_argument("--host", default="localhost", help="Host of the request")
    cls.add_argument("--path", default="/", help="path of the request")
    cls.add_argument("--method", default="GET", help="method of the request")
    cls.set_defaults(handler=_classify)
    return parser


def _add_rules_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", help="rules directory (env OPTOUT_RULES, default 'rules')")


def _add_serve_flags(parser: argparse.ArgumentParser) -> None:
    _add_rules_flag(parser)
    parser.add_argument(
        "--listen", help="HOST:PORT to listen on (env OPTOUT_LISTEN, default 127.0.0.1:8080)"
    )
    parser.add_argument(
        "--log", help="access log file, '-' for stdout (env OPTOUT_LOG, default '-')"
    )
    parser.add_argument("--state", help="state directory (env OPTOUT_STATE, default 'state')")


def _rules_dir(args: argparse.Namespace) -> Path:
    return Path(args.rules or os.environ.get("OPTOUT_RULES") or DEFAULTS["OPTOUT_RULES"])


def _run(args: argparse.Namespace) -> int:
    settings = resolve(vars(args))
    ruleset = load_rules(settings.rules)
    from proxy import runner  # the engine is imported only when serving

    def announce(host: str, port: int) -> None:
        print(
            f"optout-proxy ready on http://{_hostport(host, port)} -> {settings.upstream} "
            f"({_summary(ruleset)})",
            file=sys.stderr,
            flush=True,
        )

    asyncio.run(runner.serve(settings, ruleset, announce))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from proxy import runner

    return runner.run_demo(args)


def _check(args: argparse.Namespace) -> int:
    directory = _rules_dir(args)
    try:
        ruleset = load_rules(directory)
    except RuleError as e:
        for problem in e.problems:
            print(problem)
        print(f"{len(e.problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    for warning in ruleset.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{directory}: OK, {_summary(ruleset)}")
    return 0


def _classify(args: argparse.Namespace) -> int:
    ruleset = load_rules(_rules_dir(args))
    agents: Iterable[str] = (
        [args.user_agent]
        if args.user_agent is not None
        else (line.rstrip("\r\n") for line in sys.stdin)
    )
    for ua in agents:
        request = RequestInfo(args.method.upper(), args.host, args.path, ua, args.ip)
        print(json.dumps(classify_one(ruleset, request)), flush=True)
    return 0


def classify_one(ruleset: Ruleset, request: RequestInfo) -> dict[str, object]:
    found = classify(ruleset.catalogue, request)
    verdict = decide(ruleset.policy, request, found)
    agent = found.agent
    return {
        "user_agent": request.user_agent,
        "agent": agent.name if agent else None,
        "operator": agent.operator if agent else None,
        "purpose": agent.purpose.value if agent else None,
        "identity": found.identity.value,
        "action": verdict.action.value,
        "rule": verdict.rule,
    }


def _summary(ruleset: Ruleset) -> str:
    policy = ruleset.policy
    return (
        f"{len(ruleset.catalogue.agents)} agents of {len(ruleset.catalogue.operators)} "
        f"operators, {len(policy.rules)} rules, default {policy.default.action.value}"
    )


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
