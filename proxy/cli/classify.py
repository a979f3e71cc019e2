"""`optout classify`: what the proxy would make of one request: a table, or JSON lines.

It runs the proxy's own steps: classification, the proxy's Verifier, and the
decision of proxy.decision.request (licence, rules, shadow mode, act), so the
command cannot drift from the proxy. Two checks need the network, and run only
when asked: reverse DNS needs --ip (and --verify-dns on); a Web Bot Auth
signature given with --header is checked with --fetch-keys, which fetches the
agent's key directory over https; without it the output says it was not
checked. User agents read from stdin share throttle buckets, as the proxy's
requests do. On a terminal the results are a table; piped, JSON lines
(`--format` chooses).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from collections.abc import Iterable
from time import time
from typing import TYPE_CHECKING, Any, Literal

from proxy.cli.serveflags import add_rules_flag, add_setting_flag, setting_value
from proxy.decision import act
from proxy.decision.request import Decision, decide_request
from proxy.errors import SettingsError
from proxy.evidence.record import act_fields, unmask_fields
from proxy.identity import webbotauth
from proxy.identity.classify import classify
from proxy.identity.consistency import consistency_signals
from proxy.identity.verify import KeySource, Verifier
from proxy.model import Classification, Identity, RequestInfo
from proxy.ruleset import Ruleset, load_rules

if TYPE_CHECKING:
    from proxy.net.keydir import KeyDirectory

Signatures = Literal["checked", "unchecked", "off"]
"""Web Bot Auth in the command: keys fetched, signatures not checked, or off as in the proxy."""


@dataclasses.dataclass(frozen=True, slots=True)
class Options:
    shadow: bool = False  # --shadow / OPTOUT_SHADOW; `enforce: false` in the policy also is
    signatures: Signatures = "unchecked"


DEFAULT = Options()


def add_parser(commands: Any) -> None:
    cls = commands.add_parser("classify", help="classify user agents and show the decision")
    add_rules_flag(cls)
    cls.add_argument("--user-agent", help="the User-Agent; without it, one per line from stdin")
    cls.add_argument(
        "--ip",
        default="",
        help="client address: verifies the claimed agent (published IP ranges, and reverse "
        "DNS unless --verify-dns off)",
    )
    cls.add_argument("--host", default="localhost", help="Host of the request")
    cls.add_argument("--path", default="/", help="path of the request")
    cls.add_argument("--method", default="GET", help="method of the request")
    cls.add_argument(
        "--scheme",
        choices=("http", "https"),
        default="https",
        help="the scheme a Web Bot Auth signature was made for (default https)",
    )
    cls.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header, e.g. 'Authorization: License TOKEN', "
        "'crawler-max-price: USD 0.05' or a Web Bot Auth Signature-Input, Signature and "
        "Signature-Agent; shows the licence, charge and signature outcome",
    )
    cls.add_argument(
        "--fetch-keys",
        action="store_true",
        help="check a Web Bot Auth signature given with --header: fetch the agent's key "
        "directory over https (without it the signature is not checked)",
    )
    add_setting_flag(
        cls, "verify_dns", meaning="with --ip, verify by reverse DNS as the proxy does"
    )
    add_setting_flag(
        cls, "web_bot_auth", meaning="consider signatures as the proxy does (see --fetch-keys)"
    )
    add_setting_flag(cls, "shadow")
    cls.add_argument(
        "--format",
        choices=FORMATS,
        help="a table for people or JSON lines for programs (default: a table on a terminal, "
        "JSON when piped)",
    )
    cls.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    ruleset = load_rules(setting_value(args, "rules"))
    headers = parse_headers(args.header)
    agents: Iterable[str] = (
        [args.user_agent]
        if args.user_agent is not None
        else (line.rstrip("\r\n") for line in sys.stdin)
    )
    wba_on = bool(setting_value(args, "web_bot_auth"))
    keys = _key_directory() if wba_on and args.fetch_keys else None
    verifier = _verifier(args, ruleset, keys, signs="signature-input" in headers)
    signatures: Signatures = "checked" if keys is not None else "unchecked" if wba_on else "off"
    options = Options(bool(setting_value(args, "shadow")), signatures)
    buckets = act.Buckets()
    as_table = (args.format or ("table" if sys.stdout.isatty() else "json")) == "table"
    rows: list[dict[str, object]] = []
    with asyncio.Runner() as runner:  # one loop: the DNS resolver and key cache live on it
        try:
            for ua in agents:
                request = _request(args, ua, headers, ruleset)
                signed = _signed(request, headers, args.scheme)
                result = runner.run(
                    classify_one(ruleset, request, verifier, headers, signed, options, buckets)
                )
                if as_table:
                    rows.append(result)
                else:
                    print(json.dumps(result), flush=True)
        finally:
            if keys is not None:
                runner.run(keys.close())
    if as_table:
        print(render_table(rows).rstrip("\n"))
    return 0


FORMATS = ("table", "json")
TABLE_COLUMNS = ("agent", "operator", "purpose", "identity", "score", "action", "rule", "outcome")
UNMASK_COLUMNS = ("network", "signals_seen")  # shown when some row has them (--ip, --header)
UA_WIDTH = 48  # a user agent is cut to this in the table; JSON has it whole


def render_table(rows: list[dict[str, object]]) -> str:
    """The results as an aligned table: the user agent (shortened), then who and what."""
    from proxy.review.text import table

    def short(ua: object) -> str:
        text = str(ua)
        return text if len(text) <= UA_WIDTH else text[: UA_WIDTH - 1] + "…"

    columns = TABLE_COLUMNS + tuple(c for c in UNMASK_COLUMNS if any(c in row for row in rows))
    headers = ["user agent", *(c.replace("_", " ") for c in columns), "status"]
    cells = [
        [
            short(row["user_agent"]),
            *(_cell(_score_cell(row) if c == "score" else row.get(c)) for c in columns),
            _cell(row.get("status")),
        ]
        for row in rows
    ]
    return table(headers, cells)


def _score_cell(row: dict[str, object]) -> str:
    """`3 (datacenter 1, ua-tls-mismatch 2)`: the score and what each signal added."""
    parts = row.get("score_parts")
    total = row.get("score", 0)
    shown = f"{total:g}" if isinstance(total, int | float) else str(total)
    if not isinstance(parts, dict) or not parts:
        return shown
    return f"{shown} ({', '.join(f'{name} {weight:g}' for name, weight in parts.items())})"


def _cell(value: object) -> str | int | None:
    if isinstance(value, dict):  # network: provider/service/region
        return "/".join(str(v) for v in value.values())
    if isinstance(value, list):  # signals
        return ", ".join(str(v) for v in value)
    return value if value is None or isinstance(value, int | str) else str(value)


def _request(
    args: argparse.Namespace, ua: str, headers: dict[str, str], ruleset: Ruleset
) -> RequestInfo:
    """The request as the proxy sees it: with --ip, its network; the header signals."""
    https = args.scheme == "https"
    return RequestInfo(
        args.method.upper(),
        args.host,
        args.path,
        ua,
        args.ip,
        headers.get("accept", ""),
        network=ruleset.networks.lookup(args.ip) if args.ip else None,
        signals=consistency_signals(ua, headers, https, None),
    )


def _signed(
    request: RequestInfo, headers: dict[str, str], scheme: str
) -> webbotauth.SignedRequest | None:
    if "signature-input" not in headers:
        return None
    return webbotauth.parse_request(headers, request.method, request.host, request.path, scheme)


def _verifier(
    args: argparse.Namespace, ruleset: Ruleset, keys: KeySource | None, *, signs: bool
) -> Verifier | None:
    """The proxy's verifier, with the lookups the command may make; None: nothing to verify."""
    if not args.ip and not (signs and keys is not None):
        return None
    dns = None
    if args.ip and setting_value(args, "verify_dns"):
        from proxy.identity.fcrdns import FcrdnsVerifier
        from proxy.net.dns import DnsResolver

        dns = FcrdnsVerifier(DnsResolver())
    return Verifier(ruleset.ipranges, dns, keys)


def _key_directory() -> KeyDirectory:
    from proxy.net.keydir import KeyDirectory  # network I/O: only when asked

    return KeyDirectory()


def parse_headers(values: list[str]) -> dict[str, str]:
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
    signed: webbotauth.SignedRequest | None = None,
    options: Options = DEFAULT,
    buckets: act.Buckets | None = None,
    now: float | None = None,
) -> dict[str, object]:
    """Classify, verify and decide `request` as the proxy does; the JSON line to print."""
    checked = None if options.signatures == "unchecked" else signed
    found = await identify(ruleset, request, verifier, checked)
    headers = headers or {}
    decision = decide_request(
        ruleset.policy,
        request,
        found,
        headers.get,
        shadow=options.shadow,
        buckets=act.Buckets() if buckets is None else buckets,
        now=time() if now is None else now,
    )
    answer = describe(request, found, decision)
    if signed is not None:
        answer["web_bot_auth"] = _signature_note(signed, options.signatures)
    return answer


async def identify(
    ruleset: Ruleset,
    request: RequestInfo,
    verifier: Verifier | None,
    signed: webbotauth.SignedRequest | None,
) -> Classification:
    """Who is asking, as addons/verify.py establishes it for the proxy."""
    found = classify(ruleset.catalogue, request)
    if verifier is None or found.identity is Identity.UNDECLARED:
        return found  # undeclared: the address is in the range, "verifying" would pass
    if found.agent is None and signed is not None and signed.agent is not None:
        agent = ruleset.catalogue.by_signature_agent(signed.agent)
        if agent is not None:  # a signing agent behind a browser's user agent
            checked = await verifier.signature(signed)
            if checked.ok:
                return Classification(agent, Identity.VERIFIED, f"web-bot-auth:{checked.agent}")
            return dataclasses.replace(found, failure=f"web bot auth: {checked.reason}")
    result = await verifier.identify(found.agent, request.client_ip, signed)
    if result.identity is not found.identity or result.method or result.failure:
        return Classification(found.agent, result.identity, result.method, result.failure)
    return found


def describe(request: RequestInfo, found: Classification, decision: Decision) -> dict[str, object]:
    """The JSON line: who, the verdict applied, and what acting on it did."""
    agent, verdict, acted = found.agent, decision.verdict, decision.act
    answer: dict[str, object] = {
        "user_agent": request.user_agent,
        "agent": agent.name if agent else None,
        "operator": agent.operator if agent else None,
        "purpose": agent.purpose.value if agent else None,
        "identity": found.identity.value,
        "action": verdict.action.value,
        "rule": verdict.rule,
    }
    if decision.shadow is not None:
        answer["shadow"] = {"action": decision.shadow.action.value, "rule": decision.shadow.rule}
    answer["outcome"] = acted.outcome
    answer.update(decision.score.fields())
    if isinstance(acted, act.Answer):
        answer["status"] = acted.status
        answer["headers"] = dict(h for h in acted.headers if h[0] != "content-type")
    answer.update(act_fields(None, verdict, decision.licence, getattr(acted, "charged", None)))
    answer.update(unmask_fields(request, found))
    if found.method:
        answer["verified_by"] = found.method
    if found.failure:
        answer["verification_failure"] = found.failure
    return answer


def _signature_note(signed: webbotauth.SignedRequest, signatures: Signatures) -> str:
    if signatures == "off":
        return "off (--web-bot-auth / OPTOUT_WEB_BOT_AUTH)"
    if signatures == "unchecked":
        where = f" of {signed.agent}" if signed.agent else ""
        return f"not checked: --fetch-keys fetches the key directory{where}"
    return "checked"
