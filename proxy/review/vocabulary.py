"""What review filters may say, with "did you mean" for a typo.

`logs search --purpose ai-trainig` used to find nothing without a word; a filter
outside the log's vocabulary now fails with the closest words, and an address
that is not one fails too. Lines that are not records are named with file:line
(cheaply: only lines not shaped like a JSON object are decoded).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
from collections.abc import Iterable, Sequence
from pathlib import Path

from proxy.evidence.logfiles import iter_blocks
from proxy.model import Action, Identity, Purpose
from proxy.review.files import ReviewError

# event.action: a verdict's action, or what the proxy did without one
ACTIONS = (*(a.value for a in Action), "error", "log-gap")
VOCABULARY: dict[str, tuple[str, ...]] = {
    "purpose": tuple(p.value for p in Purpose),
    "identity": tuple(i.value for i in Identity),
    "action": ACTIONS,
}
NONE = "-"  # the filter value for "records with none"


def suggest(word: str, choices: Iterable[str]) -> str:
    """ "; did you mean X?" for the closest choice, or ""."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def check_choice(flag: str, value: str | None) -> None:
    """Raise ReviewError when --FLAG's value is not a word the log uses."""
    choices = VOCABULARY[flag]
    if value is None or value == NONE or value in choices:
        return
    raise ReviewError(
        f"--{flag} {value!r} is not a {flag} the log records{suggest(value, choices)} "
        f"(one of {', '.join(choices)}, or '-' for none)"
    )


def check_agent(flag: str, value: str | None, known: Sequence[str]) -> None:
    """An agent name the catalogue does not know, with the closest one."""
    if value is None or value == NONE or value in known:
        return
    lowered = {name.lower(): name for name in known}
    if value.lower() in lowered:
        exact = lowered[value.lower()]
        raise ReviewError(f"--{flag} {value!r}: names are case-sensitive; did you mean {exact}?")
    raise ReviewError(f"--{flag} {value!r} is not an agent of the catalogue{suggest(value, known)}")


def check_ip(value: str | None) -> None:
    """--ip must be an address or a network."""
    if value is None:
        return
    try:
        if "/" in value:
            ipaddress.ip_network(value, strict=False)
        else:
            ipaddress.ip_address(value)
    except ValueError:
        raise ReviewError(f"--ip {value!r} is not an address or a network") from None


def unreadable(files: Sequence[Path], limit: int = 5) -> tuple[list[str], int]:
    """file:line of lines that are not JSON records (the first `limit`), and how many."""
    found: list[str] = []
    count = 0
    for path in files:
        number = 0
        for block in iter_blocks(path):
            if _all_records(block):  # the common case, without a loop over the lines
                number += block.count(b"\n") + 1
                continue
            for raw in block.split(b"\n"):
                number += 1
                line = raw.strip()
                if line.startswith(b"{") and line.endswith(b"}") and _is_object(line):
                    continue
                if not line:
                    continue
                count += 1
                if len(found) < limit:
                    found.append(f"{path}:{number}")
    return found, count


def _all_records(block: bytes) -> bool:
    """Whether every line of the block is shaped like a record: `{` to `}` with an
    "@timestamp" key (no line can hide a newline: it ends the line)."""
    lines = block.count(b"\n") + 1
    return (
        block.startswith(b"{")
        and block.endswith(b"}")
        and block.count(b"}\n{") == lines - 1
        and block.count(b'"@timestamp"') == lines
    )


def _is_object(line: bytes) -> bool:
    if b'"@timestamp"' in line:  # shaped like a record: trust the writer
        return True
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def unreadable_note(files: Sequence[Path]) -> str | None:
    """The warning the review commands print, or None when every line is a record."""
    where, count = unreadable(files)
    if not count:
        return None
    more = f" and {count - len(where)} more" if count > len(where) else ""
    return f"skipped {count} line(s) that are not JSON records: {', '.join(where)}{more}"
