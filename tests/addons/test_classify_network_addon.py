"""Classify looks every address up; Verify leaves an undeclared request as it is."""

from __future__ import annotations

from pathlib import Path

from flows import make_flow, pipeline

from addons.classify import Classify
from addons.verify import Verify
from proxy.engine.pipeline import CLASSIFICATION, REQUEST
from proxy.identity.verify import Verifier
from proxy.model import RESIDENTIAL, Classification, Identity, Network
from proxy.ruleset import Ruleset

CHROME = "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"


def _classified(
    shipped: Ruleset, tmp_path: Path, ua: str, peer: str
) -> tuple[Network | None, Classification]:
    pipe = pipeline(shipped, tmp_path)
    pipe.verifier = Verifier(shipped.ipranges)
    flow = make_flow(ua)
    flow.client_conn.peername = (peer, 4711)
    Classify(pipe).requestheaders(flow)
    assert Verify(pipe).requestheaders(flow) is None  # nothing to wait for
    pipe.log.close()
    return flow.metadata[REQUEST].network, flow.metadata[CLASSIFICATION]


def test_chrome_from_gptbot_range_stays_undeclared(shipped: Ruleset, tmp_path: Path) -> None:
    network, found = _classified(shipped, tmp_path, CHROME, "20.171.206.7")
    assert network is not None
    assert (network.crawler_range, network.crawler_operator) == ("openai-gptbot", "OpenAI")
    # The address is in GPTBot's range: verification would have called it verified.
    assert found.identity is Identity.UNDECLARED
    assert found.name == "GPTBot"


def test_gptbot_from_its_range_is_still_verified(shipped: Ruleset, tmp_path: Path) -> None:
    _, found = _classified(shipped, tmp_path, "GPTBot/1.2", "20.171.206.7")
    assert found.identity is Identity.VERIFIED


def test_every_address_gets_a_network(shipped: Ruleset, tmp_path: Path) -> None:
    aws, found = _classified(shipped, tmp_path, CHROME, "::ffff:3.5.140.9")
    assert aws == Network("aws", "S3", "ap-northeast-2")
    assert found.identity is Identity.NONE
    home, _ = _classified(shipped, tmp_path, CHROME, "198.51.100.1")
    assert home == Network(RESIDENTIAL)
