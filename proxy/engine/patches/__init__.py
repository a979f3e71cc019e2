"""What mitmproxy 12 does not do for a public-facing reverse proxy, patched in.

One module per patch, each saying why and linking mitmproxy's issue or PR:

    headsize       414/431 for an oversized request head, before it is buffered
    framing        400 for a head that is not strictly framed (bare CR, obs-fold, ...)
    plaintls       TLS bytes on the plain listener answered as HTTP (400), not as TLS
    trailers       chunked messages with trailer fields accepted, the trailers dropped
    h1page         our HTTP/1 error pages, with the reservation headers
    h2page         the same pages over HTTP/2
    h2head         414/431 for an oversized HTTP/2 request head, as over HTTP/1
    h2host         a Host contradicting :authority left to the Edge addon (400, logged)
    interim        the upstream's 1xx heads dropped, so its final response gets through
    protocolerror  "upstream timeout" (504) named, and the flow given its page
    validation     the flow of a message failing header validation given its page (400, 502)
    bodylimit      413 for a request body over optout_max_body, before it is read
    badbody        400 for a request body that breaks HTTP/1 framing (was: closed unanswered)
    killed         that 400 on the flow, when the bad body came while a hook ran
    streamedbody   the same limit for a streamed request body
    cancelclose    the socket of a cancelled connection handler closed
    inherited      the listening sockets of a --workers supervisor served, not new ones
    unchecked      no per-field type check of every message built

The patches reach into mitmproxy's private modules, so they are checked
against one release only (`REQUIRED_MITMPROXY`, pinned in pyproject.toml and
constraints.txt). `apply()` refuses any other release, then checks that every
patch's target exists and is still used by the engine, and only then installs
them all: an upgrade fails at start-up with a message, never by a patch going
silently inert. The runner calls it once, before any connection exists (an
HTTP/1 connection binds its `read_headers` when it starts).
"""

from __future__ import annotations

from mitmproxy import version

from proxy.engine.patches.checks import EngineError, Patch, PatchTargetError
from proxy.engine.patches.limits import (
    MAX_BODY_OPTION,
    MAX_HEAD,
    MAX_REQUEST_LINE,
    PAGE,
    REFUSED,
    TIMED_OUT,
    UPSTREAM_TIMEOUT,
    max_body,
    oversize_status,
)
from proxy.engine.patches.pages import error_body, reservation_headers
from proxy.engine.patches.state import ExtraHeaders, PatchState, Refused

__all__ = [
    "MAX_BODY_OPTION",
    "MAX_HEAD",
    "MAX_REQUEST_LINE",
    "PAGE",
    "REFUSED",
    "REQUIRED_MITMPROXY",
    "STATE",
    "TIMED_OUT",
    "UPSTREAM_TIMEOUT",
    "EngineError",
    "PatchTargetError",
    "apply",
    "error_body",
    "error_response",
    "max_body",
    "oversize_status",
    "reservation_headers",
]

REQUIRED_MITMPROXY = "12.3.1"
STATE = PatchState()


def check_version(installed: str) -> None:
    if installed != REQUIRED_MITMPROXY:
        raise EngineError(
            f"mitmproxy {installed} is installed, but the engine patches were checked against "
            f"mitmproxy {REQUIRED_MITMPROXY} only: install the pinned release "
            f"(make install, or pip install -c constraints.txt .)"
        )


def patches() -> tuple[Patch, ...]:
    """Every patch this Python needs, in the order they are installed."""
    # Imported only now, after the version check: another release may lack the
    # private modules they patch, and that must end in our message, not an ImportError.
    from proxy.engine.patches import (
        badbody,
        bodylimit,
        cancelclose,
        framing,
        h1page,
        h2head,
        h2host,
        h2page,
        headsize,
        inherited,
        interim,
        killed,
        plaintls,
        protocolerror,
        streamedbody,
        trailers,
        unchecked,
        validation,
    )

    modules = (
        headsize,
        framing,  # wraps headsize's guard, so it sees each head first
        plaintls,
        h1page,
        h2page,
        h2head,
        h2host,
        protocolerror,
        validation,
        badbody,
        killed,
        bodylimit,
        streamedbody,
        cancelclose,
        trailers,
        interim,
        unchecked,
        inherited,
    )
    return tuple(m.PATCH for m in modules if m.PATCH.needed)


def check(chosen: tuple[Patch, ...]) -> None:
    """PatchTargetError listing every patch whose target is gone or no longer used."""
    found = [f"{patch.name}: {problem}" for patch in chosen for problem in patch.problems()]
    if found:
        raise PatchTargetError(
            f"the engine patches do not fit mitmproxy {version.VERSION}:\n  " + "\n  ".join(found)
        )


def apply(extra_headers: ExtraHeaders = list, refused: Refused | None = None) -> None:
    """Check, then patch the engine; `extra_headers` adds headers (the reservation) to pages.

    `refused(peer, status, head)` is told of each head refused unparsed (400, 414, 431).
    Nothing is patched unless every check passes. A second call only updates
    the two callbacks.
    """
    if not STATE.applied:
        check_version(version.VERSION)
        chosen = patches()
        check(chosen)
        for patch in chosen:
            patch.install(STATE)
        STATE.applied = True
    STATE.extra_headers = extra_headers
    STATE.refused = refused


def error_response(status_code: int, message: str = "") -> bytes:
    """The engine's HTTP/1 error page, as bytes; an upstream timeout becomes a 504."""
    return STATE.error_response(status_code, message)
