"""Run-time settings, declared once in a table.

Each `Setting` names its flag, its environment variable, its default, how its
text is read and what it means. From the table come the flags of the commands
(proxy.cli.serveflags adds them), their help with the variable and the default
added once (`describe`), the lookup every command uses: the flag if given, else
the variable, else the default (`lookup`, `value`), and the typed, frozen
`Settings` that `resolve` builds, as mitmproxy's option registry generates its
parser. Invalid values are errors that name the flag and the variable, raised
before anything starts.

This is the only module that reads the environment; commands pass it their
flags. The log HMAC key is checked by `proxy.evidence.chain.load_hmac_key`,
which `optout logs verify` and `optout evidence verify` share: the table hands
it what it looked up, so one loader names the key's source, never the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from proxy.errors import SettingsError
from proxy.evidence import chain
from proxy.evidence.privacy import MODES as PRIVACY_MODES
from proxy.evidence.privacy import parse_mode
from proxy.identity.clientaddr import parse_trusted
from proxy.identity.ipranges import Network
from proxy.store.shared import parse_store

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")
SWITCH = ("on", "off")
MAX_WORKERS = 256

Parse = Callable[[str, str], Any]
"""A setting's text, and where it came from ("--log-keep / OPTOUT_LOG_KEEP"), to its
value; raises SettingsError naming both."""

Flags = Mapping[str, object]
"""Flag values by setting name (argparse's dests); None for a flag not given."""


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret is read from the file the setting names, or given itself in `env`."""

    env: str
    what: str  # for the help: "the token itself"
    load: Callable[[str | None, str | None], Any]  # (file, the secret itself) -> value


@dataclass(frozen=True, slots=True)
class Setting:
    name: str  # the flag's dest and resolve()'s key; the Settings field unless `fields` says
    env: str
    default: str | None  # as a user writes it; None: unset
    parse: Parse
    help: str  # what it means; describe() adds the variable and the default
    metavar: str | None = None
    choices: tuple[str, ...] = ()
    const: str | None = None  # a flag that takes no value and stands for this text
    secret: Secret | None = None
    fields: tuple[str, ...] = ()  # the Settings fields its value fills, when not `name`

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def where(self) -> str:
        return f"{self.flag} / {self.env}"

    @property
    def targets(self) -> tuple[str, ...]:
        return self.fields or (self.name,)


def _text(value: str, where: str) -> str:
    return value


def parse_header_name(value: str, where: str) -> str:
    """An HTTP field name (RFC 9110 token), lower-cased; "" is none."""
    if value and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", value) is None:
        raise SettingsError(f"{where}: {value!r} is not a header name")
    return value.lower()


def _path(value: str, where: str) -> Path:
    return Path(value)


def _upstream(value: str, where: str) -> str | None:
    return parse_upstream(value) if value else None


def _admin_token(path: str | None, token: str | None) -> str | None:
    """The bearer token for POST /reload: from a file (a secret mount) or the environment."""
    return _token(path, token, "admin", "--admin-token-file / OPTOUT_ADMIN_TOKEN_FILE")


def _metrics_token(path: str | None, token: str | None) -> str | None:
    """The bearer token GET /metrics requires, when one is set."""
    return _token(path, token, "metrics", "--metrics-token-file / OPTOUT_METRICS_TOKEN_FILE")


def _token(path: str | None, token: str | None, what: str, where: str) -> str | None:
    """A token from a file (a secret mount) or the environment. Errors name the file, never
    its content."""
    if not path:
        return (token or "").strip() or None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(
            f"cannot read the {what} token file {path!r} ({where}): {e.__class__.__name__}"
        ) from e
    if not text:
        raise SettingsError(f"the {what} token file {path!r} ({where}) is empty")
    return text


def _hmac_key(path: str | None, key: str | None) -> bytes | None:
    return chain.load_hmac_key({"OPTOUT_LOG_HMAC_KEY": key} if key else {}, path)


def parse_cache_dir(value: str, where: str) -> Path | None:
    """A cache directory ("~" expanded), or None for 'off'."""
    text = _text(value, where)
    return None if text.lower() == "off" else Path(text).expanduser()


def parse_store_url(value: str, where: str) -> str | None:
    """`memory` (None) or the URL of a Redis/Valkey store; errors never show its password."""
    try:
        return parse_store(value)
    except ValueError as e:
        raise SettingsError(f"{e} ({where})") from e


def parse_switch(value: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("on", "true", "1", "yes"):
        return True
    if lowered in ("off", "false", "0", "no"):
        return False
    raise SettingsError(f"{where} must be on or off, not {value!r}")


def parse_choice(value: str, where: str, choices: tuple[str, ...]) -> str:
    lowered = value.strip().lower()
    if lowered not in choices:
        raise SettingsError(f"{where} must be one of {', '.join(choices)}, not {value!r}")
    return lowered


def parse_privacy(value: str, where: str) -> str:
    try:
        return parse_mode(value)
    except ValueError as e:
        raise SettingsError(f"{e} ({where})") from e


def parse_trusted_proxies(
    value: str, where: str = "--trusted-proxies / OPTOUT_TRUSTED_PROXIES"
) -> tuple[Network, ...]:
    """Comma-separated addresses or networks of the proxies in front of us."""
    try:
        return parse_trusted([v.strip() for v in value.split(",") if v.strip()])
    except ValueError as e:
        raise SettingsError(f"{e} ({where})") from e


def parse_seconds(value: str, where: str) -> int:
    """A refresh interval: 0 (off) or whole seconds, at least a minute."""
    if not value.strip().isdigit():
        raise SettingsError(f"{where} must be a whole number of seconds, not {value!r}")
    seconds = int(value)
    if 0 < seconds < 60:
        raise SettingsError(f"{where} must be 0 (off) or at least 60 seconds")
    return seconds


def parse_timeout(value: str, where: str, least: float = 0) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not least <= seconds < float("inf"):
        raise SettingsError(
            f"{where} must be a number of seconds ({least:g} or more), not {value!r}"
        )
    return seconds


def parse_tsa_urls(value: str, where: str) -> tuple[str, ...]:
    """Comma-separated http(s) URLs of time-stamping authorities; empty: none."""
    urls = tuple(v.strip() for v in value.split(",") if v.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SettingsError(f"{where}: {url!r} is not an http(s) URL of a TSA")
    return urls


def parse_positive(value: str, where: str, least: int) -> int:
    if not value.strip().isdigit() or int(value) < least:
        raise SettingsError(f"{where} must be a whole number of at least {least}, not {value!r}")
    return int(value)


def parse_connections(value: str, where: str) -> int | None:
    """'auto' (None: from the descriptor limit) or a whole number of connections."""
    if value.strip().lower() == "auto":
        return None
    return parse_positive(value, where, least=1)


def parse_workers(value: str, where: str = "--workers / OPTOUT_WORKERS") -> int:
    """'auto' (the CPUs this process may run on) or a whole number of worker processes."""
    if value.strip().lower() == "auto":
        if hasattr(os, "sched_getaffinity"):  # a container's CPU set, not the host's
            return len(os.sched_getaffinity(0))
        return os.cpu_count() or 1
    workers = parse_positive(value, where, least=1)
    if workers > MAX_WORKERS:
        raise SettingsError(f"{where} must be at most {MAX_WORKERS}, not {value!r}")
    return workers


def parse_body_limit(value: str, where: str = "--max-body / OPTOUT_MAX_BODY") -> str:
    """A size like 100m, 512k or 1g (mitmproxy's notation); checked here, used by Limits."""
    if re.fullmatch(r"[1-9][0-9]*[kmgKMG]?", value.strip()) is None:
        raise SettingsError(f"{where} must be a size like 100m or 512k, not {value!r}")
    return value.strip().lower()


def parse_upstream(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(
            f"upstream {value!r} (--upstream / OPTOUT_UPSTREAM) must be http(s)://HOST[:PORT]"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(
            f"upstream {value!r} (--upstream / OPTOUT_UPSTREAM) must not have a path, query "
            "or fragment"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError for an invalid port
    except ValueError as e:
        raise SettingsError(f"upstream {value!r} (--upstream / OPTOUT_UPSTREAM): {e}") from e
    return f"{parts.scheme}://{parts.netloc}"


def parse_listen(value: str, where: str = "--listen / OPTOUT_LISTEN") -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or PORT."""
    return _host_port(value, "listen address", where)


def parse_admin(value: str, where: str = "--admin / OPTOUT_ADMIN") -> tuple[str, int] | None:
    """HOST:PORT of the admin endpoints, or `off`."""
    if value.strip().lower() == "off":
        return None
    return _host_port(value, "admin address", where)


def parse_tls(value: str, where: str = "--tls / OPTOUT_TLS_LISTEN") -> tuple[str, int] | None:
    """HOST:PORT of the https listener, or `off`."""
    if value.strip().lower() == "off":
        return None
    return _host_port(value, "TLS listen address", where)


def parse_tls_listen(value: str, listen: tuple[str, int]) -> tuple[str, int] | None:
    """The https listener, which is never the plain listener's address."""
    found = parse_tls(value)
    if found is not None and found == listen:
        raise SettingsError(
            f"--tls / OPTOUT_TLS_LISTEN {value!r} must differ from the plain listener "
            f"(--listen / OPTOUT_LISTEN)"
        )
    return found


def _host_port(value: str, what: str, where: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", value
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise SettingsError(f"{what} {value!r} ({where}) must be HOST:PORT")
    if not 0 <= int(port) <= 65535:
        raise SettingsError(f"{what} {value!r} ({where}): port {port} is out of range 0-65535")
    return host, int(port)


# fmt: off
SETTINGS: tuple[Setting, ...] = (
    Setting("upstream", "OPTOUT_UPSTREAM", None, _upstream,
        "the site to proxy to, http(s)://HOST[:PORT]; required unless RULES/sites.yaml "
        "lists the sites", metavar="URL"),
    Setting("tls", "OPTOUT_TLS_LISTEN", "off", parse_tls,
        "also listen for https here, with the certificates of rules/sites.yaml; 'off' disables it",
        metavar="HOST:PORT", fields=("tls_listen",)),
    Setting("listen", "OPTOUT_LISTEN", "127.0.0.1:8080", parse_listen,
        "HOST:PORT to listen on; :0 picks a free port", metavar="HOST:PORT",
        fields=("listen_host", "listen_port")),
    Setting("rules", "OPTOUT_RULES", "rules", _path, "rules directory", metavar="DIR"),
    Setting("log", "OPTOUT_LOG", "-", _text, "access log file, JSON lines; '-' is standard output",
        metavar="FILE"),
    Setting("state", "OPTOUT_STATE", "state", _path, "the proxy's own files: chain head, keys, "
        "served documents, ledger", metavar="DIR"),
    Setting("store", "OPTOUT_STORE", "memory", parse_store_url,
        "where state that replicas and workers must share lives (throttle buckets, trap "
        "flags, reverse-DNS verdicts, charge counts): 'memory' (this process only) or "
        "redis://HOST[:PORT][/DB], rediss://… or unix:///PATH", metavar="URL"),
    Setting("store_timeout", "OPTOUT_STORE_TIMEOUT", "0.05", partial(parse_timeout, least=0.001),
        "how long one call to the shared store may take; past it the request goes on with "
        "this process's own state", metavar="SECONDS"),
    Setting("cache", "OPTOUT_CACHE", "~/.cache/optout-proxy", parse_cache_dir,
        "where compiled network ranges are kept between starts; 'off' compiles at every start",
        metavar="DIR"),
    Setting("trusted_proxies", "OPTOUT_TRUSTED_PROXIES", "", parse_trusted_proxies,
        "comma-separated addresses or networks of proxies whose X-Forwarded-For is believed",
        metavar="NETS"),
    Setting("ja4_header", "OPTOUT_JA4_HEADER", "", parse_header_name,
        "request header in which a TLS-terminating trusted proxy passes the client's JA4; "
        "believed only from --trusted-proxies", metavar="NAME"),
    Setting("verify_dns", "OPTOUT_VERIFY_DNS", "on", parse_switch,
        "verify crawlers by forward-confirmed reverse DNS", choices=SWITCH),
    Setting("web_bot_auth", "OPTOUT_WEB_BOT_AUTH", "on", parse_switch,
        "verify Web Bot Auth signatures, fetching the agent's key directory over https",
        choices=SWITCH),
    Setting("ipranges_refresh", "OPTOUT_IPRANGES_REFRESH", "0", parse_seconds,
        "refresh the published IP ranges (crawlers' and cloud providers') this often; 0 is off",
        metavar="SECONDS"),
    Setting("admin", "OPTOUT_ADMIN", "127.0.0.1:9090", parse_admin,
        "where /healthz, /readyz, /metrics and POST /reload listen; 'off' disables them",
        metavar="HOST:PORT"),
    Setting("admin_token_file", "OPTOUT_ADMIN_TOKEN_FILE", None, _text,
        "file holding the bearer token POST /reload requires; without a token it is refused",
        metavar="FILE", fields=("admin_token",),
        secret=Secret("OPTOUT_ADMIN_TOKEN", "the token itself", _admin_token)),
    Setting("metrics_token_file", "OPTOUT_METRICS_TOKEN_FILE", None, _text,
        "file holding the bearer token GET /metrics then requires (Prometheus: "
        "authorization.credentials_file); without one /metrics is open to whoever reaches "
        "the admin port", metavar="FILE", fields=("metrics_token",),
        secret=Secret("OPTOUT_METRICS_TOKEN", "the token itself", _metrics_token)),
    Setting("shadow", "OPTOUT_SHADOW", "off", parse_switch,
        "shadow mode: decide and log, block nothing, even if the policy enforces", const="on"),
    Setting("shutdown_timeout", "OPTOUT_SHUTDOWN_TIMEOUT", "10", parse_timeout,
        "on SIGTERM, how long requests in flight may take to finish", metavar="SECONDS"),
    Setting("upstream_timeout", "OPTOUT_UPSTREAM_TIMEOUT", "30", partial(parse_timeout, least=0.1),
        "how long the upstream has to start answering before the client gets 504",
        metavar="SECONDS"),
    Setting("max_body", "OPTOUT_MAX_BODY", "100m", parse_body_limit,
        "request bodies over this size get 413, e.g. 100m or 512k", metavar="SIZE"),
    Setting("max_connections", "OPTOUT_MAX_CONNECTIONS", "auto", parse_connections,
        "client connections served at once; past it a new one takes the slot of the one "
        "waiting longest for its request, or gets 503; auto: half the descriptor limit",
        metavar="N"),
    Setting("workers", "OPTOUT_WORKERS", "1", parse_workers,
        "worker processes serving the same listeners, one per core; auto: the CPU count. "
        "Above 1, a supervisor starts them, restarts one that dies and owns the admin port",
        metavar="N|auto"),
    Setting("head_timeout", "OPTOUT_HEAD_TIMEOUT", "30", partial(parse_timeout, least=1),
        "how long a client has to send its whole request head before it gets 408",
        metavar="SECONDS"),
    Setting("idle_timeout", "OPTOUT_IDLE_TIMEOUT", "75", partial(parse_timeout, least=1),
        "how long a kept-alive connection may wait for its next request", metavar="SECONDS"),
    Setting("log_format", "OPTOUT_LOG_FORMAT", "text", partial(parse_choice, choices=LOG_FORMATS),
        "the proxy's own messages on standard error", choices=LOG_FORMATS),
    Setting("log_level", "OPTOUT_LOG_LEVEL", "info", partial(parse_choice, choices=LOG_LEVELS),
        "the least severe of them shown", choices=LOG_LEVELS),
    Setting("log_hmac_key_file", "OPTOUT_LOG_HMAC_KEY_FILE", None, _text,
        "key that makes the access log's hash chain an HMAC chain: at least 16 bytes, never "
        "logged", metavar="FILE", fields=("log_hmac_key",),
        secret=Secret("OPTOUT_LOG_HMAC_KEY", "the key itself", _hmac_key)),
    Setting("tsa", "OPTOUT_TSA", "", parse_tsa_urls,
        "comma-separated RFC 3161 time-stamping authority URLs the chain head is sent to "
        "at each checkpoint; none: checkpoints are signed only", metavar="URLS"),
    Setting("tsa_certs", "OPTOUT_TSA_CERTS", None, _text,
        "PEM file of the TSAs' certificate chains up to their roots, put in evidence bundles",
        metavar="FILE"),
    Setting("tsa_timeout", "OPTOUT_TSA_TIMEOUT", "10", partial(parse_timeout, least=0.1),
        "how long a TSA has to answer, per try (3 tries a checkpoint, 1 at shutdown)",
        metavar="SECONDS"),
    Setting("checkpoint_interval", "OPTOUT_CHECKPOINT_INTERVAL", "600",
        partial(parse_timeout, least=0.1),
        "write a checkpoint (timestamped, signed chain head) this often, and at shutdown",
        metavar="SECONDS"),
    Setting("log_privacy", "OPTOUT_LOG_PRIVACY", "crawlers-only", parse_privacy,
        "pseudonymise client addresses of requests that name no agent (crawlers-only), "
        "of all requests, or of none", choices=PRIVACY_MODES),
    Setting("log_max_bytes", "OPTOUT_LOG_MAX_BYTES", str(100 * 1024 * 1024),
        partial(parse_positive, least=1024),
        "rotate the access log at this size; it also rotates daily", metavar="BYTES"),
    Setting("log_keep", "OPTOUT_LOG_KEEP", "30", partial(parse_positive, least=1),
        "rotated access-log files kept, compressed with gzip", metavar="N"),
)
# fmt: on
BY_NAME = {s.name: s for s in SETTINGS}


def describe(setting: Setting, meaning: str | None = None) -> str:
    """The help of its flag: what it means (`meaning` where a command says it otherwise),
    then its variable and its default, said once."""
    env = f"env {setting.env}"
    if setting.secret is not None:
        env += f", or {setting.secret.what} in {setting.secret.env}"
    if setting.default:
        env += f", default {setting.default}"
    return f"{setting.help if meaning is None else meaning} ({env})"


def lookup(
    name: str,
    flags: Flags | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    default: str | None = None,
) -> str | None:
    """A setting's text: its flag if given, else its variable if set, else the default.

    `default` replaces the table's for a command whose default differs from the proxy's.
    """
    setting = BY_NAME[name]
    given = (flags or {}).get(name)
    if given is not None:
        return str(given)
    env = os.environ if environ is None else environ
    return env.get(setting.env) or (setting.default if default is None else default)


def value(name: str, flags: Flags | None = None, environ: Mapping[str, str] | None = None) -> Any:
    """A setting's value: looked up, then read as the table says (None when unset)."""
    env = os.environ if environ is None else environ
    setting = BY_NAME[name]
    text = lookup(name, flags, env)
    if setting.secret is not None:
        return setting.secret.load(text, env.get(setting.secret.env))
    return None if text is None else setting.parse(text, setting.where)


def _default(name: str) -> Any:
    setting = BY_NAME[name]
    return None if setting.default is None else setting.parse(setting.default, setting.where)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything `optout run` is configured with; the defaults are the table's."""

    upstream: str | None  # None: the sites in rules/sites.yaml name every upstream
    listen_host: str
    listen_port: int
    rules: Path
    log: str  # a file path, or "-" for standard output
    state: Path
    store: str | None = None  # a Redis URL; None: state is this process's own (memory)
    store_timeout: float = _default("store_timeout")
    cache: Path | None = _default("cache")  # None: network ranges compiled at every start
    trusted_proxies: tuple[Network, ...] = _default("trusted_proxies")
    ja4_header: str = _default("ja4_header")  # "": no JA4 is taken from a header
    verify_dns: bool = _default("verify_dns")
    web_bot_auth: bool = _default("web_bot_auth")
    ipranges_refresh: int = _default("ipranges_refresh")  # seconds; 0 is off
    # None is off. A Settings made in code has no admin endpoints; the command's do.
    admin: tuple[str, int] | None = None
    admin_token: str | None = field(default=None, repr=False)  # for POST /reload
    metrics_token: str | None = field(default=None, repr=False)  # for GET /metrics, if set
    shadow: bool = _default("shadow")  # decide and log, block nothing
    shutdown_timeout: float = _default("shutdown_timeout")
    upstream_timeout: float = _default("upstream_timeout")
    max_body: str = _default("max_body")
    max_connections: int | None = _default("max_connections")  # None: from the fd limit
    workers: int = _default("workers")  # 1: this process serves; more: a supervisor's workers
    head_timeout: float = _default("head_timeout")
    idle_timeout: float = _default("idle_timeout")
    log_format: str = _default("log_format")
    log_level: str = _default("log_level")
    log_hmac_key: bytes | None = field(default=None, repr=False)  # keys the log's hash chain
    log_privacy: str = _default("log_privacy")
    log_max_bytes: int = _default("log_max_bytes")
    log_keep: int = _default("log_keep")
    tls_listen: tuple[str, int] | None = _default("tls")  # the https listener; None is off
    tsa: tuple[str, ...] = ()  # RFC 3161 authorities the checkpoints are sent to
    tsa_certs: str | None = None  # their certificate chains, for bundles
    checkpoint_interval: float = _default("checkpoint_interval")
    tsa_timeout: float = _default("tsa_timeout")


def resolve(flags: Flags, environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings from flags (None when not given), the environment and the defaults."""
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        found = value(setting.name, flags, environ)
        targets = setting.targets
        values.update(zip(targets, found if len(targets) > 1 else (found,), strict=True))
    if values["upstream"] is None and not (values["rules"] / "sites.yaml").is_file():
        raise SettingsError(
            f"no upstream: give --upstream URL or set OPTOUT_UPSTREAM "
            f"(or list the sites in {values['rules'] / 'sites.yaml'})"
        )
    listen = (values["listen_host"], values["listen_port"])
    parse_tls_listen(str(lookup("tls", flags, environ)), listen)
    return Settings(**values)
