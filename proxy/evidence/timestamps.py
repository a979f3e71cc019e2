"""RFC 3161 trusted time for the chain head: the request, the reply and the token's proof.

A time-stamping authority (TSA) signs "this hash existed at time T". The proxy
sends it the SHA-256 of a checkpoint statement (proxy.evidence.signing), which
names the chain head, and keeps the token it gets back. A third party then
checks, with nothing but the token and the TSA's certificate chain, that the
token is the TSA's signature over that hash (`verify_token`). The ASN.1 is
asn1crypto's and the signature check cryptography's: no hand-written DER.
No I/O here: the engine's checkpointer (proxy.engine.checkpointer) sends the bytes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime

from asn1crypto import algos, cms, tsp
from asn1crypto import x509 as ax509

from proxy.errors import OptoutError

CONTENT_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"


class TimestampError(OptoutError):
    """A TSA reply or token that is not what was asked for, or does not verify."""


@dataclass(frozen=True, slots=True)
class Token:
    """A time-stamp token and what it says: which hash, when, by whom, serial number."""

    der: bytes = field(repr=False)  # the TimeStampToken (CMS ContentInfo), as sent
    imprint: bytes  # the SHA-256 the TSA signed
    gen_time: datetime
    serial: int
    tsa: str  # the TSA's name in the token, or its signing certificate's subject
    policy: str


def new_nonce() -> int:
    return secrets.randbits(63)


def build_request(imprint: bytes, nonce: int) -> bytes:
    """A TimeStampReq (DER) for a SHA-256 `imprint`, asking for the TSA's certificate."""
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "hashed_message": imprint,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return bytes(request.dump())


def parse_reply(reply: bytes, imprint: bytes, nonce: int) -> Token:
    """The token in a TimeStampResp; TimestampError unless granted for `imprint` and `nonce`."""
    try:
        response = tsp.TimeStampResp.load(reply)
        status = response["status"]["status"].native
        text = response["status"]["status_string"].native
    except (ValueError, TypeError, KeyError) as e:
        raise TimestampError(f"not a time-stamp reply: {e}") from None
    if status not in ("granted", "granted_with_mods"):
        detail = f": {'; '.join(text)}" if text else ""
        raise TimestampError(f"the TSA refused the request ({status}){detail}")
    token = read_token(bytes(response["time_stamp_token"].dump()))
    if token.imprint != imprint:
        raise TimestampError("the TSA's token is for a different hash")
    info = _tst_info(cms.ContentInfo.load(token.der))
    if info["nonce"].native != nonce:
        raise TimestampError("the TSA's token answers another request (nonce differs)")
    return token


def read_token(der: bytes) -> Token:
    """What a token says, without checking its signature; TimestampError if it is not one."""
    try:
        content = cms.ContentInfo.load(der)
        info = _tst_info(content)
        imprint = info["message_imprint"]
        if imprint["hash_algorithm"]["algorithm"].native != "sha256":
            raise TimestampError("the token's imprint is not a SHA-256")
        name = info["tsa"].native if info["tsa"].native is not None else None
        tsa = _name_text(name) if name else _signer_subject(content)
        return Token(
            der,
            bytes(imprint["hashed_message"].native),
            info["gen_time"].native,
            int(info["serial_number"].native),
            tsa,
            str(info["policy"].native),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise TimestampError(f"not a time-stamp token: {e}") from None


def _tst_info(content: cms.ContentInfo) -> tsp.TSTInfo:
    if content["content_type"].native != "signed_data":
        raise TimestampError("the token is not CMS signed data")
    encap = content["content"]["encap_content_info"]
    if encap["content_type"].native != "tst_info":
        raise TimestampError("the token does not hold a TSTInfo")
    return tsp.TSTInfo.load(econtent(content))


def econtent(content: cms.ContentInfo) -> bytes:
    return bytes(content["content"]["encap_content_info"]["content"].contents)


def _name_text(name: object) -> str:
    """A TSA's directory name as a person reads it: "Test TSA (optout tests)"."""
    if isinstance(name, dict):
        common, org = name.get("common_name"), name.get("organization_name")
        if common:
            return f"{common} ({org})" if org and org != common else str(common)
        return ", ".join(f"{k}={v}" for k, v in name.items())
    return str(name)


def _signer_subject(content: cms.ContentInfo) -> str:
    signer = signer_certificate(content, [])
    return signer.subject.human_friendly if signer is not None else "unnamed TSA"


def token_certificates(content: cms.ContentInfo) -> list[ax509.Certificate]:
    """The certificates the TSA put in its token."""
    choices = content["content"]["certificates"] or []
    return [c.chosen for c in choices if c.name == "certificate"]


def signer_certificate(
    content: cms.ContentInfo, extra: list[ax509.Certificate]
) -> ax509.Certificate | None:
    """The certificate the token's signer names, from the token or from `extra`."""
    sid = content["content"]["signer_infos"][0]["sid"]
    for cert in token_certificates(content) + extra:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if (
                cert.serial_number == wanted["serial_number"].native
                and cert.issuer.dump() == wanted["issuer"].dump()
            ):
                return cert
        elif cert.key_identifier == sid.chosen.native:
            return cert
    return None
