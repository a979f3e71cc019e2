"""The licence server's signing keys, kept in `<state>/olp/keys/` as PEM files (0600).

The newest file signs; the two newest are published in the JWKS, which is the
rotation overlap (proxy.licensing.jwttokens.KeySet). `rotate` adds a key and
removes all but the two newest, so a token signed before a rotation stays valid
until the next one. Replicas must share this directory (a volume) to verify
each other's tokens.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from proxy.licensing.jwttokens import KeySet, thumbprint

KEYS_DIR = Path("olp") / "keys"
KEPT = 2


def keys_dir(state: Path) -> Path:
    return state / KEYS_DIR


def load(directory: Path, *, create: bool = True) -> KeySet:
    """The key set in `directory`, newest first; with `create`, a first key when there is none."""
    found = _read(directory)
    if not found and create:
        add_key(directory)
        found = _read(directory)
    return KeySet(found)


def add_key(directory: Path) -> str:
    """Write a new signing key; return its kid. The file name orders keys by age."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    kid = thumbprint(key.public_key())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = directory / f"{time.time_ns():020d}-{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    return kid


def rotate(directory: Path) -> str:
    """A new signing key; keys older than the previous one are removed."""
    kid = add_key(directory)
    for old in sorted(directory.glob("*.pem"), reverse=True)[KEPT:]:
        old.unlink()
    return kid


def stamp(directory: Path) -> int:
    """Changes when a key is added or removed (the directory's mtime)."""
    try:
        return directory.stat().st_mtime_ns
    except OSError:
        return -1


def _read(directory: Path) -> list[Ed25519PrivateKey]:
    keys = []
    for path in sorted(directory.glob("*.pem"), reverse=True):
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        keys.append(key)
    return keys
