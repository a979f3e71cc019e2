"""Start-up checks: what `optout run` refuses to start without, and `optout run --check`.

A proxy that says "ready" while every record is lost, or dies with a traceback
because a port is taken, surprises the operator; each problem here is one line
that names the flag and the variable to change. `refusals` is what serving
checks before it listens; `problems` adds what `--check` also looks at (the
upstreams answer) without serving.
"""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

from proxy.ruleset import Ruleset
from proxy.settings import Settings
from proxy.store.redisstate import RedisState
from proxy.store.shared import redact

UPSTREAM_TIMEOUT = 3.0  # seconds `--check` waits for each upstream to accept a connection


def log_problem(log: str) -> str | None:
    """Why the access log cannot be appended to, or None ('-' is standard output)."""
    if log == "-":
        return None
    path = Path(log)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    except OSError as e:
        return f"access log {log} (--log / OPTOUT_LOG) cannot be written: {_reason(e)}"
    return None


def state_problem(state: Path) -> str | None:
    """Why the state dir (chain head, keys, documents) cannot be written, or None."""
    probe = state / ".optout-write-check"
    try:
        state.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        return f"state dir {state} (--state / OPTOUT_STATE) cannot be written: {_reason(e)}"
    return None


def port_problem(what: str, where: str, host: str, port: int) -> str | None:
    """Whether host:port can be listened on now (port 0 always can)."""
    if port == 0:
        return None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio binds
            sock.bind((host, port))
    except OSError as e:
        shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        why = "is in use by another program" if e.errno == errno.EADDRINUSE else _reason(e)
        return f"{what} {shown} ({where}) {why}"
    return None


def refusals(settings: Settings) -> list[str]:
    """What serving would fail on: unwritable log or state, a listener's port taken."""
    found = [log_problem(settings.log), state_problem(settings.state)]
    listen = settings.listen_host, settings.listen_port
    found.append(port_problem("listen address", "--listen / OPTOUT_LISTEN", *listen))
    if settings.tls_listen is not None:
        found.append(port_problem("TLS address", "--tls / OPTOUT_TLS_LISTEN", *settings.tls_listen))
    if settings.admin is not None:
        found.append(port_problem("admin address", "--admin / OPTOUT_ADMIN", *settings.admin))
    return [problem for problem in found if problem is not None]


def upstreams(settings: Settings, ruleset: Ruleset) -> list[tuple[str, str]]:
    """(URL, where it is configured) of every upstream the proxy may connect to."""
    if settings.upstream is not None:
        return [(settings.upstream, "--upstream / OPTOUT_UPSTREAM")]
    if ruleset.sites is None:
        return []
    where = str(ruleset.directory / "sites.yaml")
    return list(dict.fromkeys((str(site.upstream), where) for site in ruleset.sites.sites))


async def upstream_problem(url: str, where: str, wait: float = UPSTREAM_TIMEOUT) -> str | None:
    """Whether the upstream accepts a TCP connection within `wait` seconds."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(parts.hostname, port), wait)
    except TimeoutError:
        return f"upstream {url} ({where}) does not answer within {wait:g} s"
    except OSError as e:
        return f"upstream {url} ({where}) is not reachable: {_reason(e)}"
    writer.close()
    return None


async def store_problem(url: str, wait: float = UPSTREAM_TIMEOUT) -> str | None:
    """Whether the shared store answers PING within `wait` seconds. Serving goes on
    without it (each process its own state), but the replicas would not agree."""
    store = RedisState(url, timeout=wait)
    try:
        answered = await store.ping(wait)
    finally:
        await store.close()
    if answered:
        return None
    return f"shared store {redact(url)} (--store / OPTOUT_STORE) does not answer within {wait:g} s"


async def problems(settings: Settings, ruleset: Ruleset) -> list[str]:
    """Everything `--check` reports: the refusals, then upstreams (and the shared store)
    that do not answer."""
    found = refusals(settings)
    checks = [upstream_problem(url, where) for url, where in upstreams(settings, ruleset)]
    if settings.store is not None:
        checks.append(store_problem(settings.store))
    found.extend(p for p in await asyncio.gather(*checks) if p is not None)
    return found


def _reason(error: OSError) -> str:
    return error.strerror or str(error)
