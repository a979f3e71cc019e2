"""Throttle takes sent to Redis in batches: one pipeline for all the takes of a moment.

One round trip per request, each on its own pooled connection, costs a burst
of N requests N connections' setup and N round trips, all on the event loop
that also serves the requests; under a burst that is what makes calls miss
their deadline. Here every take made while the previous batch is on the wire
waits for the next one: one `EVALSHA` per take, all in one pipeline on one
connection, answered in order. A caller's own deadline (proxy.store.redisstate)
still bounds its wait; a take whose caller gave up is answered and dropped.

The script is loaded once (`SCRIPT LOAD`) and again after Redis answers
NOSCRIPT, as a restarted Redis does.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

MAX_BATCH = 500

_Take = tuple[str, float, int, "asyncio.Future[Any]"]


class ScriptBatcher:
    """Runs one Lua script (1 key, 2 arguments) for many callers, a batch at a time."""

    def __init__(self, client: Redis, script: str) -> None:
        self.client = client
        self.script = script
        self.sha = hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()
        self._pending: list[_Take] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # sent, for the tests and the bench

    async def call(self, key: str, rate: float, burst: int) -> Any:
        """The script's answer for `key`; raises what the round trip raised."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((key, rate, burst, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._send())
        return await future

    async def _send(self) -> None:
        await asyncio.sleep(0)  # the takes of this moment join the first batch
        while self._pending:
            batch = self._pending[:MAX_BATCH]
            del self._pending[:MAX_BATCH]
            live = [take for take in batch if not take[3].done()]  # callers that still wait
            if not live:
                continue
            try:
                results = await self._run(live)
            except Exception as e:  # every waiting caller falls back on its own
                for *_, future in live:
                    if not future.done():
                        future.set_exception(e)
                continue
            for (*_, future), result in zip(live, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _run(self, batch: list[_Take]) -> list[Any]:
        results = await self._pipeline(batch)
        if any(isinstance(r, NoScriptError) for r in results):
            await self.client.script_load(self.script)  # a restarted Redis forgot it
            results = await self._pipeline(batch)
        self.batches += 1
        return results

    async def _pipeline(self, batch: list[_Take]) -> list[Any]:
        async with self.client.pipeline(transaction=False) as pipe:
            for key, rate, burst, _ in batch:
                pipe.execute_command("EVALSHA", self.sha, 1, key, rate, burst)
            return list(await pipe.execute(raise_on_error=False))
