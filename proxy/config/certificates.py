"""A site's TLS certificate and key, read and checked when the rules load.

The proxy terminates TLS only with certificates the label configured in
rules/sites.yaml; these are read here, at start and on each reload, so an
unreadable file, an encrypted key or a key that does not belong to the
certificate is a located rules problem instead of a failing handshake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

_KEY_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)  # what the engine can serve
_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_file: Path
    key_file: Path
    fingerprint: str  # sha256 of the leaf certificate (DER), hex
    names: tuple[str, ...]  # the leaf's DNS names
    not_after: datetime
    chain_pem: bytes = field(repr=False)  # leaf first, then intermediates
    key_pem: bytes = field(repr=False)

    def check(self, hosts: tuple[str, ...], now: datetime | None = None) -> list[str]:
        """What a client would object to: names not covered, an expired certificate."""
        found = [
            f"the certificate {self.cert_file} does not cover {host!r}"
            for host in hosts
            if not any(covers(name, host) for name in self.names)
        ]
        if self.not_after < (now or datetime.now(UTC)):
            found.append(f"the certificate {self.cert_file} expired on {self.not_after:%Y-%m-%d}")
        return found


def covers(name: str, host: str) -> bool:
    """Does a certificate name (maybe `*.x`) cover a host (maybe a `*.x` pattern)?"""
    name, host = name.lower(), host.lower()
    if name == host:
        return True
    if not name.startswith("*.") or host.startswith("*."):
        return False
    first, _, rest = host.partition(".")
    return bool(first) and rest == name[2:]


def load_certificate(cert_file: Path, key_file: Path) -> Certificate:
    """Read a PEM certificate chain and its unencrypted PEM key. Raises ValueError."""
    chain_pem = _read(cert_file, "certificate")
    key_pem = _read(key_file, "key")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as e:
        raise ValueError(f"{cert_file} is not a PEM certificate chain: {e}") from e
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{key_file} is not an unencrypted PEM private key") from e
    if not isinstance(key, _KEY_TYPES):
        raise ValueError(f"{key_file}: only RSA and EC keys are supported")
    leaf = chain[0]
    if leaf.public_key().public_bytes(*_SPKI) != key.public_key().public_bytes(*_SPKI):
        raise ValueError(f"{key_file} is not the key of {cert_file}")
    return Certificate(
        cert_file,
        key_file,
        hashlib.sha256(leaf.public_bytes(serialization.Encoding.DER)).hexdigest(),
        _dns_names(leaf),
        leaf.not_valid_after_utc,
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        key_pem,
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the {what} file {path}: {e.strerror or e}") from e


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.value.get_values_for_type(x509.DNSName))
