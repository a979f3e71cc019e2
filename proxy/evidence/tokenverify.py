"""Offline check of an RFC 3161 token: signed by a time-stamping certificate that chains to
a root the checker was given, over the hash it claims to be for.

What is checked, as `openssl ts -verify` does: the CMS signature over the signed
attributes, the messageDigest attribute against the TSTInfo, the imprint, the
signer's timeStamping extended key usage and validity at the token's time, and
each certificate up to a self-signed root among `chain`. Whether that root is the
TSA's is the reader's call: the result names it and its SHA-256 fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from asn1crypto import cms
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from proxy.evidence.timestamps import (
    TimestampError,
    Token,
    econtent,
    read_token,
    signer_certificate,
    token_certificates,
)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_MAX_CHAIN = 8


@dataclass(frozen=True, slots=True)
class Checked:
    token: Token
    signer: str  # the TSA certificate's subject
    root: str  # the root it chains to
    root_sha256: str  # that root's fingerprint, to compare with the TSA's published one


def verify_token(der: bytes, imprint: bytes, chain: list[x509.Certificate]) -> Checked:
    """Check `der` as a token for `imprint` against the certificates in `chain`."""
    token = read_token(der)
    if token.imprint != imprint:
        raise TimestampError("the token is for a different hash than the checkpoint's")
    content = cms.ContentInfo.load(der)
    signer = signer_certificate(content, [ax509.Certificate.load(_der(c)) for c in chain])
    if signer is None:
        raise TimestampError("the token's signing certificate is neither in it nor given")
    cert = x509.load_der_x509_certificate(signer.dump())
    _check_signature(content, cert)
    _check_usage(cert, token)
    root = _chain_to_root(cert, chain + _embedded(content))
    return Checked(
        token,
        cert.subject.rfc4514_string(),
        root.subject.rfc4514_string(),
        root.fingerprint(hashes.SHA256()).hex(),
    )


def _der(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def _embedded(content: cms.ContentInfo) -> list[x509.Certificate]:
    return [x509.load_der_x509_certificate(c.dump()) for c in token_certificates(content)]


def _check_signature(content: cms.ContentInfo, cert: x509.Certificate) -> None:
    info = content["content"]["signer_infos"][0]
    algorithm = info["digest_algorithm"]["algorithm"].native
    if algorithm not in _HASHES:
        raise TimestampError(f"the token uses an unsupported digest ({algorithm})")
    attrs = info["signed_attrs"]
    digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    body = econtent(content)
    if digests != [hashlib.new(algorithm, body).digest()]:
        raise TimestampError("the token's TSTInfo was altered: its message digest differs")
    signed = b"\x31" + bytes(attrs.dump())[1:]  # signed over as a SET, not as [0]
    signature = bytes(info["signature"].native)
    key, digest = cert.public_key(), _HASHES[algorithm]()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            scheme = info["signature_algorithm"].signature_algo
            pad: padding.AsymmetricPadding = (
                padding.PSS(padding.MGF1(digest), padding.PSS.AUTO)
                if scheme == "rsassa_pss"
                else padding.PKCS1v15()
            )
            key.verify(signature, signed, pad, digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(digest))
        else:
            raise TimestampError(f"unsupported TSA key type {type(key).__name__}")
    except InvalidSignature:
        raise TimestampError("the token's signature does not verify: it was altered") from None


def _check_usage(cert: x509.Certificate, token: Token) -> None:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if usage is None or ExtendedKeyUsageOID.TIME_STAMPING not in usage:
        raise TimestampError("the token's signer is not a time-stamping certificate")
    if not cert.not_valid_before_utc <= token.gen_time <= cert.not_valid_after_utc:
        raise TimestampError("the TSA's certificate was not valid at the token's time")


def _chain_to_root(cert: x509.Certificate, pool: list[x509.Certificate]) -> x509.Certificate:
    current = cert
    for _ in range(_MAX_CHAIN):
        issuers = [c for c in pool if c.subject == current.issuer]
        for issuer in issuers:
            try:
                current.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            if issuer.subject == issuer.issuer:
                return issuer
            current = issuer
            break
        else:
            raise TimestampError(
                f"no certificate given issued {current.subject.rfc4514_string()}: "
                "the TSA chain is incomplete or altered"
            )
    raise TimestampError("the TSA certificate chain is too long")
