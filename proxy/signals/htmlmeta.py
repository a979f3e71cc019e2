"""Reservation meta tags in HTML: insert ours, correct upstream ones that contradict them.

Why: under TDMRep an HTML `<meta name="tdm-reservation">` supersedes the HTTP header,
so an upstream page saying `content="0"` would undo the reservation the proxy sends as a
header. The page must carry exactly one tdm-reservation meta, with our value, plus the
`noai`/`noimageai` robots directives and the RSL licence link.

Rules this module keeps:
- Pure and fast: no I/O, no DOM. Compiled regexes tokenise only the head (up to `</head>`,
  `<body` or the first 64 Ki characters), skipping comments and raw text (script, style,
  title, textarea), because it runs on every buffered HTML page.
- Never break a page: bytes outside the edited tags are kept exactly. The text is decoded
  with `surrogateescape` (invalid bytes survive), and a page whose charset is unknown, whose
  bytes don't decode or don't re-encode to the same bytes, is returned unchanged, with a note.
- Never raise on wire input (Protego's rule): problems become notes for the log.
- A tdm-reservation or tdm-policy meta past the scanned head (after 64 Ki characters of
  inline styles, or in `<body>`) would contradict ours too: the rest of the page is
  searched for that literal only, at most `_LATE_LIMIT` hits, and each real meta tag
  found outside comments and raw text is removed, with a note saying where it was.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache
from html import escape, unescape
from typing import NamedTuple

_SCAN_LIMIT = 64 * 1024  # characters of the document searched for the head
_PRESCAN = 1024  # bytes searched for a <meta charset>, as browsers do
_TDM = ("tdm-reservation", "tdm-policy")
_LATE = re.compile(r"tdm-(?:reservation|policy)", re.I)
_LATE_LIMIT = 32  # hits looked at past the head: bounded work on any page
_LATE_BACK = 4096  # characters searched back from a hit for the start of its tag
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_META_CHARSET = re.compile(rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([\w.:+-]+)""", re.I)
_TOKEN = re.compile(
    r"""<(?:
        (?P<comment>!--)
      | (?P<decl>[!?])[^>]*+>?
      | (?P<close>/)?(?P<name>[A-Za-z][^\s/>]*+)
        (?P<attrs>(?:[^>"']++|"[^"]*+"?|'[^']*+'?)*+)>?
    )""",
    re.X,
)
_ATTR = re.compile(r"""([^\s"'>/=]++)(?:\s*=\s*("[^"]*+"?|'[^']*+'?|[^\s>]*+))?""")
# Only metas whose attributes hold one of these (lower-cased) are parsed: ours, robots, charset.
_WANTED = ("tdm", "robots", "charset", "content-type", "&")
_RAW_TEXT = {
    name: re.compile(rf"</{name}[\s/>]", re.I) for name in ("script", "style", "title", "textarea")
}


@dataclass(frozen=True, slots=True)
class MetaTags:
    """What the page must say; built once per policy by the caller."""

    tdm_reservation: str | None  # "1" or "0"; None = do not touch tdm tags
    tdm_policy: str | None  # URL or None
    robots: tuple[str, ...]  # directives to merge into <meta name="robots">
    licence: str | None  # RSL URL for <link rel="license" type="application/rsl+xml">

    def __post_init__(self) -> None:
        if self.tdm_reservation not in (None, "0", "1"):
            value = self.tdm_reservation
            raise ValueError(f"MetaTags.tdm_reservation is {value!r}: must be '1', '0' or None")


@dataclass(frozen=True, slots=True)
class Injected:
    body: bytes
    changed: bool
    notes: tuple[str, ...]  # what was corrected, for the log


class _Meta(NamedTuple):
    start: int
    end: int
    attrs_at: int  # where the attributes begin, to add a missing content attribute
    name: str  # the name attribute, stripped and lower-cased
    content: str | None  # raw (not unescaped) value of the content attribute
    content_span: tuple[int, int] | None  # the value in the text, quotes included
    declares_charset: bool


@dataclass(slots=True)
class _Head:
    anchor: int = 0  # where our tags go
    needs_head: bool = False  # anchor is after <html> and the page has no <head>
    metas: list[_Meta] = field(default_factory=list)
    scanned: int = 0  # where the head scan stopped: later tdm metas are found by _late_metas


def inject(body: bytes, charset: str | None, tags: MetaTags) -> Injected:
    """Return `body` carrying `tags`; never raises, never changes bytes outside the head."""
    if tags.tdm_reservation is None and not tags.robots and tags.licence is None:
        return Injected(body, False, ())
    if not body.strip():
        return Injected(body, False, ("empty body: no meta tags inserted",))
    codec, label = _choose_codec(body, charset)
    if codec is None:
        return Injected(body, False, (f"unknown charset {label!r}: page left unchanged",))
    try:
        text = body.decode(codec, "surrogateescape")
        if text.encode(codec, "surrogateescape") != body:
            return Injected(body, False, (f"{label} does not round-trip: page left unchanged",))
        new_text, notes = _edit(text, tags)
        new_body = new_text.encode(codec, "surrogateescape")
    except (UnicodeError, LookupError, ValueError) as e:
        return Injected(body, False, (f"cannot decode as {label} ({e}): page left unchanged",))
    if new_body == body:
        return Injected(body, False, notes)
    return Injected(new_body, True, notes)


def _choose_codec(body: bytes, charset: str | None) -> tuple[str | None, str]:
    """Pick the codec: BOM, else header charset, else <meta charset>, else UTF-8.

    A BOM wins over the header, as in browsers (WHATWG encoding sniffing); trusting the
    header instead would insert ASCII tags into a UTF-16 page.
    """
    for bom, name in _BOMS:
        if body.startswith(bom):
            return name, name
    label = (charset or "").strip().strip("\"'").lower()
    if not label:
        found = _META_CHARSET.search(body, 0, _PRESCAN)
        label = found.group(1).decode("ascii").lower() if found else "utf-8"
        if label.startswith(("utf-16", "utf-32")):
            label = "utf-8"  # a page readable as ASCII is not UTF-16 (WHATWG prescan rule)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None, label
    if name in ("utf-16", "utf-32"):
        return None, label  # no BOM: the byte order is unknown
    return name, label


def _edit(text: str, tags: MetaTags) -> tuple[str, tuple[str, ...]]:
    head = _scan(text)
    metas = head.metas
    edits: list[tuple[int, int, str]] = []
    notes: list[str] = []
    if tags.tdm_reservation is not None:
        for meta in metas:
            if meta.name in _TDM:
                edits.append((meta.start, meta.end, ""))
                notes.append(_removal_note(meta, tags))
        late, stopped = _late_metas(text, head.scanned)
        for meta, where in late:
            edits.append((meta.start, meta.end, ""))
            notes.append(f"{_removal_note(meta, tags)} {where}")
        if stopped:
            notes.append(f"more than {_LATE_LIMIT} tdm mentions after the head: the rest unread")
    robots = [m for m in metas if m.name == "robots"]
    if robots and tags.robots:
        edits.extend(_merge_robots(robots, tags.robots, notes))
    block = _block(tags, not robots)
    if head.needs_head:
        block = "<head>" + block
        notes.append("page has no <head>: inserted one after <html>")
    if block:
        edits.append((head.anchor, head.anchor, block))
    return _apply(text, edits), tuple(notes)


def _scan(text: str) -> _Head:
    """Tokenise the head: find where our tags go and every meta tag outside raw text."""
    limit = min(len(text), _SCAN_LIMIT)
    head = _Head(anchor=1 if text.startswith("\ufeff") else 0)
    opened = seen_element = False
    pos = 0
    while (tok := _TOKEN.search(text, pos, limit)) is not None:
        pos = tok.end()
        if tok["comment"]:
            pos = _comment_end(text, pos, limit)
            continue
        if tok["decl"]:
            if not seen_element:  # doctype or <?xml ...?>: our tags go after it
                head.anchor = pos
            continue
        name = tok["name"].lower()
        if tok["close"]:
            if name == "head":
                head.scanned = tok.start()
                break
            continue
        if name == "body":
            head.scanned = tok.start()
            break
        if name == "html" and not seen_element:
            head.anchor, head.needs_head = pos, True
        elif name == "head" and not opened:
            opened, head.anchor, head.needs_head = True, pos, False
        elif name == "meta" and _wanted(tok["attrs"]):
            head.metas.append(_parse_meta(tok))
        seen_element = True
        if name in _RAW_TEXT:
            end = _RAW_TEXT[name].search(text, pos, limit)
            pos = end.start() if end else limit
    else:
        head.scanned = max(pos, limit)
    _after_charset_meta(head)
    return head


def _late_metas(text: str, start: int) -> tuple[list[tuple[_Meta, str]], bool]:
    """tdm metas after the scanned head, outside comments and raw text; bounded.

    Also whether the search stopped at `_LATE_LIMIT` hits, leaving the rest unread.
    """
    found: list[tuple[_Meta, str]] = []
    for hits, hit in enumerate(_LATE.finditer(text, start)):
        if hits >= _LATE_LIMIT:
            return found, True
        lt = text.rfind("<", max(start, hit.start() - _LATE_BACK), hit.start())
        tok = _TOKEN.match(text, lt) if lt >= 0 else None
        if tok is None or tok.end() <= hit.start() or (tok["name"] or "").lower() != "meta":
            continue
        meta = _parse_meta(tok)
        if meta.name in _TDM and not _hidden(text, lt):
            where = "in <body>" if "<body" in text[:lt].lower() else "late in <head>"
            found.append((meta, f"({where}, at character {lt})"))
    return found, False


def _hidden(text: str, at: int) -> bool:
    """Whether `at` is inside a comment or a raw-text element (script, style...)."""
    before = text[:at].lower()
    if before.rfind("<!--") > before.rfind("-->"):
        return True
    return any(before.rfind(f"<{name}") > before.rfind(f"</{name}") for name in _RAW_TEXT)


def _wanted(attrs: str) -> bool:
    lowered = attrs.lower()
    return any(word in lowered for word in _WANTED)


def _comment_end(text: str, pos: int, limit: int) -> int:
    """Skip a comment opened just before `pos`; `<!-->` and `<!--->` are empty comments."""
    for short in (">", "->"):
        if text.startswith(short, pos, limit):
            return pos + len(short)
    end = text.find("-->", pos, limit)
    return limit if end < 0 else end + 3


def _parse_meta(tok: re.Match[str]) -> _Meta:
    """Read the attributes of a meta tag; the first of a repeated attribute wins, as in HTML."""
    base = tok.start("attrs")
    values: dict[str, tuple[str, int, int]] = {}
    for attr in _ATTR.finditer(tok["attrs"]):
        key = attr[1].lower()
        if key in values:
            continue
        if attr[2] is None:  # an attribute without a value
            values[key] = ("", -1, -1)
        else:
            values[key] = (_unquote(attr[2]), base + attr.start(2), base + attr.end(2))
    name = unescape(values["name"][0]).strip().lower() if "name" in values else ""
    content = values.get("content")
    equiv = values.get("http-equiv", ("", 0, 0))[0].strip().lower()
    return _Meta(
        start=tok.start(),
        end=tok.end(),
        attrs_at=base,
        name=name,
        content=content[0] if content else None,
        content_span=content[1:] if content and content[1] >= 0 else None,
        declares_charset="charset" in values or equiv == "content-type",
    )


def _unquote(raw: str) -> str:
    if raw[:1] in ("'", '"'):
        return raw[1:-1] if len(raw) > 1 and raw[-1] == raw[0] else raw[1:]
    return raw


def _after_charset_meta(head: _Head) -> None:
    """Keep a charset declaration first: moving it past byte 1024 would break the page."""
    for meta in head.metas:
        if meta.declares_charset and meta.name not in _TDM:
            if meta.start >= head.anchor:
                head.anchor, head.needs_head = meta.end, False
            return


def _removal_note(meta: _Meta, tags: MetaTags) -> str:
    ours = tags.tdm_reservation if meta.name == "tdm-reservation" else tags.tdm_policy
    theirs = None if meta.content is None else unescape(meta.content).strip()
    kind = "duplicate" if theirs == ours else "conflicting"
    return f"removed {kind} upstream {meta.name} meta (content={_short(theirs)})"


def _short(value: str | None) -> str:
    return repr(value if value is None or len(value) <= 80 else value[:77] + "...")


def _merge_robots(
    robots: list[_Meta], ours: tuple[str, ...], notes: list[str]
) -> list[tuple[int, int, str]]:
    """Add the directives no robots meta has yet to the first one, in place."""
    present = {d.strip().lower() for m in robots for d in unescape(m.content or "").split(",")}
    missing = _missing(ours, present)
    if not missing:
        return []
    notes.append(f"merged {', '.join(missing)} into the upstream robots meta")
    first = robots[0]
    if first.content_span is None:
        return [(first.attrs_at, first.attrs_at, f' content="{", ".join(missing)}"')]
    kept = (first.content or "").rstrip(", \t\r\n")
    value = ", ".join([kept, *missing]) if kept.strip() else ", ".join(missing)
    return [(*first.content_span, '"' + value.replace('"', "&quot;") + '"')]


def _missing(ours: tuple[str, ...], present: set[str]) -> list[str]:
    """Our directives not in `present` (compared case-insensitively), escaped, in order."""
    missing: list[str] = []
    for directive in ours:
        if directive.lower() not in present:
            present.add(directive.lower())
            missing.append(_attr(directive))
    return missing


@lru_cache(maxsize=64)
def _block(tags: MetaTags, with_robots: bool) -> str:
    """Our tags, ASCII only (attribute values escaped, non-ASCII as character references)."""
    parts: list[str] = []
    if tags.tdm_reservation is not None:
        parts.append(f'<meta name="tdm-reservation" content="{_attr(tags.tdm_reservation)}">')
        if tags.tdm_policy:
            parts.append(f'<meta name="tdm-policy" content="{_attr(tags.tdm_policy)}">')
    if with_robots and tags.robots:
        robots = ", ".join(_missing(tags.robots, set()))
        parts.append(f'<meta name="robots" content="{robots}">')
    if tags.licence:
        href = _attr(tags.licence)
        parts.append(f'<link rel="license" type="application/rsl+xml" href="{href}">')
    return "".join(parts)


def _attr(value: str) -> str:
    return escape(value).encode("ascii", "xmlcharrefreplace").decode("ascii")


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    pieces: list[str] = []
    cursor = 0
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1])):
        pieces += (text[cursor:start], replacement)
        cursor = end
    pieces.append(text[cursor:])
    return "".join(pieces)
