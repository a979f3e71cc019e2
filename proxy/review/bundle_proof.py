"""The third-party part of `optout evidence verify`: checkpoints, signatures, timestamps.

For each checkpoint line in the segment: the record it names must have, in the
segment, the digest it states; its Ed25519 signature must verify with the
bundle's public key; each RFC 3161 token must be the TSA's signature over the
checkpoint statement, chaining to the bundle's TSA certificates. A checkpoint
without trusted time (every TSA failed) is reported as a gap, not as tampering.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from proxy.evidence import checkpoints, signing
from proxy.evidence.chain import HMAC_SHA256, Head, digest
from proxy.evidence.timestamps import TimestampError
from proxy.evidence.tokenverify import verify_token

PUBLIC_KEY, TSA_CHAIN, TOKENS = "checkpoint-key.pem", "tsa-chain.pem", "timestamps/"


@dataclass(frozen=True, slots=True)
class Attested:
    sequence: int  # the record the timestamp covers (and every one before it)
    time: datetime
    tsa: str
    root_sha256: str


@dataclass(slots=True)
class Proof:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    attested: list[Attested] = field(default_factory=list)
    signed: int = 0
    key_id: str | None = None


def check(
    files: dict[str, bytes], segment: list[bytes], key: bytes | None, manifest: dict[str, Any]
) -> Proof:
    proof = Proof()
    public = _public_key(files, proof)
    chain = _tsa_chain(files, proof)
    digests = _digests(segment, key)
    for number, line in enumerate(segment, 1):
        if b'"action":"' + checkpoints.ACTION.encode() + b'"' in line:
            point = (json.loads(line).get("optout") or {}).get("checkpoint")
            if isinstance(point, dict):
                _check_point(proof, files, manifest, number, point, digests, public, chain)
    return proof


def _public_key(files: dict[str, bytes], proof: Proof) -> Ed25519PublicKey | None:
    if PUBLIC_KEY not in files:
        return None
    try:
        key = signing.load_public(files[PUBLIC_KEY])
    except ValueError as e:
        proof.problems.append(f"{PUBLIC_KEY} was altered: {e}")
        return None
    proof.key_id = signing.key_id(key)
    proof.facts.append(
        f"label's checkpoint key id {proof.key_id}: compare it with the one published at "
        f"https://<site>{signing.WELL_KNOWN}"
    )
    return key


def _tsa_chain(files: dict[str, bytes], proof: Proof) -> list[x509.Certificate]:
    if TSA_CHAIN not in files:
        return []
    try:
        return x509.load_pem_x509_certificates(files[TSA_CHAIN])
    except ValueError as e:
        proof.problems.append(f"{TSA_CHAIN} was altered: not PEM certificates ({e})")
        return []


def _digests(segment: list[bytes], key: bytes | None) -> dict[int, str]:
    found = {}
    for line in segment:
        try:
            record = json.loads(line)
            sequence = record["event"]["sequence"]
            keyed = record["optout"]["chain"].get("alg") == HMAC_SHA256
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        found[sequence] = digest(line, key if keyed else None)
    return found


def _check_point(
    proof: Proof,
    files: dict[str, bytes],
    manifest: dict[str, Any],
    number: int,
    point: dict[str, Any],
    digests: dict[int, str],
    public: Ed25519PublicKey | None,
    chain: list[x509.Certificate],
) -> None:
    where = f"the checkpoint at segment line {number}"
    try:
        head = checkpoints.head_of(point)
    except ValueError as e:
        proof.problems.append(f"{where}: {e}")
        return
    if head.sequence in digests and digests[head.sequence] != head.digest:
        proof.problems.append(
            f"{where} names record {head.sequence} with another digest than that line has: "
            "the record or the checkpoint was altered"
        )
        return
    statement = checkpoints.statement(head)
    if "signature" in point:
        _check_signature(proof, where, public, statement, point["signature"])
    for stamp in point.get("timestamps") or []:
        _check_stamp(proof, files, manifest, where, head, stamp, chain)
    if point.get("gap"):
        proof.facts.append(
            f"timestamp gap: {where} (record {head.sequence}) has no trusted time, every TSA "
            "failed then; a gap, not tampering: the chain and signatures still hold"
        )


def _check_signature(
    proof: Proof, where: str, public: Ed25519PublicKey | None, statement: bytes, sig: object
) -> None:
    if public is None:
        proof.problems.append(f"{where} is signed but the bundle has no {PUBLIC_KEY}")
        return
    problem = signing.verify(public, statement, sig)
    if problem is None:
        proof.signed += 1
    else:
        proof.problems.append(f"{where}: {problem} ({PUBLIC_KEY} or the checkpoint)")


def _check_stamp(
    proof: Proof,
    files: dict[str, bytes],
    manifest: dict[str, Any],
    where: str,
    head: Head,
    stamp: dict[str, Any],
    chain: list[x509.Certificate],
) -> None:
    sha = str(stamp.get("token_sha256"))
    token = files.get(TOKENS + sha)
    if token is None:
        if sha not in (manifest.get("missing_timestamps") or {}):
            proof.problems.append(f"{where}: its token {TOKENS}{sha} is missing from the bundle")
        return
    if hashlib.sha256(token).hexdigest() != sha:
        proof.problems.append(f"{TOKENS}{sha} was altered: its content has a different SHA-256")
        return
    try:
        checked = verify_token(token, checkpoints.imprint(head), chain)
    except TimestampError as e:
        proof.problems.append(f"{TOKENS}{sha} does not verify: {e}")
        return
    proof.attested.append(
        Attested(head.sequence, checked.token.gen_time, checked.token.tsa, checked.root_sha256)
    )
