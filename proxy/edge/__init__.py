"""The edge: what arrives on the wire is checked and put in one form before anything judges it.

A request target and its Host can name one resource in many spellings
(`/%70rivate`, `/a/../private`, `//private`, `Host: label.example.`), and an
origin resolves them all to the same file. If the rules judged the spelling and
the origin served the file, every rule could be walked around. So the target and
the Host are normalised once, first of all: every rule, the log and the upstream
see the same form. What cannot be put in one form unambiguously is refused with
400 (`BadRequest`, carrying the reason).

Pure functions on bytes and text; the `Edge` addon applies them to the flow.
"""

from __future__ import annotations

from proxy.edge.errors import BadRequest
from proxy.edge.host import checked_host, normalise_host
from proxy.edge.target import Target, normalise_path, normalise_target

__all__ = [
    "BadRequest",
    "Target",
    "checked_host",
    "normalise_host",
    "normalise_path",
    "normalise_target",
]
