"""Run-time settings: each comes from a command-line flag or, failing that, its
environment variable, then the default. Invalid values are errors that name the
flag and the variable, raised before anything starts.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proxy.errors import SettingsError
from proxy.evidence import chain
from proxy.evidence.privacy import parse_mode
from proxy.identity.clientaddr import parse_trusted
from proxy.identity.ipranges import Network


@dataclass(frozen=True, slots=True)
class Settings:
    upstream: str | None  # None: the sites in rules/sites.yaml name every upstream
    listen_host: str
    listen_port: int
    rules: Path
    log: str  # a file path, or "-" for standard output
    state: Path
    trusted_proxies: tuple[Network, ...] = ()
    verify_dns: bool = True
    web_bot_auth: bool = True
    ipranges_refresh: int = 0  # seconds between refreshes of the IP ranges; 0 is off
    admin: tuple[str, int] | None = None  # where the admin endpoints listen; None is off
    admin_token: str | None = field(default=None, repr=False)  # for POST /reload
    shadow: bool = False  # decide and log, block nothing
    shutdown_timeout: float = 10.0  # seconds in-flight requests get to finish on SIGTERM
    upstream_timeout: float = 30.0  # seconds the upstream has to start answering; then 504
    max_body: str = "100m"  # request bodies over this get 413
    log_format: str = "text"  # the proxy's own messages on stderr: text or json
    log_level: str = "info"
    log_hmac_key: bytes | None = field(default=None, repr=False)  # keys the log's hash chain
    log_privacy: str = "crawlers-only"
    log_max_bytes: int = 100 * 1024 * 1024
    log_keep: int = 30
    tls_listen: tuple[str, int] | None = None  # the https listener; None is off


DEFAULTS = {
    "OPTOUT_LISTEN": "127.0.0.1:8080",
    "OPTOUT_RULES": "rules",
    "OPTOUT_LOG": "-",
    "OPTOUT_STATE": "state",
    "OPTOUT_TRUSTED_PROXIES": "",
    "OPTOUT_VERIFY_DNS": "on",
    "OPTOUT_WEB_BOT_AUTH": "on",
    "OPTOUT_IPRANGES_REFRESH": "0",
    "OPTOUT_ADMIN": "127.0.0.1:9090",
    "OPTOUT_SHADOW": "off",
    "OPTOUT_SHUTDOWN_TIMEOUT": "10",
    "OPTOUT_UPSTREAM_TIMEOUT": "30",
    "OPTOUT_MAX_BODY": "100m",
    "OPTOUT_LOG_FORMAT": "text",
    "OPTOUT_LOG_LEVEL": "info",
    "OPTOUT_LOG_PRIVACY": "crawlers-only",
    "OPTOUT_LOG_MAX_BYTES": str(100 * 1024 * 1024),
    "OPTOUT_LOG_KEEP": "30",
    "OPTOUT_TLS_LISTEN": "off",
}
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


def resolve(flags: Mapping[str, str | None], environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from flags (None when not given), the environment and the defaults."""

    def pick(name: str, var: str) -> str | None:
        value = flags.get(name)
        if value is None:
            value = environ.get(var) or DEFAULTS.get(var)
        return value

    rules = Path(str(pick("rules", "OPTOUT_RULES")))
    upstream = pick("upstream", "OPTOUT_UPSTREAM")
    if not upstream and not (rules / "sites.yaml").is_file():
        raise SettingsError(
            f"no upstream: give --upstream URL or set OPTOUT_UPSTREAM "
            f"(or list the sites in {rules / 'sites.yaml'})"
        )
    host, port = parse_listen(str(pick("listen", "OPTOUT_LISTEN")))
    tls_listen = parse_tls_listen(str(pick("tls", "OPTOUT_TLS_LISTEN")), (host, port))
    return Settings(
        upstream=parse_upstream(upstream) if upstream else None,
        listen_host=host,
        listen_port=port,
        rules=rules,
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
        **_operations(pick, environ),
        **_access_log(pick, environ),
        tls_listen=tls_listen,
    )


def parse_tls_listen(value: str, listen: tuple[str, int]) -> tuple[str, int] | None:
    """HOST:PORT of the https listener, or `off`; never the plain listener's address."""
    if value.strip().lower() == "off":
        return None
    found = _host_port(value, "TLS listen address", "--tls / OPTOUT_TLS_LISTEN")
    if found == listen:
        raise SettingsError(
            f"--tls / OPTOUT_TLS_LISTEN {value!r} must differ from the plain listener "
            f"(--listen / OPTOUT_LISTEN)"
        )
    return found


def _access_log(pick: Callable[[str, str], str | None], environ: Mapping[str, str]) -> Any:
    """The access log's tamper evidence, privacy and rotation."""
    try:
        privacy = parse_mode(str(pick("log_privacy", "OPTOUT_LOG_PRIVACY")))
    except ValueError as e:
        raise SettingsError(f"{e} (--log-privacy / OPTOUT_LOG_PRIVACY)") from e
    return {
        "log_hmac_key": chain.load_hmac_key(environ, pick("log_hmac_key_file", "")),
        "log_privacy": privacy,
        "log_max_bytes": _positive(
            str(pick("log_max_bytes", "OPTOUT_LOG_MAX_BYTES")), "OPTOUT_LOG_MAX_BYTES", 1024
        ),
        "log_keep": _positive(str(pick("log_keep", "OPTOUT_LOG_KEEP")), "OPTOUT_LOG_KEEP", 1),
    }


def _positive(value: str, var: str, least: int) -> int:
    if not value.strip().isdigit() or int(value) < least:
        raise SettingsError(f"{var} must be a whole number of at least {least}, not {value!r}")
    return int(value)


def _operations(pick: Callable[[str, str], str | None], environ: Mapping[str, str]) -> Any:
    """The admin endpoints, shadow mode, shutdown and the proxy's own logging."""
    return {
        "admin": parse_admin(str(pick("admin", "OPTOUT_ADMIN"))),
        "admin_token": admin_token(pick("admin_token_file", "OPTOUT_ADMIN_TOKEN_FILE"), environ),
        "shadow": parse_switch(str(pick("shadow", "OPTOUT_SHADOW")), "OPTOUT_SHADOW"),
        "shutdown_timeout": parse_timeout(str(pick("shutdown_timeout", "OPTOUT_SHUTDOWN_TIMEOUT"))),
        "upstream_timeout": parse_timeout(
            str(pick("upstream_timeout", "OPTOUT_UPSTREAM_TIMEOUT")), "OPTOUT_UPSTREAM_TIMEOUT", 0.1
        ),
        "max_body": parse_body_limit(str(pick("max_body", "OPTOUT_MAX_BODY"))),
        "log_format": parse_choice(
            str(pick("log_format", "OPTOUT_LOG_FORMAT")), "OPTOUT_LOG_FORMAT", LOG_FORMATS
        ),
        "log_level": parse_choice(
            str(pick("log_level", "OPTOUT_LOG_LEVEL")), "OPTOUT_LOG_LEVEL", LOG_LEVELS
        ),
    }


def parse_admin(value: str) -> tuple[str, int] | None:
    """HOST:PORT of the admin endpoints, or `off`."""
    if value.strip().lower() == "off":
        return None
    return _host_port(value, "admin address", "--admin / OPTOUT_ADMIN")


def admin_token(path: str | None, environ: Mapping[str, str]) -> str | None:
    """The bearer token for POST /reload: from a file (a secret mount) or the environment.

    Errors name the file, never its content.
    """
    if not path:
        return environ.get("OPTOUT_ADMIN_TOKEN", "").strip() or None
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(
            f"cannot read the admin token file {path!r} "
            f"(--admin-token-file / OPTOUT_ADMIN_TOKEN_FILE): {e.__class__.__name__}"
        ) from e
    if not token:
        raise SettingsError(f"the admin token file {path!r} is empty")
    return token


def parse_timeout(value: str, var: str = "OPTOUT_SHUTDOWN_TIMEOUT", least: float = 0) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not least <= seconds < float("inf"):
        raise SettingsError(f"{var} must be a number of seconds ({least:g} or more), not {value!r}")
    return seconds


def parse_body_limit(value: str) -> str:
    """A size like 100m, 512k or 1g (mitmproxy's notation); checked here, used by Limits."""
    if re.fullmatch(r"[1-9][0-9]*[kmgKMG]?", value.strip()) is None:
        raise SettingsError(f"OPTOUT_MAX_BODY must be a size like 100m or 512k, not {value!r}")
    return value.strip().lower()


def parse_choice(value: str, var: str, choices: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise SettingsError(f"{var} must be one of {', '.join(choices)}, not {value!r}")
    return lowered


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
    return _host_port(value, "listen address", "--listen / OPTOUT_LISTEN")


def _host_port(value: str, what: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{what} {value!r} ({where}) must be HOST:PORT")
    return host, int(port)
