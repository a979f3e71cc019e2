"""Identity of a request: verified, claimed, spoofed or none, from published checks."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from proxy.errors import OptoutError
from proxy.identity import webbotauth
from proxy.identity.fcrdns import FcrdnsVerifier
from proxy.identity.verify import CLAIMED, NONE, Identification, Verifier
from proxy.model import Agent, Identity, Purpose
from proxy.ruleset import Ruleset

NOW = 1_800_000_000
AGENT_URL = "https://agent.example"
KEY = Ed25519PrivateKey.generate()


def _agent(name: str, **verify: tuple[str, ...] | bool) -> Agent:
    return Agent(name, "Op", Purpose.AI_TRAINING, (name,), (name,), "https://x", **verify)  # type: ignore[arg-type]


GPTBOT = _agent("GPTBot", ip_ranges=("openai-gptbot",))
GOOGLEBOT = _agent("Googlebot", ip_ranges=("googlebot",), rdns_domains=("googlebot.com",))
YANDEX = _agent("YandexBot", rdns_domains=("yandex.ru",))
SIGNER = _agent("SignerBot", signature_agents=(AGENT_URL,))
PLAIN = _agent("PlainBot")
CONTROL = _agent("Google-Extended", control_token=True)


class FakeDns:
    """PTR and forward records; `slow` answers never come."""

    def __init__(self, ptr: dict[str, list[str]], forward: dict[str, list[str]]) -> None:
        self.ptr_records, self.forward = ptr, forward
        self.calls = 0
        self.slow = False

    async def ptr(self, ip: str) -> list[str]:
        self.calls += 1
        if self.slow:
            import asyncio

            await asyncio.sleep(10)
        return self.ptr_records.get(ip, [])

    async def addresses(self, name: str) -> list[str]:
        return self.forward.get(name, [])


class FakeKeys:
    def __init__(self, keys: dict[str, Ed25519PublicKey] | None) -> None:
        self._keys = keys
        self.calls = 0

    async def keys(self, agent_url: str) -> dict[str, Ed25519PublicKey]:
        self.calls += 1
        if self._keys is None:
            raise OptoutError("status 404")
        return self._keys


def _keyid(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return webbotauth.jwk_thumbprint({"kty": "OKP", "crv": "Ed25519", "x": x})


def _signed(key: Ed25519PrivateKey = KEY, created: int = NOW - 10) -> webbotauth.SignedRequest:
    params = f'created={created};expires={created + 300};keyid="{_keyid(KEY)}";tag="web-bot-auth"'
    headers = {
        "Signature-Agent": f'a="{AGENT_URL}"',
        "Signature-Input": f'sig1=("@authority" "signature-agent";key="a");{params}',
        "Signature": "sig1=:AAAA:",
    }
    unsigned = webbotauth.parse_request(headers, "GET", "label.example", "/", "https")
    assert unsigned is not None
    signature = base64.b64encode(key.sign(webbotauth.signature_base(unsigned))).decode()
    signed = webbotauth.parse_request(
        {**headers, "Signature": f"sig1=:{signature}:"}, "GET", "label.example", "/", "https"
    )
    assert signed is not None
    return signed


VERIFIED_GPTBOT = Identification(Identity.VERIFIED, "ip-range:openai-gptbot")


def _spoofed(failure: str) -> Identification:
    return Identification(Identity.SPOOFED, None, failure)


@pytest.fixture
def dns() -> FakeDns:
    return FakeDns(
        {"66.249.66.1": ["crawl-66-249-66-1.googlebot.com."],
         "203.0.113.7": ["crawl-203-0-113-7.googlebot.com."],
         "5.255.253.1": ["spider-5-255-253-1.yandex.ru"]},
        {"crawl-66-249-66-1.googlebot.com": ["66.249.66.1"],
         "crawl-203-0-113-7.googlebot.com": ["198.51.100.1"],
         "spider-5-255-253-1.yandex.ru": ["5.255.253.1"]},
    )  # fmt: skip


def _verifier(
    shipped: Ruleset, dns: FakeDns | None = None, keys: FakeKeys | None = None
) -> Verifier:
    fcrdns = FcrdnsVerifier(dns, timeout=0.05) if dns is not None else None
    return Verifier(shipped.ipranges, fcrdns, keys, clock=lambda: NOW)


@pytest.mark.parametrize(
    ("agent", "ip", "expected"),
    [
        (None, "1.2.3.4", NONE),
        (GPTBOT, "20.171.206.7", VERIFIED_GPTBOT),
        (GPTBOT, "::ffff:20.171.206.7", VERIFIED_GPTBOT),
        (GPTBOT, "8.8.8.8", _spoofed("8.8.8.8 is not in openai-gptbot")),
        (GPTBOT, "", _spoofed("the address is not in openai-gptbot")),
        (PLAIN, "8.8.8.8", CLAIMED),
        (YANDEX, "8.8.8.8", CLAIMED),  # reverse DNS is off: nothing we can run
        (CONTROL, "66.249.66.1",
         _spoofed("Google-Extended is a robots.txt token only; no requests are sent under it")),
    ],
)  # fmt: skip
async def test_without_lookups(
    shipped: Ruleset, agent: Agent | None, ip: str, expected: Identification
) -> None:
    verifier = _verifier(shipped)
    assert verifier.quick(agent, ip) == expected
    assert await verifier.identify(agent, ip) == expected


@pytest.mark.parametrize(
    ("agent", "ip", "identity", "method", "failure"),
    [
        (GOOGLEBOT, "66.249.66.1", Identity.VERIFIED, "ip-range:googlebot", None),
        (YANDEX, "5.255.253.1", Identity.VERIFIED, "fcrdns:yandex.ru", None),
        (YANDEX, "8.8.4.4", Identity.SPOOFED, None, "reverse DNS: no PTR"),
        # PTR claims googlebot.com, but the forward lookup does not confirm it
        (GOOGLEBOT, "203.0.113.7", Identity.SPOOFED, None,
         "203.0.113.7 is not in googlebot; reverse DNS: forward lookup"),
    ],
)  # fmt: skip
async def test_with_reverse_dns(
    shipped: Ruleset,
    dns: FakeDns,
    agent: Agent,
    ip: str,
    identity: Identity,
    method: str | None,
    failure: str | None,
) -> None:
    found = await _verifier(shipped, dns).identify(agent, ip)
    assert (found.identity, found.method) == (identity, method)
    if failure is None:
        assert found.failure is None
    else:
        assert found.failure is not None
        assert found.failure.startswith(failure)


async def test_ip_range_hit_needs_no_lookup(shipped: Ruleset, dns: FakeDns) -> None:
    verifier = _verifier(shipped, dns)
    assert verifier.quick(GOOGLEBOT, "66.249.66.1") is not None
    assert verifier.quick(YANDEX, "5.255.253.1") is None  # must wait for DNS
    assert dns.calls == 0


async def test_a_slow_resolver_makes_the_claim_inconclusive_not_spoofed(
    shipped: Ruleset, dns: FakeDns
) -> None:
    dns.slow = True
    found = await _verifier(shipped, dns).identify(YANDEX, "5.255.253.1")
    assert found.identity is Identity.CLAIMED
    assert found.failure is not None
    assert found.failure.startswith("inconclusive: reverse DNS:")


async def test_web_bot_auth(shipped: Ruleset) -> None:
    keys = FakeKeys({_keyid(KEY): KEY.public_key()})
    verifier = _verifier(shipped, keys=keys)
    assert verifier.quick(SIGNER, "1.2.3.4", _signed()) is None
    found = await verifier.identify(SIGNER, "1.2.3.4", _signed())
    assert found == Identification(Identity.VERIFIED, f"web-bot-auth:{AGENT_URL}")


@pytest.mark.parametrize(
    ("signed", "keys", "failure"),
    [
        (None, {}, "no Web Bot Auth signature of https://agent.example"),
        ("other-key", {}, "web bot auth: bad signature"),
        ("expired", {}, "web bot auth: expired"),
        ("good", None, "web bot auth: key directory: status 404"),
    ],
)
async def test_web_bot_auth_failures(
    shipped: Ruleset, signed: str | None, keys: dict[str, object] | None, failure: str
) -> None:
    request = {
        None: None,
        "good": _signed(),
        "other-key": _signed(Ed25519PrivateKey.generate()),
        "expired": _signed(created=NOW - 3600),
    }[signed]
    source = FakeKeys(None if keys is None else {_keyid(KEY): KEY.public_key()})
    found = await _verifier(shipped, keys=source).identify(SIGNER, "1.2.3.4", request)
    assert found.identity is Identity.SPOOFED
    assert found.failure == failure
    assert source.calls == (0 if signed in (None, "expired") else 1)
