"""Who is really asking: verify a claimed agent against what its operator publishes.

    verified  the agent's published check passed: the address is in its IP ranges,
              forward-confirmed reverse DNS ends under its documented domain, or
              the request carries a valid Web Bot Auth signature of its agent
    spoofed   the operator publishes a check and this request fails it (and any
              request naming a robots.txt-only token such as Google-Extended)
    claimed   nothing published that we can run, or a check was inconclusive
              (a DNS timeout must not turn a real crawler into a "spoofed" one)
    none      no known agent claimed

`quick()` answers without waiting whenever it can (no agent, an IP-range hit, no
DNS or signature to consult), so only requests that need a lookup wait for one.
The lookups themselves are injected (an FcrdnsVerifier, a key source), so this
module does no I/O of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.identity import webbotauth
from proxy.identity.fcrdns import FcrdnsVerifier
from proxy.identity.ipranges import IpRanges
from proxy.model import Agent, Identity

MAX_SIGNATURE_VALIDITY = 86400  # the Web Bot Auth draft recommends at most 24 hours


@dataclass(frozen=True, slots=True)
class Identification:
    identity: Identity
    method: str | None = None  # how it was verified: "ip-range:openai-gptbot", ...
    failure: str | None = None  # what failed, for spoofed (or inconclusive) requests


NONE = Identification(Identity.NONE)
CLAIMED = Identification(Identity.CLAIMED)


class KeySource(Protocol):
    """Fetches the Ed25519 keys of a Signature-Agent; raises OptoutError when it cannot."""

    async def keys(self, agent_url: str) -> dict[str, Ed25519PublicKey]: ...


class Verifier:
    def __init__(
        self,
        ipranges: IpRanges,
        fcrdns: FcrdnsVerifier | None = None,
        keys: KeySource | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ipranges = ipranges
        self.fcrdns = fcrdns
        self.keys = keys
        self.clock = clock

    def quick(
        self, agent: Agent | None, ip: str, signed: webbotauth.SignedRequest | None = None
    ) -> Identification | None:
        """The answer if it needs no lookup; None when `identify` must be awaited."""
        if agent is None:
            return NONE
        if agent.control_token:
            reason = f"{agent.name} is a robots.txt token only; no requests are sent under it"
            return Identification(Identity.SPOOFED, None, reason)
        for name in agent.ip_ranges:
            if self.ipranges.match(name, ip):
                return Identification(Identity.VERIFIED, f"ip-range:{name}")
        if self._signature_applies(agent, signed) or self._dns_applies(agent):
            return None
        return self._conclude(agent, ip, [], inconclusive=False)

    async def identify(
        self, agent: Agent | None, ip: str, signed: webbotauth.SignedRequest | None = None
    ) -> Identification:
        found = self.quick(agent, ip, signed)
        if found is not None or agent is None:
            return found or NONE
        failures: list[str] = []
        inconclusive = False
        if signed is not None and self._signature_applies(agent, signed):
            result = await self.signature(signed)
            if result.ok:
                return Identification(Identity.VERIFIED, f"web-bot-auth:{result.agent}")
            failures.append(f"web bot auth: {result.reason}")
        if self.fcrdns is not None and agent.rdns_domains:
            dns = await self.fcrdns.check(ip, agent.rdns_domains)
            if dns.ok:
                return Identification(Identity.VERIFIED, f"fcrdns:{dns.domain}")
            failures.append(f"reverse DNS: {dns.reason}")
            inconclusive = dns.inconclusive
        return self._conclude(agent, ip, failures, inconclusive)

    async def signature(self, signed: webbotauth.SignedRequest) -> webbotauth.WbaResult:
        """Verify a Web Bot Auth signature, fetching its agent's keys when needed."""
        now = self.clock()
        early = webbotauth.precheck(signed, now, max_validity=MAX_SIGNATURE_VALIDITY)
        if early is not None:
            return early
        if self.keys is None or signed.agent is None:
            return webbotauth.WbaResult(False, signed.agent, signed.keyid, "no key source")
        try:
            keys = await self.keys.keys(signed.agent)
        except Exception as e:  # noqa: BLE001 - a fetch failure is a verification failure
            return webbotauth.WbaResult(False, signed.agent, signed.keyid, f"key directory: {e}")
        return webbotauth.verify(signed, keys, now, max_validity=MAX_SIGNATURE_VALIDITY)

    def _signature_applies(self, agent: Agent, signed: webbotauth.SignedRequest | None) -> bool:
        return (
            self.keys is not None
            and signed is not None
            and signed.agent is not None
            and signed.agent in agent.signature_agents
        )

    def _dns_applies(self, agent: Agent) -> bool:
        return self.fcrdns is not None and bool(agent.rdns_domains)

    def _conclude(
        self, agent: Agent, ip: str, failures: list[str], inconclusive: bool
    ) -> Identification:
        """Spoofed when a check we could run failed; claimed when there was none."""
        checks = list(failures)
        if agent.ip_ranges:
            checks.insert(0, f"{ip or 'the address'} is not in {', '.join(agent.ip_ranges)}")
        if agent.signature_agents and self.keys is not None:
            if not any(f.startswith("web bot auth") for f in failures):
                checks.append(f"no Web Bot Auth signature of {', '.join(agent.signature_agents)}")
        if not checks:
            return CLAIMED
        if inconclusive:
            return Identification(Identity.CLAIMED, None, "inconclusive: " + "; ".join(checks))
        return Identification(Identity.SPOOFED, None, "; ".join(checks))
