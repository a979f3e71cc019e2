"""The key files in the state dir and the label's signing key: created once, read at start.

Kept apart from the code that uses the keys (pseudonyms, licence tokens), which
stays pure and takes the key as bytes or an object.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "pseudonym.key"
KEY_BYTES = 32


def load_or_create_key(state_dir: Path) -> bytes:
    """The key in `<state_dir>/pseudonym.key`, created (mode 0600) on first use."""
    path = state_dir / KEY_FILE
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        state_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it first: use theirs
            return load_or_create_key(state_dir)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
    if len(key) < 16:
        raise ValueError(f"{path} holds {len(key)} bytes: a pseudonym key needs at least 16")
    return key


def save_private_key(key: Ed25519PrivateKey, path: Path) -> None:
    """Write `key` as PEM, readable by its owner only; never overwrites an existing file."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """Read a key written by `save_private_key`. OSError if unreadable, ValueError if not one."""
    data = Path(path).read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from e
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} holds a {type(key).__name__}, not an Ed25519 private key")
    return key
