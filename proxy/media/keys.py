"""A self-signed test pair for signing C2PA manifests (`optout media keygen`).

C2PA validators refuse a self-signed leaf and a leaf without an extended key
usage, so this makes a two-certificate chain: a throwaway root CA and an ES256
(P-256) signing certificate it issued, with digitalSignature and the
emailProtection and documentSigning EKUs (C2PA 2.x §14.5.1). It proves
nothing about who signed: a label signs with a certificate from a CA on the
C2PA trust list.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336


class TestPair(NamedTuple):
    chain_pem: bytes  # signing certificate first, then the root
    key_pem: bytes  # PKCS #8, unencrypted


def make_test_pair(organisation: str, days: int = 825, now: datetime | None = None) -> TestPair:
    """A root CA and a signing certificate for `organisation`, valid for `days`."""
    if not organisation or any(ord(c) < 0x20 for c in organisation):
        raise ValueError(f"organisation {organisation!r} must be a non-empty single line")
    if not 1 <= days <= 3650:
        raise ValueError(f"days {days} must be between 1 and 3650")
    start = (now or datetime.now(UTC)) - timedelta(minutes=5)
    end = start + timedelta(days=days)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(organisation, f"{organisation} test root (not trusted)")
    root = (
        _builder(root_name, root_name, root_key.public_key(), start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _builder(
            _name(organisation, f"{organisation} media signing (test)"),
            root_name,
            key.public_key(),
            start,
            end,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + root.public_bytes(pem)
    key_pem = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TestPair(chain, key_pem)


def _name(organisation: str, common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    start: datetime,
    end: datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def write_new(path: Path, data: bytes, mode: int) -> None:
    """Write `data` to `path` with `mode`; FileExistsError rather than overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
