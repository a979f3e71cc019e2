"""RFC 3161 requests, replies and offline token checks against a real `openssl ts` TSA."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from localtsa import Authority, make_authority, openssl_verify, reply

from proxy.evidence import timestamps as ts
from proxy.evidence.tokenverify import verify_token


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("tsa"))


def _token(authority: Authority, data: bytes = b"head") -> tuple[ts.Token, bytes]:
    imprint = hashlib.sha256(data).digest()
    nonce = ts.new_nonce()
    return ts.parse_reply(
        reply(authority, ts.build_request(imprint, nonce)), imprint, nonce
    ), imprint


def _chain(authority: Authority) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(authority.chain_pem())


def test_token_from_openssl_verifies_both_ways(authority: Authority) -> None:
    token, imprint = _token(authority)
    assert "Verification: OK" in openssl_verify(authority, token.der, imprint)
    checked = verify_token(token.der, imprint, _chain(authority))
    assert checked.signer == "O=optout tests,CN=Test TSA"
    assert checked.root == "O=optout tests,CN=Test Root CA"
    assert checked.root_sha256 == _chain(authority)[1].fingerprint(hashes.SHA256()).hex()
    assert "Test TSA" in token.tsa
    assert token.serial > 0


def test_reply_for_another_hash_or_nonce_is_refused(authority: Authority) -> None:
    imprint = hashlib.sha256(b"a").digest()
    answer = reply(authority, ts.build_request(imprint, 7))
    with pytest.raises(ts.TimestampError, match="different hash"):
        ts.parse_reply(answer, hashlib.sha256(b"b").digest(), 7)
    with pytest.raises(ts.TimestampError, match="nonce differs"):
        ts.parse_reply(answer, imprint, 8)
    with pytest.raises(ts.TimestampError, match="not a time-stamp reply"):
        ts.parse_reply(b"<html>503</html>", imprint, 7)


def test_token_for_another_hash_does_not_verify(authority: Authority) -> None:
    token, _ = _token(authority)
    with pytest.raises(ts.TimestampError, match="different hash"):
        verify_token(token.der, hashlib.sha256(b"other").digest(), _chain(authority))


def test_every_flipped_byte_of_the_signed_part_is_detected(authority: Authority) -> None:
    token, imprint = _token(authority)
    der = bytearray(token.der)
    # The TSTInfo (the time, serial, imprint) and the signature at the end.
    for offset in (token.der.index(imprint) + 3, len(der) - 5):
        tampered = bytearray(der)
        tampered[offset] ^= 0x01
        with pytest.raises(ts.TimestampError):
            verify_token(bytes(tampered), imprint, _chain(authority))


def test_a_chain_without_the_root_or_from_another_ca_fails(
    authority: Authority, tmp_path: Path
) -> None:
    token, imprint = _token(authority)
    with pytest.raises(ts.TimestampError, match="incomplete or altered"):
        verify_token(token.der, imprint, [])
    other = make_authority(tmp_path / "other")
    with pytest.raises(ts.TimestampError, match="incomplete or altered"):
        verify_token(token.der, imprint, [x509.load_pem_x509_certificate(other.ca.read_bytes())])
