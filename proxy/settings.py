"""Run-time settings: each comes from a command-line flag or, failing that, its
environment variable, then the default. Invalid values are errors that name the
flag and the variable, raised before anything starts.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from proxy.clientaddr import parse_trusted
from proxy.errors import OptoutError
from proxy.ipranges import Network


class SettingsError(OptoutError):
    """A flag or environment variable has an invalid value."""


@dataclass(frozen=True, slots=True)
class Settings:
    upstream: str
    listen_host: str
    listen_port: int
    rules: Path
    log: str  # a file path, or "-" for standard output
    state: Path
    trusted_proxies: tuple[Network, ...] = ()
    verify_dns: bool = True
    web_bot_auth: bool = True
    ipranges_refresh: int = 0  # seconds between refreshes of the IP ranges; 0 is off


DEFAULTS = {
    "OPTOUT_LISTEN": "127.0.0.1:8080",
    "OPTOUT_RULES": "rules",
    "OPTOUT_LOG": "-",
    "OPTOUT_STATE": "state",
    "OPTOUT_TRUSTED_PROXIES": "",
    "OPTOUT_VERIFY_DNS": "on",
    "OPTOUT_WEB_BOT_AUTH": "on",
    "OPTOUT_IPRANGES_REFRESH": "0",
}


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from flags (None when not given), the environment and the defaults."""

    def pick(name: str, var: str) -> str | None:
        value = flags.get(name)
        if value is None:
            value = environ.get(var) or DEFAULTS.get(var)
        return value

    upstream = pick("upstream", "OPTOUT_UPSTREAM")
    if not upstream:
        raise SettingsError("no upstream: give --upstream URL or set OPTOUT_UPSTREAM")
    host, port = parse_listen(str(pick("listen", "OPTOUT_LISTEN")))
    return Settings(
        upstream=parse_upstream(upstream),
        listen_host=host,
        listen_port=port,
        rules=Path(str(pick("rules", "OPTOUT_RULES"))),
        log=str(pick("log", "OPTOUT_LOG")),
        state=Path(str(pick("state", "OPTOUT_STATE"))),
        trusted_proxies=parse_trusted_proxies(
            str(pick("trusted_proxies", "OPTOUT_TRUSTED_PROXIES"))
        ),
        verify_dns=parse_switch(str(pick("verify_dns", "OPTOUT_VERIFY_DNS")), "OPTOUT_VERIFY_DNS"),
        web_bot_auth=parse_switch(
            str(pick("web_bot_auth", "OPTOUT_WEB_BOT_AUTH")), "OPTOUT_WEB_BOT_AUTH"
        ),
        ipranges_refresh=parse_seconds(
            str(pick("ipranges_refresh", "OPTOUT_IPRANGES_REFRESH")), "OPTOUT_IPRANGES_REFRESH"
        ),
    )


def parse_trusted_proxies(value: str) -> tuple[Network, ...]:
    """Comma-separated addresses or networks of the proxies in front of us."""
    try:
        return parse_trusted([v.strip() for v in value.split(",") if v.strip()])
    except ValueError as e:
        raise SettingsError(f"{e} (--trusted-proxies / OPTOUT_TRUSTED_PROXIES)") from e


def parse_switch(value: str, var: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise SettingsError(f"{var} must be on or off, not {value!r}")


def parse_seconds(value: str, var: str) -> int:
    if not value.strip().isdigit():
        raise SettingsError(f"{var} must be a whole number of seconds, not {value!r}")
    seconds = int(value)
    if 0 < seconds < 60:
        raise SettingsError(f"{var} must be 0 (off) or at least 60 seconds")
    return seconds


def parse_upstream(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"upstream {value!r} (--upstream / OPTOUT_UPSTREAM) must be http(s)://HOST[:PORT]"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"upstream {value!r} must not have a path, query or fragment")
    try:
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError as e:
        raise SettingsError(f"upstream {value!r}: {e}") from e
    return f"{parts.scheme}://{parts.netloc}"


def parse_listen(value: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or PORT."""
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(
            f"listen address {value!r} (--listen / OPTOUT_LISTEN) must be HOST:PORT"
        )
    return host, int(port)
