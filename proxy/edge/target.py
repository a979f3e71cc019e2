"""The request target in one form: the path normalised as RFC 3986 says, the query as sent.

The path is rewritten in this order; the order matters, because an origin decodes
before it resolves dot segments (`/a/%2e%2e/private` is `/private` to nginx):

1. The fragment (`#` and what follows) is dropped; origins ignore it (nginx
   serves `/secret.html#x` as `/secret.html`).
2. An escape of an unreserved character (letters, digits, `-._~`; §2.3) is
   decoded: `/%70rivate` is `/private`. Every other escape stays encoded, with
   upper-case hex (§6.2.2.1): `%c3%a9` becomes `%C3%A9`, `%25` stays `%25`. A
   character a path may not hold raw (`"<>^`{|}` and bytes over 0x7F) is
   percent-encoded, as browsers send it; an origin decodes both spellings to the
   same bytes.
3. Repeated slashes are merged and dot segments removed (§5.2.4), in one pass as
   nginx does (`/a//../b` is `/b`); `..` above the root stays at the root.

Refused with BadRequest, because origins disagree on what these mean:

- an encoded `/` or `\\` (`%2F`, `%5C`): one origin decodes it into a separator, another does not;
- a raw `\\`: a separator to Windows servers and some static servers, a character to others;
- an encoded control character, NUL included (`%00` to `%1F`, `%7F`);
- an invalid escape (`%` not followed by two hex digits);
- a control byte or a space anywhere in the target, query included;
- a dot segment with parameters (`..;x`): Tomcat and Jetty resolve it as `..`;
- a target that is neither origin-form (`/...`) nor `*` for OPTIONS.

The query is kept as sent: what it means belongs to the application.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from proxy.edge.errors import BadRequest

_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_CONTROL = re.compile(rb"[\x00-\x20\x7f]")
# A byte a path may not hold raw (RFC 3986 pchar and "/"), or the start of an escape.
_TOKEN = re.compile(rb"%(?P<hex>[0-9A-Fa-f]{2})?|[^A-Za-z0-9\-._~!$&'()*+,;=:@/]")
# What a path needs, if anything, beyond being copied: a token, "//" or a dot segment.
_WORK = re.compile(rb"[^A-Za-z0-9\-._~!$&'()*+,;=:@/]|//|/\.")
# Escapes refused by the byte they encode, with why.
_REFUSED = {
    0x2F: ("encoded-slash", "an encoded '/' (%2F) in the path"),
    0x5C: ("encoded-backslash", "an encoded '\\' (%5C) in the path"),
}


@dataclass(frozen=True, slots=True)
class Target:
    """A normalised request target: the path (ASCII) and the query as sent (None: no '?')."""

    path: str
    query: bytes | None = None

    def __bytes__(self) -> bytes:
        path = self.path.encode("ascii")
        return path if self.query is None else path + b"?" + self.query


def normalise_target(raw: bytes, method: str = "GET") -> Target:
    """The one form of a request target (origin-form, or `*` for OPTIONS). Raises BadRequest."""
    if _CONTROL.search(raw):
        raise BadRequest("control-byte", "a control byte or space in the request target")
    target = raw.partition(b"#")[0]
    path, question, query = target.partition(b"?")
    if path == b"*" and not question and method == "OPTIONS":
        return Target("*")
    if not path.startswith(b"/"):
        raise BadRequest("not-origin-form", "the request target does not start with '/'")
    return Target(normalise_path(path), query if question else None)


def normalise_path(path: bytes) -> str:
    """A path (starting with '/', no query) in its one form. Raises BadRequest."""
    if not _WORK.search(path):
        return path.decode("ascii")
    return remove_dot_segments(_TOKEN.sub(_spell, path).decode("ascii"))


def _spell(match: re.Match[bytes]) -> bytes:
    """The one spelling of an escape or of a byte not allowed raw."""
    token = match.group()
    if token == b"\\":
        raise BadRequest("backslash", "a '\\' in the path")
    if not token.startswith(b"%"):
        return b"%%%02X" % token[0]
    digits = match.group("hex")
    if digits is None:
        raise BadRequest("invalid-escape", "a '%' not followed by two hex digits in the path")
    value = int(digits, 16)
    if value in _UNRESERVED:
        return bytes((value,))
    if value in _REFUSED:
        raise BadRequest(*_REFUSED[value])
    if value < 0x20 or value == 0x7F:
        raise BadRequest("encoded-control", "an encoded control character in the path")
    return b"%" + digits.upper()


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 on a path starting with '/', merging repeated slashes as it goes."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment.startswith((".;", "..;")):
            raise BadRequest("dot-segment-parameters", "a dot segment with ';' parameters")
        elif segment not in ("", "."):
            kept.append(segment)
    # "/a/b/..", "/a/." and "/a/" name a directory: the trailing slash stays.
    trailing = bool(kept) and segments[-1] in ("", ".", "..")
    return "/" + "/".join(kept) + ("/" if trailing else "")
