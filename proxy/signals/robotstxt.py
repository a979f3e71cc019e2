"""Merge the site's robots.txt with our reservation, without loosening anything.

Crawlers read one robots.txt, so our reservation has to live in the file the site
already serves. A naive concatenation breaks in ways that RFC 9309 makes easy to miss
(standards.md §6): a dangling `User-agent` line fuses with the next group, groups that
name the same token are unioned with `Allow` winning ties, and a named group replaces
the `*` rules for that agent. The merge therefore works on groups, not on text:

* Our block is prepended (header comment, `License:` lines, one group that disallows
  the reserved tokens everywhere, and a `*` group when upstream has none), so a cut at
  the size limit drops upstream lines, never ours.
* Reserved tokens are removed from upstream groups; every remaining group keeps its
  rules verbatim and gains our `Content-Usage` and `Content-Signal` lines, so no
  non-reserved agent's permissions change.
* Lines before the first `User-agent` stay outside every group: they are written
  before our groups, since after them any rule among them would join our last group.
* Status mapping: 2xx is merged; 3xx and 4xx mean "no robots.txt", so we serve our
  file alone. 5xx, 429 (which Google treats as a server error) and an unreachable
  upstream mean "disallow everything" under RFC 9309 §2.3.1.4. We answer those with a
  200 that disallows everything for everyone rather than passing the error through:
  the error would keep the site closed too, but it would lose our signals and licence.

Upstream bytes come from the wire, so parsing never raises; what was odd about them is
returned in `MergedRobots.notes` for the log. No I/O happens here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import NamedTuple

MAX_LINE_BYTES = 8 * 1024

_EOL = re.compile(r"\r\n|\r|\n")
_PRODUCT_TOKEN = re.compile(r"[a-z_-]*")
_BOM = b"\xef\xbb\xbf"
# Field names as the common parsers (Google's, protego) accept them, typos included.
_AGENT = frozenset({"user-agent", "useragent", "user agent"})
_RULE = frozenset({"allow", "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"})
_GLOBAL = frozenset({"sitemap", "sitemaps", "site-map", "host", "license"})
_KNOWN = _AGENT | _RULE | _GLOBAL
_KINDS = (("agent", _AGENT), ("rule", _RULE), ("global", _GLOBAL))

_HEADER = (
    "This site reserves its rights in its content against text and data mining.",
    "",
    "Content-Signal lines say how the content may be used once it has been fetched:",
    "  search:   building a search index and showing search results (links and short",
    "            excerpts), not AI-generated summaries or answers.",
    "  ai-input: feeding the content into an AI model to produce an answer, for example",
    "            retrieval-augmented generation or grounding.",
    "  ai-train: training or fine-tuning AI models.",
    "yes means the use is permitted, no means it is not; a use left out is neither",
    "permitted nor refused. Content-Usage lines say the same in the IETF AI preferences",
    "vocabulary (train-ai).",
    "",
    "The restrictions expressed in this file, including the Disallow, Content-Signal and",
    "Content-Usage lines, are an express reservation of rights under Article 4 of",
    "Directive (EU) 2019/790 on copyright and related rights in the Digital Single Market.",
)


@dataclass(frozen=True, slots=True)
class RobotsPolicy:
    reserved_tokens: tuple[str, ...]
    content_usage: str | None = "train-ai=n"
    content_signal: str | None = "search=yes, ai-train=no, ai-input=no"
    # Path-scoped Content-Usage lines (aipref attach: longest path match wins).
    content_usage_paths: tuple[tuple[str, str], ...] = ()
    licences: tuple[str, ...] = ()
    comment: tuple[str, ...] = ()
    # The robots.txt trap (proxy.config.trap): disallowed in every group, so only an
    # agent that ignores robots.txt fetches it.
    trap_path: str | None = None


@dataclass(frozen=True, slots=True)
class MergedRobots:
    status: int
    text: str
    upstream_dropped: bool
    notes: tuple[str, ...]


class _Line(NamedTuple):
    number: int
    text: str  # verbatim
    kind: str  # blank, comment, agent, rule, global, other
    key: str  # lowercased field name, "" when the line is not a directive
    value: str  # without comment and surrounding whitespace


@dataclass(slots=True)
class _Piece:
    """A run of upstream lines; `ours` is inserted after line `at` (a group's end)."""

    lines: list[_Line] = field(default_factory=list)
    ours: tuple[str, ...] = ()
    at: int = 0

    def render(self, count: int | None = None) -> list[str]:
        kept = self.lines if count is None else self.lines[:count]
        ours = self.ours if any(line.kind == "agent" for line in kept) else ()
        at = min(self.at, len(kept))
        return [line.text for line in kept[:at]] + list(ours) + [x.text for x in kept[at:]]


def merge(
    upstream: bytes | None, status: int | None, policy: RobotsPolicy, limit: int = 500 * 1024
) -> MergedRobots:
    """Build the robots.txt to serve from the upstream body and status."""
    policy = replace(policy, reserved_tokens=_clean_tokens(policy.reserved_tokens))
    if status is None or status == 429 or not 200 <= status < 500:
        note = "upstream unreachable" if status is None else f"upstream status {status}"
        text = _join(_block(policy, [], "Disallow: /"))
        return MergedRobots(200, text, False, (f"{note}: disallowing everything for everyone",))
    if status >= 300 or not upstream:
        text = _join(_block(policy, [], "Allow: /"))
        note = f"upstream status {status}" if status >= 300 else "upstream body empty"
        return MergedRobots(200, text, False, (f"{note}: serving our rules only",))
    notes: list[str] = []
    pieces = _rewrite(_parse(_decode(upstream, notes), notes), policy, notes)
    return _assemble(pieces, policy, limit, notes)


def _assemble(
    pieces: list[_Piece], policy: RobotsPolicy, limit: int, notes: list[str]
) -> MergedRobots:
    separator = 1 if pieces[0].lines else 0  # the blank line before upstream's preamble
    star = None if _has_star(pieces) else "Allow: /"
    kept, dropped = _fit(pieces, limit - _size(_block(policy, [], star)) - separator)
    if star is None and not _has_star(kept):
        # The cut removed upstream's `*` group: add ours so unnamed agents see our lines.
        star = "Allow: /"
        kept, dropped = _fit(pieces, limit - _size(_block(policy, [], star)) - separator)
    if dropped:
        notes.append(f"upstream content cut to keep the file within {limit} bytes")
    rendered = [piece.render() for piece in kept]
    lines = _block(policy, rendered[0], star)
    lines += [line for piece in rendered[1:] for line in piece]
    return MergedRobots(200, _join(lines), dropped, tuple(notes))


def _block(policy: RobotsPolicy, preamble: list[str], star: str | None) -> list[str]:
    """Our header and licences, upstream's preamble, then our groups."""
    lines = [f"# {line}".rstrip() for line in (*_HEADER, *_one_line_each(policy.comment))]
    lines += [f"License: {url}" for url in _one_line_each(policy.licences)]
    lines += ["", *preamble] if preamble else []
    signals, tokens = _signals(policy), policy.reserved_tokens
    if tokens:
        lines += ["", *(f"User-agent: {t}" for t in tokens), "Disallow: /", *signals]
    if star and "*" not in {t.lower() for t in tokens}:
        trapped = policy.trap_path and star != "Disallow: /"
        trap = [f"Disallow: {policy.trap_path}"] if trapped else []
        lines += ["", "User-agent: *", star, *trap, *signals]
    return [*lines, ""]


def _signals(policy: RobotsPolicy) -> tuple[str, ...]:
    pairs = [("Content-Usage", policy.content_usage), ("Content-Signal", policy.content_signal)]
    pairs[1:1] = [
        ("Content-Usage", f"{path} {value}") for path, value in policy.content_usage_paths
    ]
    return tuple(f"{name}: {' '.join(value.split())}" for name, value in pairs if value)


def _clean_tokens(tokens: tuple[str, ...]) -> tuple[str, ...]:
    """Our config, written as given (RFC 9309 grammar or not), one line each, no repeats."""
    seen: dict[str, str] = {}
    for token in _one_line_each(tokens):
        if token:
            seen.setdefault(token.lower(), token)
    return tuple(seen.values())


def _one_line_each(values: tuple[str, ...]) -> list[str]:
    return [" ".join(value.split()) for value in values]


def _decode(body: bytes, notes: list[str]) -> list[tuple[int, str]]:
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
        notes.append("UTF-8 byte order mark removed")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        notes.append(f"not UTF-8 (byte {e.start}): undecodable bytes replaced with U+FFFD")
        text = body.decode("utf-8", errors="replace")
    kept = []
    for number, line in enumerate(_EOL.split(text.removesuffix("\n")), 1):
        if len(line.encode()) > MAX_LINE_BYTES:
            notes.append(f"line {number}: longer than {MAX_LINE_BYTES} bytes, dropped")
        else:
            kept.append((number, line))
    while kept and not kept[-1][1].strip():
        kept.pop()
    return kept


def _classify(number: int, text: str) -> _Line:
    body = text.split("#", 1)[0].strip()
    if not body:
        return _Line(number, text, "comment" if text.strip() else "blank", "", "")
    key, value = _directive(body)
    kind = next((kind for kind, names in _KINDS if key in names), "other")
    return _Line(number, text, kind, key, value)


def _directive(body: str) -> tuple[str, str]:
    """Split `field: value` as protego does, also accepting `User-agent foo`."""
    name, colon, raw = body.partition(":")
    key = name.strip().lower()
    if colon and (key in _KNOWN or not raw or raw[0].isspace()):
        return key, raw.strip()
    words = body.split()
    for count in (1, 2):
        candidate = " ".join(words[:count]).lower()
        if candidate in _KNOWN:
            return candidate, " ".join(words[count:])
    return (key, raw.strip()) if colon else ("", "")


def _parse(lines: list[tuple[int, str]], notes: list[str]) -> list[_Piece]:
    """Split into the preamble and the RFC 9309 groups.

    As in Google's parser, only Allow/Disallow close a group's user-agent lines:
    blank, comment, Sitemap and unknown lines do not (ai.robots.txt issue #215).
    """
    pieces = [_Piece()]
    closed = True  # the next user-agent line starts a group
    odd: list[int] = []
    for number, text in lines:
        line = _classify(number, text)
        if line.kind == "agent" and closed:
            pieces.append(_Piece())
        closed = (closed and line.kind != "agent") or line.kind == "rule"
        odd += [number] if line.kind == "other" and not line.key else []
        pieces[-1].lines.append(line)
    if odd:
        notes.append(f"{len(odd)} line(s) are not robots.txt directives, first at line {odd[0]}")
    return _comments_to_first_group(pieces)


def _comments_to_first_group(pieces: list[_Piece]) -> list[_Piece]:
    """Comments just above the first user-agent line describe that group: keep them there."""
    head = pieces[0].lines
    content = [i for i, x in enumerate(head) if x.kind not in ("blank", "comment")]
    cut = content[-1] + 1 if content else 0
    if len(pieces) > 1:
        pieces[0].lines, pieces[1].lines = head[:cut], head[cut:] + pieces[1].lines
    return pieces


def _rewrite(pieces: list[_Piece], policy: RobotsPolicy, notes: list[str]) -> list[_Piece]:
    reserved = set().union(*(_agent_keys(token) for token in policy.reserved_tokens))
    for piece in pieces[1:]:
        removed = {
            x.number for x in piece.lines if x.kind == "agent" and _agent_keys(x.value) & reserved
        }
        notes += [f"line {n}: reserved user agent removed from its group" for n in sorted(removed)]
        piece.lines = [x for x in piece.lines if x.number not in removed]
        if removed and not any(x.kind == "agent" and x.value for x in piece.lines):
            # Only reserved agents were named: the rules go, comments and globals stay.
            piece.lines = [x for x in piece.lines if x.kind in ("blank", "comment", "global")]
            continue
        # Upstream may state its own, less restrictive preferences. Adding ours is enough:
        # aipref combines statements most-restrictive-first, and the proxy also sends our
        # Content-Usage header on every response.
        present = {(x.key, x.value) for x in piece.lines}
        piece.ours = tuple(s for s in _signals(policy) if _key_value(s) not in present)
        if policy.trap_path and ("disallow", policy.trap_path) not in present:
            # A named group replaces `*` for its agents: each needs the trap line itself.
            piece.ours = (f"Disallow: {policy.trap_path}", *piece.ours)
        if not any(x.kind == "rule" for x in piece.lines):
            # User-agent lines at the end of the file without rules: close the group with
            # an empty Disallow, which matches nothing. ("Allow: /" would outweigh the
            # Disallow of an earlier group of the same agent, which parsers union.)
            piece.ours = ("Disallow:", *piece.ours)
        piece.at = max(i for i, x in enumerate(piece.lines) if x.kind not in ("blank", "comment"))
        piece.at += 1
    return pieces


def _key_value(line: str) -> tuple[str, str]:
    key, _, value = line.partition(":")
    return key.lower(), value.strip()


def _agent_keys(value: str) -> set[str]:
    """The names a user-agent value answers to: as written, without `*`, and its product
    token, which is how Google matches (`GPTBot/1.0` and `GPTBot*` both name GPTBot)."""
    written = " ".join(value.split()).lower()
    token = _PRODUCT_TOKEN.match(written)
    keys = (written, written.replace("*", "").strip(), token.group() if token else "")
    return {key for key in keys if key}


def _has_star(pieces: list[_Piece]) -> bool:
    return any(x.kind == "agent" and x.value.split()[:1] == ["*"] for p in pieces for x in p.lines)


def _fit(pieces: list[_Piece], budget: int) -> tuple[list[_Piece], bool]:
    """Keep upstream pieces in order while they fit; cut the first one that does not."""
    kept: list[_Piece] = []
    for piece in pieces:
        size = _size(piece.render())
        if size <= budget or not piece.lines:
            kept.append(piece)
            budget -= size
            continue
        cut = _Piece(piece.lines[: _fitting(piece, budget)], piece.ours, piece.at)
        return [*kept, cut], True
    return kept, False


def _fitting(piece: _Piece, budget: int) -> int:
    """How many of the piece's lines fit, never leaving user-agent lines without a rule:
    then the cut goes before the group's first user-agent line."""
    ours = _size(list(piece.ours))
    count, first_agent, has_rule = 0, -1, False
    for index, line in enumerate(piece.lines):
        cost = _size([line.text]) + (ours if line.kind == "agent" and first_agent < 0 else 0)
        if cost > budget:
            break
        budget -= cost
        count = index + 1
        first_agent = index if line.kind == "agent" and first_agent < 0 else first_agent
        has_rule = has_rule or line.kind == "rule"
    return first_agent if first_agent >= 0 and not has_rule else count


def _size(lines: list[str]) -> int:
    return sum(len(line.encode()) + 1 for line in lines)


def _join(lines: list[str]) -> str:
    return "\n".join(lines).rstrip("\n") + "\n"
