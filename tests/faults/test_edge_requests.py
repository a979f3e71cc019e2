"""Issue 15, findings 1, 2 and 4: no spelling of a path or Host walks around the rules.

Each test starts the real proxy in front of an upstream that records the target
and head it received. The proxy must judge the path and Host the upstream then
serves: a rule for /private/ holds against every spelling an origin resolves to
/private/, no dot segment leads out of an always-free prefix, a host rule holds
against `archive.label.example.`, and a request naming two hosts gets 400
(as nginx answers it) without reaching the upstream.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e.harness import ROOT, Proxy, start_proxy
from faulty import TIMEOUT_ENV, Faulty, kill, raw_exchange

from proxy.licensing import tokens as licence

GPTBOT = "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"

PRIVATE_RULES = (
    "  - {name: block-private, path: /private/, action: block}\n"
    "  - {name: block-secret, path: /secret.html$, action: block}\n"
)
# Finding 2's spellings of /private/x, each of which reached the file through nginx.
PRIVATE = [
    b"/%70rivate/x",
    b"//private/x",
    b"/./private/x",
    b"/a/../private/x",
    b"/a/%2e%2e/private/x",
    b"/%2e/private/x",
    b"/private%2fx",
    b"/%2570rivate/../private/x",
    b"/private/x#frag",
]
SECRET = [b"/%73ecret.html", b"/secret.htm%6c", b"/secret.html#x", b"/./secret.html"]
ARCHIVE_RULE = "  - {name: block-archive, host: archive.label.example, action: block}\n"


def rules_with(tmp: Path, rules: str, before: str = "") -> Path:
    """The shipped rules with `rules` (YAML list items) first, and `before` above `rules:`."""
    copy = tmp / "rules"
    shutil.copytree(ROOT / "rules", copy)
    policy = copy / "policy.yaml"
    policy.write_text(policy.read_text().replace("rules:\n", f"{before}rules:\n{rules}", 1))
    return copy


async def start_with(upstream_url: str, tmp: Path, rules: str, before: str = "") -> Proxy:
    return await start_proxy(
        upstream_url, tmp, rules=rules_with(tmp, rules, before), env=TIMEOUT_ENV
    )


async def get(
    proxy: Proxy,
    target: bytes,
    ua: str = BROWSER,
    hosts: tuple[bytes, ...] = (b"label.example",),
    extra: bytes = b"",
) -> tuple[int, bytes]:
    """GET `target` exactly as written, on its own connection: (status, the whole answer)."""
    fields = b"".join(b"Host: %s\r\n" % host for host in hosts)
    head = b"GET %s HTTP/1.1\r\n%sUser-Agent: %s\r\n%sConnection: close\r\n\r\n" % (
        target,
        fields,
        ua.encode(),
        extra,
    )
    answer = await raw_exchange(proxy.url, head)
    return int(answer.split(b" ", 2)[1]), answer


@pytest.fixture
async def private(upstream: Faulty, tmp_path: Path) -> AsyncIterator[Proxy]:
    proxy = await start_with(upstream.url, tmp_path, PRIVATE_RULES)
    yield proxy
    await kill(proxy)


async def test_an_always_free_prefix_cannot_be_walked_out_of(
    proxy: Proxy, upstream: Faulty
) -> None:
    """The shipped policy, GPTBot: /.well-known/../music/a.html is /music/a.html, blocked."""
    dotted = await get(proxy, b"/.well-known/../music/a.html", GPTBOT)
    encoded = await get(proxy, b"/.well-known/%2e%2e/music/a.html", GPTBOT)
    slashed = await get(proxy, b"/.well-known/..%2fmusic/a.html", GPTBOT)
    assert [dotted[0], encoded[0], slashed[0]] == [403, 403, 400]
    assert upstream.requests == []
    records = await proxy.stop()
    assert [(r["url"]["path"], r["optout"]["rule"]) for r in records[:2]] == [
        ("/music/a.html", "block-spoofed"),  # judged on the path the origin would serve
        ("/music/a.html", "block-spoofed"),
    ]
    assert records[2]["optout"]["rule"] == "edge/encoded-slash"
    assert all(r["optout"]["agent"] == "GPTBot" for r in records)


async def test_every_spelling_of_a_blocked_path_is_blocked(
    private: Proxy, upstream: Faulty
) -> None:
    statuses = [(await get(private, target))[0] for target in PRIVATE + SECRET]
    assert all(status in (403, 400) for status in statuses), statuses
    assert statuses[PRIVATE.index(b"/private%2fx")] == 400
    assert upstream.requests == []
    records = await private.stop()
    assert len(records) == len(PRIVATE) + len(SECRET)
    rules = {r["optout"]["rule"] for r in records}
    assert rules == {"block-private", "block-secret", "edge/encoded-slash"}


async def test_the_upstream_receives_the_path_that_was_judged(
    private: Proxy, upstream: Faulty
) -> None:
    status, _ = await get(private, b"/a/%2e%2e//%70ublic/./%c3%a9%3b?q=/../%2f#frag")
    assert status == 200
    assert upstream.requests == ["/public/%C3%A9%3B?q=/../%2f"]
    (record,) = await private.stop()
    assert (record["url"]["path"], record["url"]["query"]) == ("/public/%C3%A9%3B", "q=/../%2f")


async def test_a_400_is_answered_by_the_proxy_with_the_reservation_and_logged(
    private: Proxy, upstream: Faulty
) -> None:
    status, answer = await get(private, b"/a/..%5cprivate/x?q=1")
    assert status == 400
    assert b"tdm-reservation: 1" in answer
    assert b"mitmproxy" not in answer.lower()
    assert upstream.requests == []
    (record,) = await private.stop()
    assert record["http"]["response"]["status_code"] == 400
    assert record["optout"]["rule"] == "edge/encoded-backslash"
    assert record["optout"]["outcome"] == "refused"
    assert record["optout"]["notes"] == ["an encoded '\\' (%5C) in the path"]
    assert record["url"]["path"] == "/a/..%5cprivate/x"  # as sent: it has no one form
    assert "tdm-reservation" in record["optout"]["signals"]


@pytest.fixture
def key() -> licence.Ed25519PrivateKey:
    return licence.generate_key()


@pytest.fixture
async def licensed(
    upstream: Faulty, tmp_path: Path, key: licence.Ed25519PrivateKey
) -> AsyncIterator[Proxy]:
    keys = f'licences:\n  public_keys: ["{licence.public_key_text(key)}"]\n\n'
    rules = "  - {name: licensed-training, agent: GPTBot, action: licence}\n"
    proxy = await start_with(upstream.url, tmp_path, rules, keys)
    yield proxy
    await kill(proxy)


async def test_a_licence_path_scope_compares_the_normalised_path(
    licensed: Proxy, upstream: Faulty, key: licence.Ed25519PrivateKey
) -> None:
    expires = datetime.now(UTC) + timedelta(days=30)
    token = licence.issue(
        key, licensee="Acme", agents=["GPTBot"], paths=["/music/"], expires=expires
    )
    auth = b"Authorization: License %s\r\n" % token.encode()
    escaped, _ = await get(licensed, b"/music/../private/x", GPTBOT, extra=auth)
    spelled, _ = await get(licensed, b"/%6dusic/a.html", GPTBOT, extra=auth)
    assert (escaped, spelled) == (401, 200)
    assert upstream.requests == ["/music/a.html"]
    out, inside = await licensed.stop()
    assert (out["url"]["path"], out["optout"]["licence"]["error"]) == (
        "/private/x",
        "insufficient_scope",
    )
    assert (inside["optout"]["rule"], inside["optout"]["licensee"]) == ("licence", "Acme")


@pytest.fixture
async def archive(upstream: Faulty, tmp_path: Path) -> AsyncIterator[Proxy]:
    proxy = await start_with(upstream.url, tmp_path, ARCHIVE_RULE)
    yield proxy
    await kill(proxy)


async def test_a_host_rule_matches_every_spelling_of_its_host(
    archive: Proxy, upstream: Faulty
) -> None:
    spellings = [b"archive.label.example.", b"ARCHIVE.Label.Example", b"archive.label.example.:80"]
    statuses = [(await get(archive, b"/x", hosts=(host,)))[0] for host in spellings]
    assert statuses == [403, 403, 403]
    assert (await get(archive, b"/echo", hosts=(b"Label.Example.",)))[0] == 200
    assert upstream.requests == ["/echo"]
    assert b"\r\nHost: label.example\r\n" in upstream.heads[0]  # the one form goes upstream
    records = await archive.stop()
    assert [(r["url"]["domain"], r["optout"]["rule"]) for r in records] == [
        ("archive.label.example", "block-archive"),
        ("archive.label.example", "block-archive"),
        ("archive.label.example", "block-archive"),
        ("label.example", "default"),
    ]


@pytest.mark.parametrize(
    ("target", "hosts", "reason"),
    [
        (b"/x", (b"label.example", b"archive.label.example"), "edge/duplicate-host"),
        (b"/x", (b"label.example", b"label.example"), "edge/duplicate-host"),
        (b"http://label.example/x", (b"a.example", b"a.example"), "edge/duplicate-host"),
        (b"/x", (b"label..example",), "edge/invalid-host"),
    ],
)
async def test_a_request_naming_two_hosts_gets_400_and_reaches_nothing(
    archive: Proxy, upstream: Faulty, target: bytes, hosts: tuple[bytes, ...], reason: str
) -> None:
    status, answer = await get(archive, target, hosts=hosts)
    assert status == 400
    assert b"tdm-reservation: 1" in answer
    assert upstream.requests == []
    (record,) = await archive.stop()
    assert record["http"]["response"]["status_code"] == 400
    assert record["optout"]["rule"] == reason
    assert record["optout"]["notes"]
