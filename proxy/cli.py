"""The `optout` command.

    optout run       serve as a reverse proxy in front of --upstream
    optout demo      serve the bundled demo label site behind the proxy
    optout check     validate a rules directory
    optout robots    print the robots.txt the proxy would serve
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
from proxy.fcrdns import FcrdnsVerifier
from proxy.model import Classification, RequestInfo
from proxy.robots import merge
from proxy.ruleset import Ruleset, load_rules
from proxy.settings import DEFAULTS, SettingsError, resolve
from proxy.verify import Verifier


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

    robots = commands.add_parser("robots", help="print the robots.txt the proxy would serve")
    _add_rules_flag(robots)
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
    _add_rules_flag(cls)
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
    parser.add_argument(
        "--trusted-proxies",
        help="comma-separated addresses or networks of "
        "proxies whose X-Forwarded-For is believed (env OPTOUT_TRUSTED_PROXIES)",
    )
    parser.add_argument(
        "--verify-dns",
        choices=("on", "off"),
        help="verify crawlers by forward-confirmed reverse DNS (env OPTOUT_VERIFY_DNS, default on)",
    )
    parser.add_argument(
        "--web-bot-auth",
        choices=("on", "off"),
        help="verify Web Bot Auth signatures (env OPTOUT_WEB_BOT_AUTH, default on)",
    )
    parser.add_argument(
        "--ipranges-refresh",
        metavar="SECONDS",
        help="refresh the published "
        "IP ranges this often; 0 is off (env OPTOUT_IPRANGES_REFRESH, default 0)",
    )


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


def _robots(args: argparse.Namespace) -> int:
    ruleset = load_rules(_rules_dir(args))
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
    ruleset = load_rules(_rules_dir(args))
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
        result = asyncio.run(classify_one(ruleset, request, verifier))
        print(json.dumps(result), flush=True)
    return 0


def _fcrdns() -> FcrdnsVerifier:
    from proxy.net.dns import DnsResolver

    return FcrdnsVerifier(DnsResolver())


async def classify_one(
    ruleset: Ruleset, request: RequestInfo, verifier: Verifier | None = None
) -> dict[str, object]:
    found = classify(ruleset.catalogue, request)
    if verifier is not None:
        result = await verifier.identify(found.agent, request.client_ip)
        found = Classification(found.agent, result.identity, result.method, result.failure)
    verdict = decide(ruleset.policy, request, found)
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
    if found.method:
        answer["verified_by"] = found.method
    if found.failure:
        answer["verification_failure"] = found.failure
    return answer


def _summary(ruleset: Ruleset) -> str:
    policy = ruleset.policy
    return (
        f"{len(ruleset.catalogue.agents)} agents of {len(ruleset.catalogue.operators)} "
        f"operators, {len(policy.rules)} rules, default {policy.default.action.value}"
    )


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
