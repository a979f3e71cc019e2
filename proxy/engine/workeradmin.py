"""The supervisor's admin endpoints (`--workers N`): the same four as one process's.

    GET  /healthz   200 "ok": the supervisor is alive
    GET  /readyz    200 when every worker is running and its own /readyz is 200;
                    503 naming the first worker that is not, and while shutting down
    GET  /metrics   every worker's metrics merged as one process's (proxy.ops.metricsmerge),
                    plus optout_workers, optout_workers_ready, optout_worker_restarts_total
    POST /reload    every worker reloads; 200 if all loaded the rules, 422 otherwise

The same tokens guard them as in one process (--admin-token-file,
--metrics-token-file). Each worker's own admin port listens on loopback with a
token only the supervisor knows, which it uses to ask them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from proxy.engine.admin import json_response, refusal, reload_refusal
from proxy.ops.metricsmerge import merge, parse, render

if TYPE_CHECKING:
    from proxy.engine.supervisor import Slot, Supervisor

ASK_TIMEOUT = 3.0  # seconds a worker has to answer the supervisor (a reload: RELOAD_TIMEOUT)
RELOAD_TIMEOUT = 60.0


class WorkersAdmin:
    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                headers={"authorization": f"Bearer {self.supervisor.token}"}
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(self, request: web.Request) -> web.Response:
        problem = await self._readiness()
        if problem:
            return web.Response(status=503, text=problem + "\n")
        return web.Response(text="ready\n")

    async def _readiness(self) -> str | None:
        if self.supervisor.draining:
            return "shutting down"
        slots = self.supervisor.slots
        for slot in slots:
            if not slot.ready:
                return f"worker {slot.worker} is not running (restarting)"
        answers = await asyncio.gather(*(self._ask(slot, "get", "/readyz") for slot in slots))
        for slot, (status, text) in zip(slots, answers, strict=True):
            if status != 200:
                return f"worker {slot.worker}: {text.strip() or 'no answer'}"
        return None

    async def metrics_text(self, request: web.Request) -> web.Response:
        token = self.supervisor.settings.metrics_token
        if (refused := refusal(request, token, "optout-metrics")) is not None:
            return refused
        await self.scrape()
        slots = self.supervisor.slots
        merged = merge([*(slot.last for slot in slots), self.supervisor.totals.retired])
        body = render(merged, _WorkerCollector(self.supervisor))
        return web.Response(body=body, headers={"content-type": CONTENT_TYPE_LATEST})

    async def scrape(self) -> None:
        """Every ready worker's metrics into its slot; a worker that does not answer keeps
        what was scraped from it last."""
        slots = [slot for slot in self.supervisor.slots if slot.ready]
        answers = await asyncio.gather(*(self._ask(slot, "get", "/metrics") for slot in slots))
        for slot, (status, text) in zip(slots, answers, strict=True):
            if status == 200 and slot.ready:
                try:
                    slot.last = parse(text)
                except ValueError:
                    pass

    async def reload(self, request: web.Request) -> web.Response:
        if (refused := reload_refusal(request, self.supervisor.settings.admin_token)) is not None:
            return refused
        slots = self.supervisor.slots
        answers = await asyncio.gather(
            *(self._ask(slot, "post", "/reload", RELOAD_TIMEOUT) for slot in slots)
        )
        workers: list[dict[str, Any]] = []
        for slot, (status, text) in zip(slots, answers, strict=True):
            workers.append({"worker": slot.worker, **_reply(status, text)})
        ok = all(w.get("ok") for w in workers)
        versions = [w["version"] for w in workers if "version" in w]
        body: dict[str, Any] = {"ok": ok, "version": versions[0] if versions else None}
        failed = next((w for w in workers if not w.get("ok")), None)
        if failed is not None:
            body["errors"] = failed.get("errors") or [failed.get("error", "no answer")]
        body["workers"] = workers
        return json_response(200 if ok else 422, body)

    async def _ask(
        self, slot: Slot, method: str, path: str, wait: float = ASK_TIMEOUT
    ) -> tuple[int, str]:
        """(status, body) of a worker's admin endpoint; (0, why) when it cannot answer."""
        if not slot.ready or not slot.admin:
            return 0, f"worker {slot.worker} is not running (restarting)"
        try:
            async with self.session.request(
                method, slot.admin + path, timeout=aiohttp.ClientTimeout(total=wait)
            ) as reply:
                return reply.status, await reply.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            return 0, f"worker {slot.worker} did not answer: {e.__class__.__name__}"


def _reply(status: int, text: str) -> dict[str, Any]:
    if status == 0:
        return {"ok": False, "error": text}
    try:
        found = json.loads(text)
    except ValueError:
        return {"ok": False, "error": f"status {status}"}
    return found if isinstance(found, dict) else {"ok": False, "error": f"status {status}"}


class _WorkerCollector(Collector):
    """The supervisor's own figures: workers configured, ready, and restarts per worker."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        slots = self.supervisor.slots
        yield GaugeMetricFamily("optout_workers", "Worker processes configured.", len(slots))
        yield GaugeMetricFamily(
            "optout_workers_ready",
            "Worker processes running and ready.",
            sum(slot.ready for slot in slots),
        )
        restarts = CounterMetricFamily(
            "optout_worker_restarts", "Workers restarted after they ended.", labels=("worker",)
        )
        for slot in slots:
            restarts.add_metric((str(slot.worker),), slot.restarts)
        yield restarts
