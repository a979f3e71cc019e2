"""rules/tls/clients.yaml: which client software a JA4 fingerprint belongs to.

    clients:
      - ja4: t13d1516h2_8daaf6152771_02713d6af862
        family: chromium          # what optout.client_family says
        kind: browser             # browser, library or tool
        seen: [chromium 131 headless]   # where the value was captured

A JA4 names a TLS stack, not a product: every Chromium shares BoringSSL's, and
impersonating libraries (curl-cffi) copy it on purpose. The table is regenerated
by scripts/tls_fingerprints.py against the real clients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from proxy.config import yamlsource
from proxy.errors import Problem

KINDS = ("browser", "library", "tool")
CLIENTS_FILE = Path("tls") / "clients.yaml"


@dataclass(frozen=True, slots=True)
class TlsClient:
    family: str
    kind: str


def lookup(table: Mapping[str, TlsClient], ja4: str) -> TlsClient | None:
    """The client of a JA4; one sent to an address (no SNI: `i`, one extension fewer)
    is looked up as the same client sent to a name, since the hashes leave SNI out."""
    found = table.get(ja4)
    if found is None and len(ja4) > 8 and ja4[3] == "i" and ja4[6:8].isdigit():
        named = f"{ja4[:3]}d{ja4[4:6]}{min(int(ja4[6:8]) + 1, 99):02d}{ja4[8:]}"
        found = table.get(named)
    return found


def load_clients(path: Path, problems: list[Problem]) -> MappingProxyType[str, TlsClient]:
    """The table of `path` by JA4; a missing file is an empty table."""
    if not path.is_file():
        return MappingProxyType({})
    report = yamlsource.Report(str(path))
    table = parse_clients(yamlsource.load(path, report), report)
    problems.extend(report.problems)
    return MappingProxyType(table)


def parse_clients(data: Any, report: yamlsource.Report) -> dict[str, TlsClient]:
    entries = data.get("clients") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        report.add(yamlsource.line_of(data), "expected a mapping with a 'clients:' list")
        return {}
    table: dict[str, TlsClient] = {}
    for index, entry in enumerate(entries):
        line = yamlsource.line_of(entries, index)
        client = _entry(entry, line, report)
        if client is None:
            continue
        ja4, found = client
        if ja4 in table and table[ja4] != found:
            report.add(line, f"{ja4} is listed twice with different families", field="ja4")
        table.setdefault(ja4, found)
    return table


def _entry(entry: Any, line: int | None, report: yamlsource.Report) -> tuple[str, TlsClient] | None:
    if not isinstance(entry, dict):
        report.add(line, "each client must be a mapping")
        return None
    ja4, family, kind = entry.get("ja4"), entry.get("family"), entry.get("kind")
    if not isinstance(ja4, str) or len(ja4.split("_")) != 3:
        report.add(line, f"ja4 must look like t13d1516h2_8daaf6152771_02713d6af862, not {ja4!r}")
    elif not isinstance(family, str) or not family:
        report.add(line, "family must be a non-empty string", field="family")
    elif kind not in KINDS:
        report.add(line, f"kind must be one of {', '.join(KINDS)}, not {kind!r}", field="kind")
    else:
        return ja4, TlsClient(family, kind)
    return None
