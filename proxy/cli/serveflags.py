"""Command-line flags shared by `optout run` and `optout demo`, and the rules flag.

Every flag has an environment variable (read in proxy.settings), so a container
is configured without any; the help text names both.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from proxy.settings import DEFAULTS


def add_rules_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rules", help="rules directory (env OPTOUT_RULES, default 'rules')")


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    add_rules_flag(parser)
    parser.add_argument(
        "--listen", help="HOST:PORT to listen on (env OPTOUT_LISTEN, default 127.0.0.1:8080)"
    )
    parser.add_argument(
        "--log", help="access log file, '-' for stdout (env OPTOUT_LOG, default '-')"
    )
    parser.add_argument("--state", help="state directory (env OPTOUT_STATE, default 'state')")
    parser.add_argument(
        "--tls",
        metavar="HOST:PORT",
        help="also listen for https here, with the certificates of rules/sites.yaml; "
        "'off' disables it (env OPTOUT_TLS_LISTEN, default off)",
    )
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
    _add_operations_flags(parser)
    _add_limit_flags(parser)
    _add_log_flags(parser)


def _add_operations_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--admin",
        metavar="HOST:PORT",
        help="where /healthz, /readyz, /metrics and POST /reload listen; 'off' disables them "
        "(env OPTOUT_ADMIN, default 127.0.0.1:9090)",
    )
    parser.add_argument(
        "--admin-token-file",
        metavar="FILE",
        help="file holding the bearer token POST /reload requires (env OPTOUT_ADMIN_TOKEN_FILE, "
        "or the token itself in OPTOUT_ADMIN_TOKEN); without a token /reload is refused",
    )
    parser.add_argument(
        "--shadow",
        action="store_const",
        const="on",
        help="shadow mode: decide and log, block nothing, even if the policy enforces "
        "(env OPTOUT_SHADOW=on)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        metavar="SECONDS",
        help="on SIGTERM, how long requests in flight may take to finish "
        "(env OPTOUT_SHUTDOWN_TIMEOUT, default 10)",
    )
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="the proxy's own messages on stderr (env OPTOUT_LOG_FORMAT, default text)",
    )
    parser.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        help="the least severe of them shown (env OPTOUT_LOG_LEVEL, default info)",
    )


def _add_limit_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--upstream-timeout",
        metavar="SECONDS",
        help="how long the upstream has to start answering before the client gets 504 "
        "(env OPTOUT_UPSTREAM_TIMEOUT, default 30)",
    )
    parser.add_argument(
        "--max-body",
        metavar="SIZE",
        help="request bodies over this size get 413, e.g. 100m or 512k "
        "(env OPTOUT_MAX_BODY, default 100m)",
    )


def _add_log_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--log-hmac-key-file",
        metavar="FILE",
        help="key that makes the access log's hash chain an HMAC chain "
        "(env OPTOUT_LOG_HMAC_KEY_FILE, or the key itself in OPTOUT_LOG_HMAC_KEY)",
    )
    parser.add_argument(
        "--log-privacy",
        choices=("crawlers-only", "all", "off"),
        help="pseudonymise client addresses of requests that name no agent (crawlers-only), "
        "of all requests, or of none (env OPTOUT_LOG_PRIVACY, default crawlers-only)",
    )
    parser.add_argument(
        "--log-max-bytes",
        metavar="BYTES",
        help="rotate the access log at this size; it also rotates daily "
        "(env OPTOUT_LOG_MAX_BYTES, default 104857600)",
    )
    parser.add_argument(
        "--log-keep",
        metavar="N",
        help="rotated access-log files kept (env OPTOUT_LOG_KEEP, default 30)",
    )


def rules_dir(args: argparse.Namespace) -> Path:
    return Path(args.rules or os.environ.get("OPTOUT_RULES") or DEFAULTS["OPTOUT_RULES"])
