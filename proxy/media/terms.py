"""What a file should say, from the resolved reservation: one answer, every format.

The policy resolves a yes/no per path and content type (`Reservation.resolve`),
exactly as for the headers; this maps that answer onto the vocabularies that
live inside files:

- IPTC Photo Metadata 2023.1 `plus:DataMining` (a PLUS URI). Reserved, with
  Content-Signal `search=yes` (the default), is "prohibited except search engine
  indexing", the same answer robots.txt gives; with `search=no`, "prohibited".
- CAWG training-and-data-mining (1.1) entries, `notAllowed` when reserved:
  Content-Signal's ai-train and ai-input are `no` then, so inference too.
- TDMRep's own properties (`tdm-reservation`, `tdm-policy`), which TDMRep
  defines for EPUB and PDF metadata and which ID3 TXXX frames and Vorbis
  comments carry here under the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from proxy.config.reservation import Reservation

PLUS_VOCAB = "http://ns.useplus.org/ldf/vocab/"
DMI_ALLOWED = PLUS_VOCAB + "DMI-ALLOWED"
DMI_PROHIBITED = PLUS_VOCAB + "DMI-PROHIBITED"
DMI_EXCEPT_SEARCH = PLUS_VOCAB + "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING"
CAWG_LABEL = "cawg.training-mining"
CAWG_ENTRIES = (
    "cawg.data_mining",
    "cawg.ai_training",
    "cawg.ai_generative_training",
    "cawg.ai_inference",
)
CAWG_USES = ("allowed", "notAllowed", "constrained")


@dataclass(frozen=True, slots=True)
class Terms:
    """The reservation for one file, in the words each format uses."""

    reserved: bool
    data_mining: str  # the IPTC PLUS DataMining URI
    cawg: tuple[tuple[str, str], ...]  # (entry, use)
    notice: str  # plus:OtherConstraints, xmpRights:UsageTerms, ID3 USER
    tdm_policy: str | None  # only when reserved, as TDMRep says
    licence_url: str | None  # plus:LicensorURL, ID3 WCOP, Vorbis LICENSE
    web_statement: str | None  # xmpRights:WebStatement
    owner: str  # the label: copyright holder where a file names none

    def cawg_entries(self) -> dict[str, dict[str, str]]:
        return {entry: {"use": use} for entry, use in self.cawg}


def terms_for(reservation: Reservation, label: str, path: str, content_type: str) -> Terms:
    """The terms for the file served at `path` with `content_type`."""
    reserved = reservation.resolve(path, content_type)
    return terms_from(reservation, label, reserved)


def terms_from(reservation: Reservation, label: str, reserved: bool) -> Terms:
    search = dict(reservation.content_signal).get("search", "yes") == "yes"
    if not reserved:
        mining = DMI_ALLOWED
    else:
        mining = DMI_EXCEPT_SEARCH if search else DMI_PROHIBITED
    use = "notAllowed" if reserved else "allowed"
    licence = reservation.licence
    if reserved:
        notice = (
            "Text and data mining rights reserved (Art. 4(3) Directive (EU) 2019/790): "
            "no data mining, AI training or AI inference without a licence."
        )
        if licence:
            notice += f" Licensing: {licence}"
    else:
        notice = "Text and data mining rights not reserved."
    return Terms(
        reserved=reserved,
        data_mining=mining,
        cawg=tuple((entry, use) for entry in CAWG_ENTRIES),
        notice=notice,
        tdm_policy=reservation.tdm_policy if reserved else None,
        licence_url=licence,
        web_statement=licence or reservation.tdm_policy,
        owner=label,
    )
