"""The challenge's tokens, answers and cookies: what passes, and why everything else fails."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from proxy.decision.challenge import (
    Challenges,
    can_show_page,
    check_answer,
    check_cookie,
    issue,
    leading_zero_bits,
    network,
    solve,
    solves,
)
from proxy.decision.challengestore import PERIOD, MemoryKeys, SpentAnswers, StateDirKeys
from proxy.model import ChallengeSpec, RequestInfo

NOW = 1_800_000_000.0 - 1_800_000_000.0 % PERIOD + 1000  # early in a key period
UA = "Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0"
CLIENT = RequestInfo("GET", "label.example", "/page", UA, "203.0.113.7", "text/html")
SPEC = ChallengeSpec(difficulty=8, nojs_delay=5)


def _solved(state: Challenges, spec: ChallengeSpec = SPEC, client: RequestInfo = CLIENT) -> str:
    issued = issue(state.keys, spec, "challenge-all", client, NOW)
    return f"t={issued.token}&n={solve(issued.token, spec.difficulty)}&next=/page"


def _cookie(state: Challenges, spec: ChallengeSpec = SPEC) -> str:
    check = check_answer(state, CLIENT, _solved(state, spec), NOW + 2)
    assert check.ok, check
    return check.cookie


def test_leading_zero_bits_agree_with_the_hex_digest() -> None:
    for n in range(300):
        digest = hashlib.sha256(str(n).encode()).digest()
        bits = bin(int(digest.hex(), 16))[2:].zfill(256)
        assert leading_zero_bits(digest) == len(bits) - len(bits.lstrip("0"))


def test_solve_finds_a_nonce_that_an_independent_check_accepts() -> None:
    nonce = solve("token", 12)
    assert hashlib.sha256(f"token{nonce}".encode()).hexdigest()[:3] == "000"
    assert solves("token", nonce, 12)
    assert not solves("token", str(int(nonce) + 1), 40)


@pytest.mark.parametrize(
    ("ip", "v4", "v6", "expected"),
    [
        ("203.0.113.7", 24, 48, "203.0.113.0/24"),
        ("203.0.113.7", 16, 48, "203.0.0.0/16"),
        ("::ffff:203.0.113.7", 24, 48, "203.0.113.0/24"),  # mapped: as its IPv4 address
        ("2001:db8:1:2::5", 24, 48, "2001:db8:1::/48"),
        ("", 24, 48, "-"),
    ],
)
def test_network_binding_width(ip: str, v4: int, v6: int, expected: str) -> None:
    assert network(ip, v4, v6) == expected


def test_right_answer_gets_a_cookie_that_passes_the_same_client() -> None:
    state = Challenges()
    cookie = _cookie(state)
    assert check_cookie(state.keys, SPEC, CLIENT, f"a=1; optout_pass={cookie}", NOW + 10).ok
    neighbour = replace(CLIENT, client_ip="203.0.113.200")  # the same /24
    assert check_cookie(state.keys, SPEC, neighbour, f"optout_pass={cookie}", NOW + 10).ok


def _edit(cookie: str, index: int, value: str) -> str:
    fields = cookie.split("~")
    fields[index] = value
    return "~".join(fields)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("none", "none"),
        ("garbage", "cookie-malformed"),
        ("forged-mac", "cookie-forged"),
        ("longer-life", "cookie-forged"),
        ("wider-network", "cookie-forged"),
        ("unknown-key", "cookie-unknown-key"),
        ("wrong-key", "cookie-forged"),
        ("expired", "cookie-expired"),
        ("other-network", "cookie-other-network"),
        ("other-agent", "cookie-other-agent"),
        ("harder-rule", "cookie-other-rule"),
        ("narrower-rule", "cookie-other-rule"),
        ("two-periods-later", "cookie-unknown-key"),
    ],
)
def test_cookies_that_fail(case: str, reason: str) -> None:
    state = Challenges()
    cookie = _cookie(state)
    spec, client, now = SPEC, CLIENT, NOW + 10
    header = f"optout_pass={cookie}"
    if case == "none":
        header = "other=1"
    elif case == "garbage":
        header = "optout_pass=p1~x"
    elif case == "forged-mac":
        header = f"optout_pass={cookie[:-3]}AAA"
    elif case == "longer-life":
        header = f"optout_pass={_edit(cookie, 1, str(int(NOW) + 10**8))}"
    elif case == "wider-network":
        header = f"optout_pass={_edit(cookie, 3, '8')}"
    elif case == "unknown-key":
        header = f"optout_pass={_edit(cookie, 7, '12345')}"
    elif case == "wrong-key":
        other = Challenges()  # another proxy's keys: the same period id, other bytes
        other.keys.signing_key(now)
        return _assert(check_cookie(other.keys, spec, client, header, now).reason, reason)
    elif case == "expired":
        now = NOW + SPEC.ttl + 60
    elif case == "other-network":
        client = replace(CLIENT, client_ip="203.0.114.7")
    elif case == "other-agent":
        client = replace(CLIENT, user_agent="python-requests/2.32")
    elif case == "harder-rule":
        spec = replace(SPEC, difficulty=20)
    elif case == "narrower-rule":
        spec = replace(SPEC, ipv4_prefix=28)
    elif case == "two-periods-later":
        now = NOW + 2 * PERIOD
    _assert(check_cookie(state.keys, spec, client, header, now).reason, reason)


def _assert(found: str, expected: str) -> None:
    assert found == expected


def test_a_cookie_survives_one_key_rotation() -> None:
    state = Challenges()
    cookie = _cookie(state, replace(SPEC, ttl=PERIOD))
    later = NOW + PERIOD  # the next period: a new key signs, the old one still checks
    assert state.keys.signing_key(later)[0] != state.keys.signing_key(NOW)[0]
    spec = replace(SPEC, ttl=PERIOD)
    assert check_cookie(state.keys, spec, CLIENT, f"optout_pass={cookie}", later - 3000).ok


def test_a_nojs_pass_needs_a_rule_that_offers_it() -> None:
    state = Challenges()
    issued = issue(state.keys, SPEC, "r", CLIENT, NOW)
    early = check_answer(state, CLIENT, f"t={issued.token}", NOW + 2)
    assert (early.ok, early.reason) == (False, "answer-too-early")
    passed = check_answer(state, CLIENT, f"t={issued.token}", NOW + 6)
    assert passed.ok
    assert passed.reason == "nojs"
    header = f"optout_pass={passed.cookie}"
    assert check_cookie(state.keys, SPEC, CLIENT, header, NOW + 7).ok
    strict = replace(SPEC, nojs_delay=None)
    assert check_cookie(state.keys, strict, CLIENT, header, NOW + 7).reason == "cookie-other-rule"
    closed = issue(state.keys, strict, "r", CLIENT, NOW)
    refused = check_answer(state, CLIENT, f"t={closed.token}", NOW + 60)
    assert refused.reason == "answer-nojs-not-offered"


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("replayed", "answer-replayed"),
        ("wrong-nonce", "answer-wrong"),
        ("odd-nonce", "answer-malformed"),
        ("forged", "answer-forged"),
        ("easier", "answer-forged"),
        ("expired", "answer-expired"),
        ("other-network", "answer-other-network"),
        ("other-agent", "answer-other-agent"),
        ("wrong-key", "answer-forged"),
        ("missing", "answer-malformed"),
        ("too-many-fields", "answer-malformed"),
    ],
)
def test_answers_that_fail(case: str, reason: str) -> None:
    state = Challenges()
    query, client, now = _solved(state), CLIENT, NOW + 2
    token = re.search(r"t=([^&]+)", query).group(1)  # type: ignore[union-attr]
    if case == "replayed":
        assert check_answer(state, client, query, now).ok
    elif case == "wrong-nonce":
        nonce = next(n for n in range(10**6) if not solves(token, str(n), SPEC.difficulty))
        query = f"t={token}&n={nonce}"
    elif case == "odd-nonce":
        query = f"t={token}&n=-1"
    elif case == "forged":
        query = query.replace(token, token[:-2] + ("AB" if token[-2:] != "AB" else "CD"))
    elif case == "easier":
        query = query.replace("~8~", "~1~", 1)
    elif case == "expired":
        now = NOW + 16 * 60
    elif case == "other-network":
        client = replace(CLIENT, client_ip="198.51.100.1")
    elif case == "other-agent":
        client = replace(CLIENT, user_agent="curl/8.5")
    elif case == "wrong-key":
        state = Challenges()
        state.keys.signing_key(now)
    elif case == "missing":
        query = "n=1"
    elif case == "too-many-fields":
        query = "&".join(f"x{i}=1" for i in range(20))
    assert check_answer(state, client, query, now).reason == reason


@pytest.mark.parametrize(
    ("next_path", "expected"),
    [
        ("/page?x=1", "/page?x=1"),
        ("//evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/a%0d%0aSet-Cookie:x", "/a%0d%0aSet-Cookie:x"),  # still escaped: safe in Location
        ("/a\r\nSet-Cookie: x=1", "/"),  # decoded to CR LF: never into a header
        ("/caf\u00e9", "/"),
    ],
)
def test_answers_send_the_client_only_to_this_site(next_path: str, expected: str) -> None:
    from urllib.parse import quote

    state = Challenges()
    query = _solved(state).replace("&next=/page", "&next=" + quote(next_path, safe=""))
    assert check_answer(state, CLIENT, query, NOW + 2).next == expected


def test_spent_answers_are_bounded_and_forget_expired_ones() -> None:
    spent = SpentAnswers(limit=3)
    assert spent.spend("a", 100, 0)
    assert not spent.spend("a", 100, 1)
    for name in "bcd":
        assert spent.spend(name, 100, 2)
    assert len(spent) == 3  # "a" went first
    assert spent.spend("e", 5, 200)
    assert len(spent) == 1


def test_a_replica_checks_what_another_signed_first(tmp_path: Path) -> None:
    checking, signing = StateDirKeys(tmp_path), StateDirKeys(tmp_path)
    assert checking.key(str(int(NOW // PERIOD) - 1), NOW) is None  # no past key: none made
    kid, key = signing.signing_key(NOW)
    assert checking.key(kid, NOW) == key


def test_state_dir_keys_are_shared_by_processes_and_private(tmp_path: Path) -> None:
    one, two = StateDirKeys(tmp_path), StateDirKeys(tmp_path)
    kid, key = one.signing_key(NOW)
    assert two.signing_key(NOW) == (kid, key)
    assert two.key(kid, NOW + PERIOD) == key
    path = tmp_path / "challenge-keys" / f"{kid}.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert two.key(kid, NOW + 2 * PERIOD) is None
    three = StateDirKeys(tmp_path)
    new_id, _ = three.signing_key(NOW + 2 * PERIOD)  # rotating twice drops the oldest file
    assert not path.exists()
    assert new_id != kid
    assert one.key("../x", NOW) is None
    assert MemoryKeys().key("1" * 20, NOW) is None


@pytest.mark.parametrize(
    ("method", "accept", "headers", "page"),
    [
        ("GET", "text/html,application/xhtml+xml", {}, True),
        ("HEAD", "text/html", {}, False),
        ("POST", "text/html", {}, False),
        ("GET", "*/*", {}, False),
        ("GET", "text/html", {"range": "bytes=0-"}, False),
        ("GET", "text/html", {"sec-fetch-dest": "audio"}, False),
        ("GET", "text/html", {"sec-fetch-dest": "document"}, True),
    ],
)
def test_which_requests_can_show_the_page(
    method: str, accept: str, headers: dict[str, str], page: bool
) -> None:
    request = replace(CLIENT, method=method, accept=accept)
    assert can_show_page(request, headers.get) is page


def test_many_or_huge_cookies_cost_at_most_four_checks() -> None:
    state = Challenges()
    good = _cookie(state)
    junk = "; ".join(f"optout_pass=p1~{'x' * 600}" for _ in range(4))
    # The valid one comes fifth: only four of our cookies are ever checked.
    header = f"{junk}; optout_pass={good}"
    assert check_cookie(state.keys, SPEC, CLIENT, header, NOW + 10).reason == "cookie-malformed"
    assert check_cookie(state.keys, SPEC, CLIENT, f"optout_pass={good}, a=1", NOW + 10).ok
    quoted = f'optout_pass="{good}"'
    assert check_cookie(state.keys, SPEC, CLIENT, quoted, NOW + 10).ok
