"""The values that flow through the pipeline: request → classify → decide → act → signals → log.

All of them are immutable, so one step can never change what an earlier step decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from proxy.prices import Price


class Purpose(StrEnum):
    """What an agent does with what it fetches; rules match on it."""

    AI_TRAINING = "ai-training"
    AI_SEARCH = "ai-search"
    AI_ASSISTANT = "ai-assistant"
    SEARCH = "search"
    PREVIEW = "preview"
    FEED = "feed"
    ARCHIVER = "archiver"
    SEO = "seo"
    MONITORING = "monitoring"
    OTHER = "other"


# When a user agent names several known agents, the one whose purpose comes first
# here wins: adding "Googlebot" to a GPTBot user agent must not hide GPTBot.
PURPOSE_RANK: dict[Purpose, int] = {p: i for i, p in enumerate(Purpose)}


class Identity(StrEnum):
    """How far a request's claim to be an agent is established."""

    VERIFIED = "verified"
    CLAIMED = "claimed"
    SPOOFED = "spoofed"
    # From an address in an operator's published crawler range, with a user agent
    # that names none of that operator's agents (a browser string from GPTBot's range).
    UNDECLARED = "undeclared"
    NONE = "none"


class Action(StrEnum):
    """What the proxy does with a request."""

    ALLOW = "allow"
    BLOCK = "block"
    CHARGE = "charge"  # 402 with a price; a verified crawler that accepts it is let through
    THROTTLE = "throttle"  # 429 over a rate
    LICENCE = "licence"  # a valid licence token is required; 401 without one
    CHALLENGE = "challenge"  # a browser must solve a proof-of-work (proxy.decision.challenge)


@dataclass(frozen=True, slots=True)
class Agent:
    """One crawler or fetcher of the catalogue (rules/agents/*.yaml)."""

    name: str
    operator: str
    purpose: Purpose
    user_agents: tuple[str, ...]
    robots_tokens: tuple[str, ...]
    url: str
    description: str = ""
    ip_ranges: tuple[str, ...] = ()
    rdns_domains: tuple[str, ...] = ()
    signature_agents: tuple[str, ...] = ()  # Web Bot Auth Signature-Agent origins
    control_token: bool = False


@dataclass(frozen=True, slots=True)
class Network:
    """Where a client address is: a cloud or hosting provider, a crawler range, or neither."""

    provider: str  # "aws", "hetzner", …; RESIDENTIAL when no published range holds the address
    service: str | None = None
    region: str | None = None
    crawler_range: str | None = None  # the crawler range snapshot holding it ("openai-gptbot")
    crawler_operator: str | None = None  # the operator publishing that range


RESIDENTIAL = "residential/unknown"


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """What the core needs to know about a request; built by the engine adapter."""

    method: str
    host: str
    path: str
    user_agent: str
    client_ip: str = ""
    accept: str = ""
    network: Network | None = None  # None: not looked up
    # consistency checks that fired ("ua-tls-mismatch"), and behaviour ("high-rate")
    signals: frozenset[str] = frozenset()
    flagged: frozenset[str] = frozenset()  # flags held against this client ("trap")
    ja4: str = ""  # the TLS client's JA4 fingerprint, where known
    client_family: str = ""  # the client software the fingerprint belongs to, where known
    tls_version: str = ""  # "1.3": the TLS version the client connected with, "" without TLS
    server_name: str = ""  # the SNI the client sent


@dataclass(frozen=True, slots=True)
class Classification:
    """Which agent a request claims to be, and how far that is established."""

    agent: Agent | None
    identity: Identity
    method: str | None = None  # how a verified identity was established
    failure: str | None = None  # what failed, for spoofed or inconclusive claims

    @property
    def name(self) -> str | None:
        return self.agent.name if self.agent else None


@dataclass(frozen=True, slots=True)
class ChallengeSpec:
    """What a `challenge` rule asks of a client (proxy.config.challenge parses it)."""

    difficulty: int = 16  # leading zero bits of SHA-256 the proof-of-work must reach
    nojs_delay: int | None = None  # seconds the no-JavaScript path waits; None: not offered
    ttl: int = 24 * 3600  # seconds a passed client's cookie is valid
    ipv4_prefix: int = 24  # the cookie is bound to the client's network of this width
    ipv6_prefix: int = 48
    non_html: str = "refuse"  # requests that cannot show the page: refuse (403), allow, page


@dataclass(frozen=True, slots=True)
class Verdict:
    """The decision for one request, named after the rule that made it."""

    action: Action
    rule: str
    price: Price | None = None  # charge: what a crawler pays per request
    rate: tuple[float, int] | None = None  # throttle: (requests per second, burst)
    per_client: bool = False  # throttle: one bucket per agent and client address
    licensee: str | None = None  # allowed by a valid licence held by this licensee
    challenge: ChallengeSpec | None = None  # challenge: what the client must solve
