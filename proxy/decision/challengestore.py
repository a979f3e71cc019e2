"""What challenges keep between requests: the signing keys and the answers already used.

Both sit behind a small interface (`KeyStore`, `SpentStore`) so that several
replicas can share them (a Redis store implements the same two methods); the
ones here keep keys in the state dir and spent answers in memory.

Keys rotate by period: the key of period N (`int(now // period)`) signs, and
the keys of N and N-1 are accepted, so a cookie issued just before a rotation
stays valid for its whole lifetime (at most one period). A replica that starts
a period creates its key with O_EXCL; one that loses the race reads the winner's.
Deleting the directory revokes every cookie and challenge in flight.
"""

from __future__ import annotations

import os
import secrets
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

KEY_DIR = "challenge-keys"
KEY_BYTES = 32
PERIOD = 7 * 24 * 3600  # rule ttls are at most this (proxy.config.challenge.MAX_TTL)
MAX_SPENT = 50_000


class KeyStore(Protocol):
    def signing_key(self, now: float) -> tuple[str, bytes]:
        """The id and bytes of the key that signs at `now`, created if need be."""
        ...

    def key(self, key_id: str, now: float) -> bytes | None:
        """The key `key_id` if it is accepted at `now` (the current or previous period)."""
        ...


class SpentStore(Protocol):
    def spend(self, answer_id: str, until: float, now: float) -> bool:
        """True the first time `answer_id` is spent; it is remembered until `until`."""
        ...


class StateDirKeys:
    """Keys as files `<state>/challenge-keys/<period>.key` (mode 0600)."""

    def __init__(self, state_dir: Path, period: int = PERIOD) -> None:
        self.directory = state_dir / KEY_DIR
        self.period = period
        self._cache: dict[int, bytes | None] = {}

    def signing_key(self, now: float) -> tuple[str, bytes]:
        epoch = int(now // self.period)
        key = self._cache.get(epoch)
        if key is None:
            key = self._cache[epoch] = self._load_or_create(epoch)
            self._forget(epoch)
        return str(epoch), key

    def key(self, key_id: str, now: float) -> bytes | None:
        if not key_id.isdigit() or len(key_id) > 12:
            return None
        epoch, current = int(key_id), int(now // self.period)
        if epoch == current:  # whichever replica made it first: the same file for all
            return self.signing_key(now)[1]
        if epoch != current - 1:
            return None
        if epoch not in self._cache:  # nobody makes a past period's key: read once
            self._cache[epoch] = self._read(epoch)
        return self._cache[epoch]

    def _read(self, epoch: int) -> bytes | None:
        try:
            key = (self.directory / f"{epoch}.key").read_bytes()
        except FileNotFoundError:
            return None
        if len(key) < 16:
            raise ValueError(f"{self.directory / f'{epoch}.key'} holds {len(key)} bytes, not 32")
        return key

    def _load_or_create(self, epoch: int) -> bytes:
        existing = self._read(epoch)
        if existing is not None:
            return existing
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(KEY_BYTES)
        temporary = self.directory / f".{epoch}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:  # link, not rename: the first replica's key wins, whole or not at all
            os.link(temporary, self.directory / f"{epoch}.key")
        except FileExistsError:
            key = self._read(epoch) or key
        finally:
            temporary.unlink()
        return key

    def _forget(self, current: int) -> None:
        """Drop keys older than the previous period, from memory and disk."""
        for epoch in [e for e in self._cache if e < current - 1]:
            del self._cache[epoch]
        for path in self.directory.glob("*.key"):
            if path.stem.isdigit() and int(path.stem) < current - 1:
                path.unlink(missing_ok=True)


class SpentAnswers:
    """Answer ids already used, each until its challenge expires, at most `limit` of them.

    When full, the oldest goes first. Replaying an answer that fell out gains
    nothing a client did not have: its challenge is bound to the same network and
    user agent, so it only buys the cookie the first answer bought.
    """

    def __init__(self, limit: int = MAX_SPENT) -> None:
        self.limit = limit
        self._until: OrderedDict[str, float] = OrderedDict()

    def spend(self, answer_id: str, until: float, now: float) -> bool:
        while self._until:
            oldest, expires = next(iter(self._until.items()))
            if expires > now and len(self._until) < self.limit:
                break
            del self._until[oldest]
        if answer_id in self._until:
            return False
        self._until[answer_id] = until
        return True

    def __len__(self) -> int:
        return len(self._until)


class MemoryKeys:
    """Keys kept in memory only (tests, `optout classify`): the same periods as StateDirKeys."""

    def __init__(self, period: int = PERIOD) -> None:
        self.period = period
        self._keys: dict[int, bytes] = {}

    def signing_key(self, now: float) -> tuple[str, bytes]:
        epoch = int(now // self.period)
        key = self._keys.setdefault(epoch, secrets.token_bytes(KEY_BYTES))
        return str(epoch), key

    def key(self, key_id: str, now: float) -> bytes | None:
        if not key_id.isdigit() or len(key_id) > 12:
            return None
        epoch, current = int(key_id), int(now // self.period)
        return self._keys.get(epoch) if epoch in (current, current - 1) else None
