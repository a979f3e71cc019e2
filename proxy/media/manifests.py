"""C2PA manifests with the CAWG training-and-data-mining assertion (c2pa-python).

The manifest is signed with the label's certificate chain and key, embedded in
the file (a JPEG APP11 segment, a PNG caBX chunk, an ID3 GEOB frame in MP3, a
RIFF chunk in WAV, a FLAC metadata block), and binds the file's bytes by hash,
so it is written last, after every other change. The file is recorded as the
manifest's parent ingredient ("opened"), as C2PA 2.x requires of an edit, and
no thumbnail is embedded (it would double a cover's size).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from proxy import __version__
from proxy.media.terms import CAWG_LABEL, Terms

MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "flac": "audio/flac",
}
# The certificate is not on a trust list c2pa knows (a test pair, or no list configured):
# the signature itself still verifies, so it is reported apart from the failures.
UNTRUSTED = "signingCredential.untrusted"
_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
_CURVES = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}


@dataclass(frozen=True, slots=True)
class Credentials:
    chain_pem: bytes
    key_pem: bytes
    alg: str
    serial: str  # the signing certificate's serial number, as the reader reports it
    subject: str


def load_credentials(cert_file: Path, key_file: Path) -> Credentials:
    """The signing chain and key; ValueError naming the file when they cannot sign."""
    try:
        chain_pem, key_pem = cert_file.read_bytes(), key_file.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read {e.filename}: {e.strerror}") from None
    return credentials(chain_pem, key_pem, str(cert_file), str(key_file))


def credentials(
    chain_pem: bytes, key_pem: bytes, cert_file: str = "certificate", key_file: str = "key"
) -> Credentials:
    """Credentials from PEM bytes; the names are for the messages."""
    try:
        certs = x509.load_pem_x509_certificates(chain_pem)
    except ValueError:
        raise ValueError(f"{cert_file}: not a PEM certificate chain") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise ValueError(f"{key_file}: not an unencrypted PEM private key") from None
    leaf = certs[0]
    if leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ValueError(
            f"{key_file}: the key does not belong to the first certificate of {cert_file}"
        )
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name in _CURVES:
        alg = _CURVES[key.curve.name]
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        alg = "ed25519"
    elif isinstance(key, rsa.RSAPrivateKey):
        alg = "ps256"
    else:
        raise ValueError(f"{key_file}: C2PA signs with P-256/384/521, Ed25519 or RSA keys")
    return Credentials(
        chain_pem, key_pem, alg, format(leaf.serial_number, "x"), leaf.subject.rfc4514_string()
    )


class Said(NamedTuple):
    """What a file's active manifest says; `state` is c2pa's validation state."""

    state: str  # Valid, Trusted, Invalid
    entries: dict[str, str]  # CAWG entry -> use; empty without the assertion
    signer: str | None  # the certificate's issuer and common name, as c2pa reports them
    serial: str | None
    failures: tuple[str, ...]  # validation failures but the trust list's
    trusted: bool = False  # whether the signer's CA is on the trust list c2pa was given


def read(kind: str, data: bytes) -> Said | None:
    """The active manifest's training-mining entries and validation, or None if it has none."""
    try:
        with c2pa.Reader(MIME[kind], io.BytesIO(data)) as reader:
            active = reader.get_active_manifest()
            state = reader.get_validation_state() or "Unknown"
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as e:
        if "ManifestNotFound" in type(e).__name__ or "no JUMBF" in str(e):
            return None
        return Said("Invalid", {}, None, None, (str(e).splitlines()[0],), False)
    if active is None:
        return None
    entries: dict[str, str] = {}
    for assertion in active.get("assertions", []):
        if assertion.get("label") == CAWG_LABEL:
            for name, entry in (assertion.get("data", {}).get("entries") or {}).items():
                if isinstance(entry, dict):
                    entries[str(name)] = str(entry.get("use"))
    info = active.get("signature_info") or {}
    signer = " / ".join(str(info[k]) for k in ("issuer", "common_name") if info.get(k))
    codes = [str(f.get("code")) for f in (results.get("activeManifest") or {}).get("failure", [])]
    trusted = UNTRUSTED not in codes
    failures = tuple(c for c in codes if c != UNTRUSTED)
    serial = info.get("cert_serial_number")
    return Said(state, entries, signer or None, _hex(serial), failures, trusted)


def verifies(said: Said | None) -> bool:
    """Whether there is a manifest and its signature and hashes verify (trusted or not)."""
    return said is not None and said.state in ("Valid", "Trusted") and not said.failures


def agrees(said: Said | None, terms: Terms, credentials: Credentials | None = None) -> bool:
    """Whether the file's manifest is valid, says `terms`, and (if given) was signed by us."""
    if said is None or not verifies(said):
        return False
    if said.entries != dict(terms.cawg):
        return False
    return credentials is None or said.serial == credentials.serial


def sign(
    kind: str, data: bytes, terms: Terms, credentials: Credentials, title: str
) -> tuple[bytes, bytes]:
    """`data` with a new signed manifest carrying the CAWG assertion for `terms`, and the
    manifest store itself (what a `.c2pa` sidecar holds)."""
    definition: dict[str, Any] = {
        "claim_generator_info": [{"name": "optout-proxy", "version": __version__}],
        "title": title,
        "assertions": [{"label": CAWG_LABEL, "data": {"entries": terms.cawg_entries()}}],
    }
    info = c2pa.C2paSignerInfo(
        credentials.alg.encode(), credentials.chain_pem, credentials.key_pem, None
    )
    out = io.BytesIO()
    try:
        context = c2pa.Context(c2pa.Settings.from_dict(_SETTINGS))
        with (
            c2pa.Signer.from_info(info) as signer,
            c2pa.Builder.from_json(json.dumps(definition), context) as builder,
        ):
            builder.set_intent(c2pa.C2paBuilderIntent.EDIT)
            store = builder.sign(signer, MIME[kind], io.BytesIO(data), out)
    except c2pa.C2paError as e:
        raise ValueError(f"C2PA signing failed: {str(e).splitlines()[0]}") from None
    return out.getvalue(), bytes(store)


def _hex(serial: Any) -> str | None:
    if serial is None:
        return None
    text = str(serial)
    try:
        return format(int(text), "x")  # c2pa reports the serial in decimal
    except ValueError:
        return text.lower()
