"""Build the engine's messages without a type check of every field.

Every request and response the engine builds checks each field against its
annotation (`MessageData.__post_init__`, defined only when Python runs without
-O): a sixth of the CPU of a blocked request. The engine builds these from
parsed bytes, and our addons from literals of the right type, so the check is
skipped, as `python -O` skips it. Under -O there is nothing to patch.

Upstream: no issue or PR found.
"""

from __future__ import annotations

from typing import Any

from mitmproxy import http

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState


def _unchecked(self: Any) -> None:
    """In place of MessageData's field type check: every dataclass __init__ still calls it."""


def skip(post_init: Any, state: PatchState) -> Any:
    return _unchecked


# The dataclass __init__ of each message calls __post_init__ if the class had one.
PATCH = Patch(
    "message fields not type-checked",
    Target(
        http.MessageData,
        "__post_init__",
        used_by=((http.RequestData, "__init__"), (http.ResponseData, "__init__")),
    ),
    skip,
    needed=__debug__,
)
