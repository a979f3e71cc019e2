"""The report's first lines: did the log's hash chain (and its checkpoints) verify?

A security team reads the charts only if the records under them are intact, so
the report runs the same check as `optout logs verify` (one more pass over the
files) and states the verdict before anything else.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path

from proxy.evidence.chain import HEAD_FILE, Head, load_head
from proxy.evidence.chainverify import VerifyResult
from proxy.evidence.checkpoints import Seen
from proxy.evidence.verifyfiles import verify_files
from proxy.review.files import chains


@dataclass(frozen=True, slots=True)
class Integrity:
    result: VerifyResult
    seen: Seen
    head: Head | None
    head_problem: str | None = None  # the state dir's chain head could not be read
    chain: str | None = None  # one of several chains (`--workers N`): its log's name


def check(
    files: Sequence[Path],
    state: Path,
    key: bytes | None = None,
    head_path: Path | None = None,
    done: Callable[[Path], None] | None = None,
) -> Integrity:
    """Verify `files` (in chain order) and, when the state dir holds one, the chain head."""
    head, problem = None, None
    try:
        head = load_head(head_path or state / HEAD_FILE)
    except (OSError, ValueError) as e:
        problem = f"the chain head in {state} cannot be read: {e}"
    seen = Seen()
    result = verify_files(files, key, head, seen, done=done)
    return Integrity(result, seen, head, problem)


def check_all(
    files: Sequence[Path],
    state: Path,
    key: bytes | None = None,
    done: Callable[[Path], None] | None = None,
) -> list[Integrity]:
    """Each chain of `files` verified on its own, against its own head."""
    found = chains(files)
    if len(found) == 1:
        return [check(found[0].files, state, key, found[0].head(state), done)]
    return [replace(check(c.files, state, key, c.head(state), done), chain=c.name) for c in found]


def lines(found: Integrity) -> tuple[str, list[str]]:
    """A verdict class ("ok", "bad" or "warn") and the sentences to show under it."""
    r = found.result
    if r.needs_key:
        return "warn", [f"Not verified: {r.problem}", "Run optout logs verify with the key."]
    if not r.ok:
        where = f" at {r.file.name}:{r.line}" if r.file and r.line else ""
        return "bad", [f"Hash chain BROKEN{where}: {r.problem}"]
    span = f"records {r.first_sequence} to {r.last_sequence}" if r.records else "no records"
    out = [f"Hash chain verified: {span} ({r.records:,} records) are intact."]
    verdict = "ok"
    if found.head is not None:
        out.append(
            f"The log ends at the chain head saved by the proxy (record {found.head.sequence})."
        )
    else:
        verdict = "warn"
        out.append(
            found.head_problem
            or "No chain head in the state dir: records removed from the end would go unnoticed."
        )
    for gap in r.gaps:
        verdict = "warn"
        out.append(
            f"Gap: records {gap.first_sequence} to {gap.last_sequence} ({gap.lost}) "
            "were lost: the log could not be written."
        )
    out.extend(_checkpoints(found.seen))
    if found.seen.gaps:
        verdict = "warn"
    return verdict, out


def _checkpoints(seen: Seen) -> list[str]:
    if not seen.count:
        return ["No checkpoints in these files: the records' time is the proxy's own clock."]
    last = f", the newest timestamp at {seen.last_time}" if seen.last_time else ""
    return [
        f"Checkpoints: {seen.count} ({seen.timestamped} timestamped by a TSA, "
        f"{seen.signed} signed){last}.",
        *seen.gaps,
    ]


def html(found: Integrity | Sequence[Integrity]) -> str:
    """One section; with several chains, the worst verdict and each chain's sentences."""
    each = [found] if isinstance(found, Integrity) else list(found)
    verdicts, items = [], []
    for one in each:
        verdict, sentences = lines(one)
        verdicts.append(verdict)
        prefix = f"Chain {one.chain}: " if one.chain else ""
        items += [f"<li>{escape(prefix + s)}</li>" for s in sentences]
    worst = next((v for v in ("bad", "warn") if v in verdicts), "ok")
    body = "".join(items)
    return f'<section id="integrity" class="integrity {worst}"><ul>{body}</ul></section>'
