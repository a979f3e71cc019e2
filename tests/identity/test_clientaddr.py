"""The client address behind trusted proxies, and the X-Forwarded-For sent upstream."""

from __future__ import annotations

import ipaddress

import pytest

from proxy.identity.clientaddr import client_address, forwarded_for, parse_hop, parse_trusted

TRUSTED = parse_trusted(["10.0.0.0/8", "192.168.1.1", "2001:db8:ffff::/48"])
XFF = "X-Forwarded-For"


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # an untrusted peer is the client, whatever it claims
        ("203.0.113.9", [], "203.0.113.9"),
        ("203.0.113.9", [(XFF, "66.249.64.1")], "203.0.113.9"),
        ("203.0.113.9", [("Forwarded", "for=66.249.64.1")], "203.0.113.9"),
        ("::ffff:203.0.113.9", [(XFF, "66.249.64.1")], "203.0.113.9"),
        # a trusted peer with one hop
        ("10.0.0.2", [(XFF, "66.249.64.1")], "66.249.64.1"),
        ("10.0.0.2", [("x-forwarded-for", "66.249.64.1")], "66.249.64.1"),
        ("::ffff:10.0.0.2", [(XFF, "::ffff:66.249.64.1")], "66.249.64.1"),
        ("10.0.0.2", [], "10.0.0.2"),
        # chains: the right-most untrusted hop; what the client wrote further left is ignored
        ("10.0.0.2", [(XFF, "1.2.3.4, 66.249.64.1, 10.1.1.1, 192.168.1.1")], "66.249.64.1"),
        ("10.0.0.2", [(XFF, "1.2.3.4"), (XFF, "66.249.64.1, 10.1.1.1")], "66.249.64.1"),
        ("10.0.0.2", [(XFF, "1.2.3.4,66.249.64.1")], "66.249.64.1"),
        # every hop trusted: the left-most
        ("10.0.0.2", [(XFF, "10.9.9.9, 10.1.1.1")], "10.9.9.9"),
        # ports and brackets some proxies add
        ("10.0.0.2", [(XFF, "66.249.64.1:5123")], "66.249.64.1"),
        ("10.0.0.2", [(XFF, "[2001:4860:4801:10::1]:443")], "2001:4860:4801:10::1"),
        ("10.0.0.2", [(XFF, "[2001:4860:4801:10::1]")], "2001:4860:4801:10::1"),
        ("10.0.0.2", [(XFF, "2001:4860:4801:10::1")], "2001:4860:4801:10::1"),
        (
            "2001:db8:ffff::1",
            [(XFF, "2001:db8:ffff::2, 2001:4860:4801:10::1")],
            "2001:4860:4801:10::1",
        ),
        # garbage ends the walk at the last address reached
        ("10.0.0.2", [(XFF, "unknown")], "10.0.0.2"),
        ("10.0.0.2", [(XFF, "66.249.64.1, garbage")], "10.0.0.2"),
        ("10.0.0.2", [(XFF, "66.249.64.1, garbage, 10.1.1.1")], "10.1.1.1"),
        ("10.0.0.2", [(XFF, "66.249.64.1,,10.1.1.1")], "10.1.1.1"),
        ("10.0.0.2", [(XFF, "")], "10.0.0.2"),
        ("10.0.0.2", [(XFF, "fe80::1%eth0")], "10.0.0.2"),
        ("10.0.0.2", [(XFF, "1.2.3.4:x")], "10.0.0.2"),
        # RFC 7239 Forwarded, used only when X-Forwarded-For is absent
        ("10.0.0.2", [("Forwarded", "for=66.249.64.1")], "66.249.64.1"),
        ("10.0.0.2", [("Forwarded", 'For="[2001:4860:4801:10::1]:4711"')], "2001:4860:4801:10::1"),
        (
            "10.0.0.2",
            [("Forwarded", "for=1.2.3.4, for=66.249.64.1;proto=https;by=10.0.0.1")],
            "66.249.64.1",
        ),
        ("10.0.0.2", [("Forwarded", "for=1.2.3.4"), ("Forwarded", "for=10.1.1.1")], "1.2.3.4"),
        ("10.0.0.2", [("Forwarded", 'proto=https;host="a,b";for=66.249.64.1')], "66.249.64.1"),
        ("10.0.0.2", [("Forwarded", 'for="x\\"y", for=66.249.64.1')], "66.249.64.1"),
        ("10.0.0.2", [("Forwarded", "for=66.249.64.1, for=_hidden")], "10.0.0.2"),
        ("10.0.0.2", [("Forwarded", "for=66.249.64.1, for=unknown")], "10.0.0.2"),
        ("10.0.0.2", [("Forwarded", "for=66.249.64.1, proto=https")], "10.0.0.2"),
        ("10.0.0.2", [("Forwarded", "for=1.2.3.4"), (XFF, "66.249.64.1")], "66.249.64.1"),
        # an invalid peer (it never is, from a socket) comes back unchanged
        ("not-an-ip", [(XFF, "66.249.64.1")], "not-an-ip"),
    ],
)
def test_client_address(peer: str, headers: list[tuple[str, str]], expected: str) -> None:
    assert client_address(peer, headers, TRUSTED) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address("10.0.0.2", [(XFF, "66.249.64.1")], ()) == "10.0.0.2"


@pytest.mark.parametrize(
    ("peer", "headers", "expected"),
    [
        # a forged chain from an untrusted client never reaches the upstream
        ("203.0.113.9", [(XFF, "66.249.64.1")], "203.0.113.9"),
        ("203.0.113.9", [], "203.0.113.9"),
        ("::ffff:203.0.113.9", [], "203.0.113.9"),
        ("not-an-ip", [(XFF, "66.249.64.1")], "not-an-ip"),
        # a trusted proxy's chain is kept, and the peer appended
        ("10.0.0.2", [(XFF, "66.249.64.1")], "66.249.64.1, 10.0.0.2"),
        (
            "10.0.0.2",
            [(XFF, "1.2.3.4, 66.249.64.1"), (XFF, "10.1.1.1")],
            "1.2.3.4, 66.249.64.1, 10.1.1.1, 10.0.0.2",
        ),
        ("10.0.0.2", [], "10.0.0.2"),
        ("::ffff:10.0.0.2", [], "10.0.0.2"),
        # converted from Forwarded when that is all the proxy sent
        (
            "10.0.0.2",
            [("Forwarded", 'for="[2001:db8::1]:4711", for=_hidden;by=x, by=y')],
            "2001:db8::1, _hidden, unknown, 10.0.0.2",
        ),
    ],
)
def test_forwarded_for(peer: str, headers: list[tuple[str, str]], expected: str) -> None:
    assert forwarded_for(peer, headers, TRUSTED) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1:80 ", "192.0.2.1"),
        ('"[2001:db8::1]:4711"', "2001:db8::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[::ffff:192.0.2.1]", "192.0.2.1"),
        ("2001:db8::1:80", "2001:db8::1:80"),  # unbracketed: all of it is the address
        ("_hidden", None),
        ("unknown", None),
        ("", None),
        ("[2001:db8::1", None),
        ("300.1.1.1", None),
    ],
)
def test_parse_hop(text: str, expected: str | None) -> None:
    address = parse_hop(text)
    assert (str(address) if address else None) == expected


def test_parse_trusted() -> None:
    values = ["10.0.0.0/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:10.0.0.0/104", "::fffe:0:0/95"]
    networks = parse_trusted(values)
    assert networks == (
        ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv4Network("192.0.2.7/32"),
        ipaddress.IPv6Network("2001:db8::/32"),
        ipaddress.IPv4Network("10.0.0.0/8"),
        ipaddress.IPv6Network("::fffe:0:0/95"),  # wider than the mapped range: kept as IPv6
    )
    assert parse_trusted([]) == ()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10.0.0.1/8", "trusted proxy '10.0.0.1/8' is not an address or network: .*host bits"),
        ("proxy.example", "trusted proxy 'proxy.example'"),
        ("10.0.0.0/33", "trusted proxy '10.0.0.0/33'"),
        ("", "trusted proxy ''"),
    ],
)
def test_parse_trusted_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_trusted(["10.0.0.0/8", value])
