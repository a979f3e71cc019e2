"""`optout media check` and `optout check --media`: what a file says, against the policy.

Every statement a file carries is read (the IPTC DataMining value and TDMRep
properties in XMP, the ID3 or Vorbis fields, the C2PA manifest's CAWG
entries and whether its signature verifies) and each is compared with what the
policy resolves for the path it is served at. A file that says nothing, or
says something else anywhere, disagrees: a crawler reads whichever it finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from proxy.config.reservation import Reservation
from proxy.media import audiotags, images, manifests, riff, xmp
from proxy.media.files import CONTENT_TYPES, kind_of
from proxy.media.terms import CAWG_LABEL, Terms, terms_for


class Report(NamedTuple):
    path: Path
    url_path: str
    reserved: bool | None  # what the policy resolves; None for a file that is not media
    says: tuple[tuple[str, str], ...]  # (field, value) as read from the file
    manifest: manifests.Said | None
    problems: tuple[str, ...]  # disagreements, a manifest that does not verify, a bad file

    @property
    def agrees(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        m = self.manifest
        return {
            "file": str(self.path),
            "url_path": self.url_path,
            "policy_reserved": self.reserved,
            "says": dict(self.says),
            "c2pa": None
            if m is None
            else {
                "state": m.state,
                "training_mining": m.entries,
                "signer": m.signer,
                "trusted": m.trusted,
                "failures": list(m.failures),
            },
            "agrees": self.agrees,
            "problems": list(self.problems),
        }


def check_file(path: Path, at: str, reservation: Reservation, label: str) -> Report:
    kind = kind_of(path)
    if kind is None:
        return Report(path, at, None, (), None, ("not a JPEG, PNG, MP3, WAV or FLAC file",))
    terms = terms_for(reservation, label, at, CONTENT_TYPES[kind])
    try:
        data = path.read_bytes()
        says = _fields(kind, data)
        manifest = manifests.read(kind, data)
    except OSError as e:
        return Report(path, at, terms.reserved, (), None, (f"cannot read it: {e.strerror}",))
    except ValueError as e:
        return Report(path, at, terms.reserved, (), None, (str(e),))
    problems = _compare(kind, says, terms) + _compare_manifest(manifest, terms)
    return Report(path, at, terms.reserved, says, manifest, tuple(problems))


def _fields(kind: str, data: bytes) -> tuple[tuple[str, str], ...]:
    if kind in ("jpeg", "png"):
        said: Any = xmp.read(images.get_xmp(kind, data))
        names = {
            "data_mining": "XMP plus:DataMining",
            "tdm_reservation": "XMP tdm:reservation",
            "tdm_policy": "XMP tdm:policy",
            "licensor_url": "XMP plus:LicensorURL",
            "web_statement": "XMP xmpRights:WebStatement",
            "rights": "XMP dc:rights",
        }
    else:
        said = audiotags.read(kind, data)
        tag = "Vorbis" if kind == "flac" else "ID3"
        names = {
            "tdm_reservation": f"{tag} "
            + ("TDM-RESERVATION" if kind == "flac" else "TXXX:tdm-reservation"),
            "tdm_policy": f"{tag} " + ("TDM-POLICY" if kind == "flac" else "TXXX:tdm-policy"),
            "licence_url": f"{tag} " + ("LICENSE" if kind == "flac" else "WCOP"),
            "copyright": f"{tag} " + ("COPYRIGHT" if kind == "flac" else "TCOP"),
        }
    found = [(label, str(v)) for key, label in names.items() if (v := getattr(said, key))]
    if kind == "wav" and (icop := riff.copyright_of(data)):
        found.append(("WAV INFO ICOP", icop))
    return tuple(found)


def _compare(kind: str, says: tuple[tuple[str, str], ...], terms: Terms) -> list[str]:
    found = dict(says)
    wanted = {k: v for k, v in _wanted(kind, terms).items() if v is not None}
    problems = []
    present = [k for k in wanted if k in found]
    if not present:
        return [
            f"says nothing of the reservation; the policy says reserved={_bool(terms.reserved)}"
        ]
    for key, value in wanted.items():
        if key in found and found[key] != value:
            problems.append(f"{key} is {found[key]!r}; the policy says {value!r}")
    return problems


def _wanted(kind: str, terms: Terms) -> dict[str, str | None]:
    reservation = "1" if terms.reserved else "0"
    if kind in ("jpeg", "png"):
        return {"XMP plus:DataMining": terms.data_mining, "XMP tdm:reservation": reservation}
    if kind == "flac":
        return {"Vorbis TDM-RESERVATION": reservation}
    return {"ID3 TXXX:tdm-reservation": reservation}


def _compare_manifest(manifest: manifests.Said | None, terms: Terms) -> list[str]:
    if manifest is None:
        return []
    if not manifests.verifies(manifest):
        return [
            f"its C2PA manifest does not verify ({', '.join(manifest.failures) or manifest.state})"
        ]
    if not manifest.entries:
        return ["its C2PA manifest has no cawg.training-mining assertion"]
    wrong = [
        f"{entry}={manifest.entries.get(entry, 'missing')}"
        for entry, use in terms.cawg
        if manifest.entries.get(entry) != use
    ]
    if wrong:
        use = dict(terms.cawg)
        return [
            f"its C2PA manifest says {', '.join(wrong)}; the policy says {next(iter(use.values()))}"
        ]
    return []


def render(report: Report) -> list[str]:
    """The report as lines of text: the verdict, then each thing the file says."""
    if report.reserved is None:
        return [f"{report.path}: {report.problems[0]}"]
    verdict = "agrees with the policy" if report.agrees else "DISAGREES with the policy"
    lines = [
        f"{report.path} (served at {report.url_path}): {verdict} "
        f"(reserved={_bool(report.reserved)})"
    ]
    lines += [f"  {field}: {value}" for field, value in report.says]
    m = report.manifest
    if m is None:
        lines.append("  C2PA: no manifest")
    else:
        entries = ", ".join(f"{k}={v}" for k, v in sorted(m.entries.items())) or "no CAWG assertion"
        verifies = (
            "signature valid"
            if manifests.verifies(m)
            else f"does NOT verify: {', '.join(m.failures) or m.state}"
        )
        trust = "on a trust list" if m.trusted else "signer not on a trust list"
        lines.append(f"  C2PA {CAWG_LABEL}: {entries}")
        lines.append(f"  C2PA signature: {verifies}; signed by {m.signer or 'unknown'} ({trust})")
    lines += [f"  problem: {p}" for p in report.problems]
    return lines


def _bool(value: bool) -> str:
    return "true" if value else "false"
