"""Connection slots: how many clients are served at once, and who loses a slot first.

A slow-headers attack (slowloris) opens connections and sends a request head one
byte at a time; each connection costs a file descriptor (two, once it has an
upstream), and at the descriptor limit the proxy can accept nobody, its admin
port included. nginx bounds this with `client_header_timeout` and
`worker_connections`; so does this module, with one thing more:

- a request head must be complete within `head_timeout` of the connection
  opening: afterwards the connection is answered 408 and closed, however slowly
  bytes keep coming; a kept-alive connection may wait `idle_timeout` after an
  answer for its next request;
- at most `limit` connections are open. A new one beyond that takes the slot of
  the oldest connection still waiting for its head (the attacker's, since a real
  client sends its head at once); only when every connection is busy with a
  request is the newcomer refused. So an attacker cannot crowd out clients that
  send whole requests, however many connections it opens.

Pure bookkeeping, keyed by any hashable connection id; the clock is injected.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

Key = Hashable


@dataclass
class Slots:
    limit: int
    head_timeout: float
    idle_timeout: float
    clock: Callable[[], float]
    # A connection younger than this is never evicted: its head may be on its way
    # while a flood of newer connections arrives (those are refused instead).
    min_wait: float = 1.0
    # Connections waiting for a first head, and kept-alive ones waiting for the
    # next: each in the order they started waiting, with that time.
    _heads: OrderedDict[Key, float] = field(default_factory=OrderedDict)
    _idle: OrderedDict[Key, float] = field(default_factory=OrderedDict)
    _busy: set[Key] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"connection limit {self.limit} must be at least 1")
        if self.head_timeout <= 0 or self.idle_timeout <= 0:
            raise ValueError("the head and idle timeouts must be more than 0")

    @property
    def open(self) -> int:
        return len(self._heads) + len(self._idle) + len(self._busy)

    def opened(self, key: Key) -> tuple[bool, Key | None]:
        """(admit `key`?, the connection to close for it, if one must make room)."""
        evicted: Key | None = None
        if self.open >= self.limit:
            evicted = self._oldest_waiting(self.clock() - self.min_wait)
            if evicted is None:
                return False, None
        self._heads[key] = self.clock()
        return True, evicted

    def head_received(self, key: Key) -> None:
        """A whole request head arrived: the connection is busy, and keeps its slot."""
        if self._heads.pop(key, None) is not None or self._idle.pop(key, None) is not None:
            self._busy.add(key)

    def answered(self, key: Key) -> None:
        """The answer went out; a kept-alive connection now waits for its next request."""
        if key in self._busy:
            self._busy.discard(key)
            self._idle[key] = self.clock()

    def closed(self, key: Key) -> None:
        self._heads.pop(key, None)
        self._idle.pop(key, None)
        self._busy.discard(key)

    def expired(self) -> tuple[list[Key], list[Key]]:
        """(heads overdue, idle connections overdue); forgotten: the caller closes them."""
        return _expire(self._heads, self.clock() - self.head_timeout), _expire(
            self._idle, self.clock() - self.idle_timeout
        )

    def _oldest_waiting(self, since: float) -> Key | None:
        """Forget and return the connection that has waited longest, if one has waited
        since `since`."""
        head = next(iter(self._heads.items()), None)
        idle = next(iter(self._idle.items()), None)
        head = head if head is not None and head[1] <= since else None
        idle = idle if idle is not None and idle[1] <= since else None
        if head is None and idle is None:
            return None
        if idle is None or (head is not None and head[1] <= idle[1]):
            return self._heads.popitem(last=False)[0]
        return self._idle.popitem(last=False)[0]


def _expire(waiting: OrderedDict[Key, float], deadline: float) -> list[Key]:
    late = []
    for key, since in waiting.items():
        if since > deadline:
            break  # in the order they started waiting: the rest are younger
        late.append(key)
    for key in late:
        del waiting[key]
    return late
