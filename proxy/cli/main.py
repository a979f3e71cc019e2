"""The `optout` command.

    optout run       serve as a reverse proxy in front of --upstream
    optout demo      serve the bundled demo label site behind the proxy
    optout check     validate a rules directory
    optout robots    print the robots.txt the proxy would serve
    optout classify  show how user agents are classified and decided
    optout replay    run past requests from an access log through the rules
    optout logs      verify, summarise, search and report on the access log
    optout evidence  build and verify an evidence bundle for one agent
    optout licence   keys and licence tokens for licensed partners; the licence ledger
    optout licensee  clients of the licence server (rules/licensees.yaml)
    optout charges   what the charges ledger totals, per crawler and month
    optout catalogue import a newer ai.robots.txt list; counts per purpose and operator
    optout media     write the reservation into images and audio files; read it back

Human messages go to standard error; standard output carries data (the access
log when it is '-', classify's JSON lines), so either can be piped.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from proxy import __version__
from proxy.cli import authoring, catalogue, charges, licence, licensee, logs, media
from proxy.cli.authoring import summary
from proxy.cli.review import add_evidence_parser, add_review_parsers
from proxy.cli.serveflags import add_serve_flags
from proxy.config.sites import SITES_FILE
from proxy.errors import RuleError, SettingsError
from proxy.identity.networks import use_cache_dir
from proxy.ops import oplog
from proxy.ruleset import Ruleset, load_rules
from proxy.settings import LOG_FORMATS, Settings, lookup, parse_listen, resolve, value


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        use_cache_dir(value("cache", vars(args)))  # compiled network ranges, for every command
        return int(args.handler(args))
    except (RuleError, SettingsError) as e:
        if args.handler in (_run, _demo):
            _serving_error(args, str(e))
        else:
            print(f"optout: {e}", file=sys.stderr)
        return 1


def _serving_error(args: argparse.Namespace, message: str) -> None:
    """A serving command's refusal, in the format of its other messages (--log-format)."""
    try:
        fmt = str(lookup("log_format", vars(args)))
        oplog.configure(fmt if fmt in LOG_FORMATS else "text", "info")
    except SettingsError:
        oplog.configure("text", "info")
    for line in message.splitlines():  # one line per problem; each its own (not held back)
        logging.getLogger("optout").error(line.replace("%", "%%"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="optout", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"optout-proxy {__version__}")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="serve as a reverse proxy in front of --upstream")
    add_serve_flags(run, upstream=True)
    run.add_argument(
        "--check",
        action="store_true",
        help="check the rules, settings, key files, log and state paths, ports and upstreams, "
        "then exit: 0 if all is well, 1 with one line per problem",
    )
    run.set_defaults(handler=_run)

    demo = commands.add_parser("demo", help="serve the bundled demo label site behind the proxy")
    add_serve_flags(demo)
    demo.add_argument(
        "--site",
        default="127.0.0.1:0",
        help="where the demo site listens (default: a free loopback port)",
    )
    demo.set_defaults(handler=_demo)

    authoring.add_parsers(commands)
    log_commands = logs.add_parsers(commands)
    add_review_parsers(log_commands)
    add_evidence_parser(commands)
    licence.add_parsers(commands)
    licensee.add_parsers(commands)
    charges.add_parsers(commands)
    catalogue.add_parsers(commands)
    media.add_parsers(commands)
    return parser


def _run(args: argparse.Namespace) -> int:
    settings = resolve(vars(args))
    ruleset = load_rules(settings.rules)
    if args.check:
        return _check(settings, ruleset)
    from proxy.engine import runner  # the engine is imported only when serving

    oplog.configure(settings.log_format, settings.log_level)
    shadow = settings.shadow or not ruleset.policy.enforce

    def announce(host: str, port: int, https: str | None, admin: str | None) -> None:
        oplog.announce(
            f"optout-proxy ready on http://{_hostport(host, port)}"
            + (f", https://{https}" if https else "")
            + f" -> {_upstreams(settings.upstream, ruleset)} ({summary(ruleset)})"
            + (", SHADOW MODE: nothing is blocked" if shadow else "")
            + (f", {settings.workers} workers" if settings.workers > 1 else "")
            + (f", admin {admin}" if admin else ""),
            settings.log_format,
        )

    if settings.workers > 1:
        from proxy.engine import supervisor  # N processes: the supervisor starts them

        runner.check_tls(settings, ruleset)
        asyncio.run(supervisor.serve(settings, announce))
        return 0
    asyncio.run(runner.serve(settings, ruleset, announce))
    return 0


def _check(settings: Settings, ruleset: Ruleset) -> int:
    """`optout run --check`: the preflight, without serving (settings and rules were read)."""
    from proxy.engine import preflight, runner, supervisor

    try:
        runner.check_tls(settings, ruleset)
        found = supervisor.problems(settings)
        # With workers, their files were checked: --log itself is never written.
        checked = dataclasses.replace(settings, log="-") if settings.workers > 1 else settings
        found += asyncio.run(preflight.problems(checked, ruleset))
    except SettingsError as e:
        found = [str(e)]
    say = oplog.line if settings.log_format == "json" else lambda text, _level: f"optout: {text}"
    for problem in (line for text in found for line in text.splitlines()):
        print(say(problem, "error"), file=sys.stderr)
    if found:
        return 1
    passed = f"check passed: {summary(ruleset)}, log, state, ports and upstreams are usable"
    print(say(passed, "info"))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """`optout demo`: the demo label site on loopback with the proxy in front of it."""
    from proxy.demo import bound_port
    from proxy.demo import serve as serve_site
    from proxy.demo.offline import BANNER, offline
    from proxy.engine.runner import serve  # the engine is imported only when serving

    # The cover and preview are stamped as the policy says, signed with a throwaway test pair.
    from proxy.media import policyfile
    from proxy.media.stamp import in_memory

    policy = policyfile.load(Path(value("rules", vars(args))))
    media = in_memory(policy.reservation, policy.label)

    async def main() -> None:
        site_host, site_port = parse_listen(args.site)
        site = await serve_site(site_host, site_port, media)
        upstream = f"http://{site_host}:{bound_port(site)}"
        try:
            settings, resolver = offline(resolve({**vars(args), "upstream": upstream}))
            if settings.workers > 1:
                raise SettingsError("optout demo runs one process: --workers / OPTOUT_WORKERS 1")
            oplog.configure(settings.log_format, settings.log_level)
            ruleset = load_rules(settings.rules)

            def announce(host: str, port: int, https: str | None, admin: str | None) -> None:
                base = f"http://{host}:{port}"
                oplog.announce(
                    f"optout-proxy demo: the label site {upstream} is behind {base}\n"
                    f"  open {base}/ in a browser, or try:\n"
                    f"  curl -si -A 'Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0' {base}/\n"
                    f"  curl -si -A 'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; "
                    f"compatible; GPTBot/1.2; +https://openai.com/gptbot)' {base}/\n"
                    + (f"  metrics: {admin}/metrics\n" if admin else "")
                    + f"{BANNER}\n  Ctrl-C stops it.",
                    settings.log_format,
                )

            await serve(settings, ruleset, announce, resolver)
        finally:
            await site.cleanup()

    asyncio.run(main())
    return 0


def _upstreams(upstream: str | None, ruleset: Ruleset) -> str:
    """What the ready line says the proxy is in front of."""
    if ruleset.sites is None:
        return str(upstream)
    return f"{len(ruleset.sites.sites)} site(s) of {ruleset.directory / SITES_FILE}"


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
