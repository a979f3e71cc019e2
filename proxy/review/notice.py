"""`optout evidence notice BUNDLE --out notice.html`: a dated notice a lawyer can send.

Addressed to the crawler operator's copyright contact, it states the label's
reservation (DSM Directive Art. 4(3)), the AI Act's Art. 53(1)(c) duty to respect
it, the reservation forms the bundle shows in force, the access recorded, and
how to verify the attached bundle. It is written only for a bundle that
verifies, and its figures are the bundle's. The label's name, address and
contact come from the policy. `render_pdf` prints it with headless Chromium.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections import Counter
from datetime import UTC, datetime
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

from proxy import __version__
from proxy.config.policy import Policy
from proxy.review import bundle_verify
from proxy.review.bundle_read import read_bundle
from proxy.review.files import ReviewError

_PATHS = 8  # paths listed in the access table


def build(bundle: Path, policy: Policy, today: datetime | None = None) -> str:
    """The notice's HTML; ReviewError if the bundle does not verify."""
    outcome = bundle_verify.verify(bundle, None)
    if not outcome.ok:
        raise ReviewError(f"{bundle} does not verify, no notice written: {outcome.problems[0]}")
    files = read_bundle(bundle)
    rows = [json.loads(line) for line in files["records.jsonl"].splitlines()]
    opt = [r.get("optout") or {} for r in rows]
    domains = sorted({str((r.get("url") or {}).get("domain")) for r in rows})
    contact = policy.reservation.contact or ""
    values = {
        "label": escape(policy.label or "The rightsholder"),
        "address": escape(policy.address),
        "contact": escape(contact.removeprefix("mailto:")),
        "date": (today or datetime.now(UTC)).strftime("%d %B %Y"),
        "operator": escape(", ".join(sorted({str(o.get("operator")) for o in opt}))),
        "agents": escape(", ".join(sorted({str(o.get("agent")) for o in opt}))),
        "domains": escape(", ".join(domains)),
        "first_domain": escape(domains[0]),
        "forms": _forms(files, rows, policy),
        "statement": "".join(f"<p>{escape(s)}</p>" for s in outcome.statement.splitlines()),
        "access": _access(rows, opt),
        "bundle_name": escape(bundle.name),
        "bundle_sha": _sha(bundle),
        "key_id": escape(_key_id(outcome.facts)),
        "tsa_note": "" if "timestamped by TSA" in outcome.statement else
        " (these records are not yet covered by a timestamp)",
        "version": __version__,
        "records": str(len(rows)),
        "checkpoints": str(_checkpoints(files)),
    }  # fmt: skip
    template = resources.files("proxy.review").joinpath("notice.html").read_text("utf-8")
    return Template(template).substitute(values)


def _row(name: str, value: str) -> str:
    return f"<tr><th>{name}</th><td>{value}</td></tr>"


def _forms(files: dict[str, bytes], rows: list[dict[str, Any]], policy: Policy) -> str:
    out = []
    for name, body in sorted(files.items()):
        if name.startswith("headersets/"):
            shown = "<br>".join(
                escape(line) for line in body.decode("utf-8", "replace").splitlines()
            )
            sha = name.split("/", 1)[1]
            out.append(_row("HTTP headers on the responses", f"<code>{shown}</code><br>"
                            f"<span class='hash'>SHA-256 {sha}</span>"))  # fmt: skip
    kinds = {}
    for r in rows:
        served = (r.get("optout") or {}).get("served") or {}
        if served.get("sha256"):
            kinds[served["sha256"]] = str(served.get("kind"))
    for sha, kind in sorted(kinds.items(), key=lambda kv: kv[1]):
        if f"served/{sha}" in files and not kind.endswith(".pem"):
            out.append(
                _row(escape(kind), f"the version served (<span class='hash'>SHA-256 {sha}</span>)")
            )
    if policy.reservation.tdm_policy:
        url = escape(policy.reservation.tdm_policy)
        out.append(_row("TDM policy (W3C TDMRep)", f"<code>{url}</code>"))
    return "\n".join(out) or _row("Reservation", "as stated in the records")


def _access(rows: list[dict[str, Any]], opt: list[dict[str, Any]]) -> str:
    times = [str(r.get("@timestamp")) for r in rows]
    actions = Counter(str((r.get("event") or {}).get("action")) for r in rows)
    identities = Counter(str(o.get("identity")) for o in opt)
    ips = sorted({str((r.get("source") or {}).get("ip")) for r in rows})
    paths = Counter(str((r.get("url") or {}).get("path")) for r in rows)
    shown = ", ".join(f"{escape(p)} ({n})" for p, n in paths.most_common(_PATHS))
    more = f" and {len(paths) - _PATHS} more" if len(paths) > _PATHS else ""
    return "\n".join(
        [
            _row("Period (as logged)", f"{escape(min(times))} to {escape(max(times))}"),
            _row("Requests", f"{len(rows)}: {_counts(actions)}"),
            _row("Identity", _counts(identities)),
            _row("From addresses", escape(", ".join(ips))),
            _row("Paths fetched", shown + more),
        ]
    )


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {escape(k)}" for k, n in sorted(counter.items()))


def _sha(path: Path) -> str:
    if path.is_dir():
        return "(a folder: zip it to send it)"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _key_id(facts: list[str]) -> str:
    for fact in facts:
        if fact.startswith("label's checkpoint key id "):
            return fact.split()[4].rstrip(":")
    return "(the bundle has no signing key)"


def _checkpoints(files: dict[str, bytes]) -> int:
    return sum(
        b'"action":"checkpoint"' in line for line in files["chain-segment.jsonl"].splitlines()
    )


def render_pdf(html: Path, pdf: Path) -> None:
    """Print `html` to `pdf` with headless Chromium; ReviewError if there is none."""
    browser = next(
        (b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None
    )
    if browser is None:
        raise ReviewError("no Chromium found to print the PDF (install chromium)")
    done = subprocess.run(  # noqa: S603 - a fixed program and our own file paths
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
         f"--print-to-pdf={pdf}", html.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if done.returncode != 0 or not pdf.is_file():
        raise ReviewError(f"Chromium could not print {pdf}: {done.stderr.strip()[-300:]}")
