"""The addons with a shared store: two pipelines over one store act as two processes would.

MemoryState stands in for Redis here (tests/store/test_shared_redis.py and
tests/e2e/test_redis_replicas.py run the real one): what is tested is that the
addons take their tokens, flags and charge counts from `pipeline.shared`.
"""

from __future__ import annotations

import inspect
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mitmproxy import http
from mitmproxy.test import tflow, tutils
from paths import RULES

from addons import default_addons
from addons.charge import Charge
from proxy.engine.pipeline import CHARGED, OUTCOME, REQUEST, VERDICT, Pipeline
from proxy.model import Action, Verdict
from proxy.prices import Price
from proxy.ruleset import Ruleset, load_rules
from proxy.store.logwriter import LogWriter
from proxy.store.shared import MemoryState

TRAP = "/hidden-b2"
RULES_ADDED = (
    "  - {name: slow-covers, path: /cover.png, action: throttle, rate: 1/min burst 2}\n"
    "  - {name: paid-pages, path: /paid, action: charge, price: USD 0.01}\n"
)
UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture(scope="module")
def ruleset(tmp_path_factory: pytest.TempPathFactory) -> Ruleset:
    rules = shutil.copytree(RULES, tmp_path_factory.mktemp("shared") / "rules")
    policy = (rules / "policy.yaml").read_text().replace("\nrules:\n", "\nrules:\n" + RULES_ADDED)
    (rules / "policy.yaml").write_text(policy + f"\ntrap:\n  path: {TRAP}\n  ttl: 1h\n")
    return load_rules(rules)


@pytest.fixture
def pipelines(ruleset: Ruleset, tmp_path: Path) -> tuple[Pipeline, Pipeline, MemoryState]:
    shared = MemoryState()
    made = [
        Pipeline(
            ruleset,
            LogWriter(str(tmp_path / f"access-{i}.jsonl")),
            ledger=LogWriter(str(tmp_path / f"ledger-{i}.jsonl")),
            shared=shared,
        )
        for i in range(2)
    ]
    return made[0], made[1], shared


def _flow(path: str, **headers: str) -> http.HTTPFlow:
    flow = tflow.tflow(req=tutils.treq(path=path.encode(), headers=()))
    flow.request.headers["host"] = "label.example"
    flow.request.headers["user-agent"] = UA
    for name, value in headers.items():
        flow.request.headers[name.replace("_", "-")] = value
    return flow


async def _requestheaders(addons: list[Any], flow: http.HTTPFlow) -> None:
    for addon in addons:
        hook = getattr(addon, "requestheaders", None)
        if hook is None or flow.response is not None:
            continue
        result = hook(flow)
        if inspect.isawaitable(result):  # awaited as the engine does
            await result


async def test_two_processes_take_from_one_bucket(pipelines: Any) -> None:
    first, second, _ = pipelines
    chains = [default_addons(first), default_addons(second)]
    outcomes = []
    for i in range(4):
        flow = _flow("/cover.png")
        await _requestheaders(chains[i % 2], flow)
        outcomes.append(flow.metadata[OUTCOME])
        if flow.response is not None:
            assert flow.response.status_code == 429
            assert int(flow.response.headers["retry-after"]) >= 1
    assert outcomes == ["allowed", "allowed", "throttled", "throttled"]


async def test_a_trap_sprung_in_one_process_flags_the_client_in_the_other(
    pipelines: Any,
) -> None:
    first, second, _ = pipelines
    one, other = default_addons(first), default_addons(second)
    await _requestheaders(one, _flow(TRAP))
    flow = _flow("/page")
    await _requestheaders(other, flow)
    assert flow.metadata[REQUEST].flagged == {"trap"}
    assert flow.response is not None
    assert flow.response.status_code == 403


async def test_each_charge_is_counted_in_the_shared_store(pipelines: Any) -> None:
    first, second, shared = pipelines
    price = Price("USD", Decimal("0.01"))
    for pipeline in (first, second):
        flow = _flow("/paid")
        await _requestheaders(default_addons(pipeline), flow)  # classified, as in the engine
        # What Decide leaves for a verified crawler that accepted the price:
        flow.metadata[VERDICT] = Verdict(Action.CHARGE, "paid-pages", price=price)
        flow.metadata[CHARGED] = price
        flow.response = tutils.tresp(status_code=200)
        result = Charge(pipeline).response(flow)
        assert inspect.isawaitable(result)
        await result
        pipeline.ledger.close()
        assert pipeline.ledger.written == 1  # each process keeps its own ledger
    assert shared.charges == {("paid-pages", "", "USD"): (2, 20_000)}


async def test_an_error_answer_is_neither_charged_nor_counted(pipelines: Any) -> None:
    first, _, shared = pipelines
    price = Price("USD", Decimal("0.01"))
    flow = _flow("/paid")
    await _requestheaders(default_addons(first), flow)
    flow.metadata[VERDICT] = Verdict(Action.CHARGE, "paid-pages", price=price)
    flow.metadata[CHARGED] = price
    flow.response = tutils.tresp(status_code=502)
    assert Charge(first).response(flow) is None
    assert shared.charges == {}
