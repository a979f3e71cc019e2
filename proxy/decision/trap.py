"""What the robots.txt trap remembers: flagged clients, and the robots.txt each was served.

A client that fetches the trap path (proxy.config.trap) has shown it ignores
robots.txt. Its address is flagged for the trap's TTL, and so is its JA4 when
the client table names a library or tool: a browser JA4 is shared by every
person using that browser, so flagging it would refuse them too.

Both stores are in memory, bounded (the oldest entry goes first) and owned by
the addons, which live across reloads: a reload keeps the flags.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

TRAP = "trap"  # the flag, as rules match it (`flagged: trap`)
HIT = "hit"  # optout.trap in the record of a request for the trap path
MAX_ENTRIES = 100_000


def address_key(address: str) -> str:
    return f"ip:{address}"


def ja4_key(ja4: str) -> str:
    return f"ja4:{ja4}"


class FlagStore:
    """Flags held against keys (address_key, ja4_key) until they expire."""

    def __init__(
        self, limit: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.clock = clock
        self._until: OrderedDict[tuple[str, str], float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._until)

    def flag(self, keys: Iterable[str], flag: str, ttl: float) -> None:
        until = self.clock() + ttl
        for key in keys:
            self._until.pop((key, flag), None)
            self._until[(key, flag)] = until
        while len(self._until) > self.limit:
            self._until.popitem(last=False)

    def flags(self, keys: Iterable[str]) -> frozenset[str]:
        """The flags in force on any of `keys`; expired ones are dropped as they are met."""
        if not self._until:
            return frozenset()
        now = self.clock()
        found: set[str] = set()
        for key in keys:
            for flag in (TRAP,):
                until = self._until.get((key, flag))
                if until is None:
                    continue
                if until <= now:
                    del self._until[(key, flag)]
                else:
                    found.add(flag)
        return frozenset(found)


@dataclass(frozen=True, slots=True)
class Served:
    sha256: str
    at: str  # the @timestamp of the record that served it


class RobotsSeen:
    """The last robots.txt served to each address: what a trap hit had been told."""

    def __init__(self, limit: int = MAX_ENTRIES) -> None:
        self.limit = limit
        self._last: OrderedDict[str, Served] = OrderedDict()

    def saw(self, address: str, served: Served) -> None:
        self._last.pop(address, None)
        self._last[address] = served
        while len(self._last) > self.limit:
            self._last.popitem(last=False)

    def last(self, address: str) -> Served | None:
        return self._last.get(address)


def trap_fields(served: Served | None) -> dict[str, object]:
    """The record's fields for a trap hit."""
    fields: dict[str, object] = {"trap": HIT}
    if served is not None:
        fields["trap_robots"] = {"sha256": served.sha256, "served_at": served.at}
    return fields
