"""The label's checkpoint signature: Ed25519 over a checkpoint statement.

The HMAC chain proves a log unedited only to whoever holds the secret; an
Ed25519 signature by the label's key can be checked by anyone with the public
key, which the proxy publishes at /.well-known/optout-checkpoint-key.pem and puts
in every bundle. `key_id` (SHA-256 of the raw public key) lets a reader tell
which key signed when keys are rotated.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG = "ed25519"
PRIVATE_FILE = "checkpoint-signing.key"
PUBLIC_FILE = "checkpoint-signing.pub.pem"
WELL_KNOWN = "/.well-known/optout-checkpoint-key.pem"


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_public(pem: bytes) -> Ed25519PublicKey:
    """The key in `pem`; ValueError if it is not an Ed25519 public key."""
    try:
        key = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not a PEM public key: {e}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 public key")
    return key


def key_id(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(key: Ed25519PrivateKey, statement: bytes) -> dict[str, Any]:
    """The signature, as the checkpoint record carries it."""
    return {
        "alg": ALG,
        "key_id": key_id(key.public_key()),
        "value": base64.b64encode(key.sign(statement)).decode("ascii"),
    }


def verify(key: Ed25519PublicKey, statement: bytes, signature: object) -> str | None:
    """None if `signature` is `key`'s over `statement`, else what is wrong."""
    if not isinstance(signature, dict) or signature.get("alg") != ALG:
        return "not an Ed25519 signature"
    if signature.get("key_id") != key_id(key):
        return "signed with another key than the one given"
    try:
        key.verify(base64.b64decode(str(signature.get("value")), validate=True), statement)
    except (InvalidSignature, ValueError):
        return "the signature does not verify: the checkpoint or the key was altered"
    return None


def paths(state: Path) -> tuple[Path, Path]:
    return state / PRIVATE_FILE, state / PUBLIC_FILE
