"""The label's reservation: whether TDM rights are reserved, per path and content type.

    reservation:
      reserved: true                    # the site default
      overrides:                        # first match wins
        - {name: press-kit, path: /press/, reserved: false}
        - {name: media, content_type: [audio/*, image/*], reserved: true}

Every signal (headers, meta tags, tdmrep.json, robots.txt, ai.txt, RSL) is
rendered from one resolved answer per request, so they agree by construction.
Values the policy spells out explicitly (`content_usage`, `content_signal`) are
checked against `reserved`, so a policy cannot say "reserved" and "train-ai=y"
at once. What a format cannot express (Content-Signal has no per-path form,
robots.txt and tdmrep.json know no content types) is reported as a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from proxy.config import yamlsource
from proxy.errors import Problem
from proxy.patterns import PathMatcher, compile_paths

KEYS = (
    "enabled",
    "reserved",
    "tdm_policy",
    "licence",
    "contact",
    "x_robots_tag",
    "content_usage",
    "content_signal",
    "rsl",
    "ai_txt",
    "overrides",
    "media_manifests",
)
_OVERRIDE_KEYS = ("name", "path", "content_type", "reserved")
# draft-ietf-aipref-vocab-08: train-ai is the training of *generative* models only;
# there is no category for other training, nor for AI use in answers (see coverage()).
AIPREF_LABELS = ("train-ai", "search")
SIGNAL_LABELS = ("search", "ai-input", "ai-train")  # Cloudflare Content Signals
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/(\*|[a-z0-9][a-z0-9!#$&^_.+-]*)")
_ROBOTS_TAG = re.compile(r"[a-z][a-z0-9-]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True, slots=True)
class Override:
    name: str
    reserved: bool
    paths: tuple[str, ...] = ()  # robots.txt-style patterns, as written
    content_types: tuple[str, ...] = ()  # "audio/*", "application/pdf"
    _paths: PathMatcher | None = field(default=None, compare=False, repr=False)

    def matches(self, path: str, content_type: str | None) -> bool:
        if self._paths is not None and self._paths.match(path) is None:
            return False
        if self.content_types:
            return content_type is not None and _type_matches(self.content_types, content_type)
        return True


@dataclass(frozen=True, slots=True)
class Reservation:
    """The reservation as configured. `resolve()` answers it for one response."""

    enabled: bool = True
    reserved: bool = True
    tdm_policy: str | None = None
    licence: str | None = None
    contact: str | None = None
    x_robots_tag: tuple[str, ...] = ("noai", "noimageai")
    content_usage: tuple[tuple[str, str], ...] = ()  # labels besides train-ai
    content_signal: tuple[tuple[str, str], ...] = (("search", "yes"),)  # besides ai-train/input
    rsl_path: str | None = None
    rsl_server: str | None = None  # the licence server the RSL document names (OLP)
    ai_txt: bool = True
    overrides: tuple[Override, ...] = ()
    # Link: <NAME.c2pa>; rel="c2pa-manifest" on media listed in rules/media-manifests.txt
    media_manifests: bool = False

    def resolve(self, path: str, content_type: str | None = None) -> bool:
        """Whether TDM rights are reserved for this path and content type."""
        for override in self.overrides:
            if override.matches(path, content_type):
                return override.reserved
        return self.reserved

    def usage(self, reserved: bool) -> tuple[tuple[str, str], ...]:
        """Content-Usage labels (aipref) for a resolved answer, train-ai first."""
        return (("train-ai", "n" if reserved else "y"), *self.content_usage)

    def signals(self, reserved: bool) -> tuple[tuple[str, str], ...]:
        """Content-Signal labels for a resolved answer."""
        value = "no" if reserved else "yes"
        return (*self.content_signal, ("ai-train", value), ("ai-input", value))


def parse_reservation(node: Any, report: yamlsource.Report, line: int | None) -> Reservation:
    if not isinstance(node, dict):
        report.add(line, "must be a mapping", field="reservation")
        return Reservation()

    def bad(key: str, message: str, at: int | None = None) -> None:
        report.add(at or yamlsource.line_of(node, key), message, field=f"reservation.{key}")

    for key in yamlsource.unknown_keys(node, KEYS):
        bad(key, yamlsource.unknown_key(key, KEYS))
    flags = {k: _flag(node, k, bad) for k in ("enabled", "reserved", "ai_txt")}
    urls = {k: _url(node, k, bad) for k in ("tdm_policy", "licence", "contact")}
    tags = yamlsource.string_list(node.get("x_robots_tag", ["noai", "noimageai"]))
    if tags is None or any(_ROBOTS_TAG.fullmatch(t) is None for t in tags):
        bad("x_robots_tag", "must be a list of lower-case directives like noai, noimageai")
        tags = []
    reserved = flags["reserved"]
    usage = _labels(node, "content_usage", AIPREF_LABELS, ("y", "n"), bad)
    usage = _drop_derived(node, "content_usage", usage, {"train-ai": "n" if reserved else "y"}, bad)
    signal = _labels(node, "content_signal", SIGNAL_LABELS, ("yes", "no"), bad)
    derived = {"ai-train": "no" if reserved else "yes", "ai-input": "no" if reserved else "yes"}
    signal = _drop_derived(node, "content_signal", signal, derived, bad)
    if "content_signal" not in node:
        signal = (("search", "yes"),)
    return Reservation(
        enabled=flags["enabled"],
        reserved=reserved,
        tdm_policy=urls["tdm_policy"],
        licence=urls["licence"],
        contact=urls["contact"],
        x_robots_tag=tuple(tags),
        content_usage=usage,
        content_signal=signal,
        rsl_path=_rsl_path(node, bad),
        rsl_server=_rsl_server(node, bad),
        ai_txt=flags["ai_txt"],
        overrides=_overrides(node, report),
        media_manifests=_switch(node, "media_manifests", bad),
    )


def warnings(reservation: Reservation, file: str) -> list[Problem]:
    """What the formats cannot express; not errors, but a rule author should know."""
    found = []
    for o in reservation.overrides:
        if o.paths and not o.content_types and o.reserved != reservation.reserved:
            found.append(
                Problem(
                    file,
                    None,
                    "Content-Signal has no per-path form: robots.txt "
                    "states the site default for these paths too",
                    o.name,
                )
            )
        if o.content_types:
            found.append(
                Problem(
                    file,
                    None,
                    "robots.txt, tdmrep.json and ai.txt cannot express "
                    "content types: only headers and meta tags carry this",
                    o.name,
                )
            )
    paths = [o for o in reservation.overrides if o.paths and not o.content_types]
    for earlier, later in zip(paths, paths[1:], strict=False):
        if max(map(len, later.paths)) > min(map(len, earlier.paths)):
            found.append(
                Problem(
                    file,
                    None,
                    "tdmrep.json lists the most specific path first; "
                    f"put it before {earlier.name!r} so both agree",
                    later.name,
                )
            )
    return found


def _flag(node: dict[str, Any], key: str, bad: Any) -> bool:
    value = node.get(key, True)
    if not isinstance(value, bool):
        bad(key, "must be true or false")
        return True
    return value


def _switch(node: dict[str, Any], key: str, bad: Any) -> bool:
    """A switch that is off unless set: true/false, or on/off as the settings spell it."""
    value = node.get(key, False)
    if value is True or value == "on":
        return True
    if value is not False and value != "off":
        bad(key, f"must be on or off, not {value!r}")
    return False


def _url(node: dict[str, Any], key: str, bad: Any) -> str | None:
    value = node.get(key)
    if value is None:
        return None
    error = url_error(value, mailto=key == "contact")
    if error:
        bad(key, error)
        return None
    return str(value)


def _labels(
    node: dict[str, Any], key: str, known: tuple[str, ...], values: tuple[str, str], bad: Any
) -> tuple[tuple[str, str], ...]:
    mapping = node.get(key, {})
    if not isinstance(mapping, dict):
        bad(key, f"must be a mapping like {{{known[0]}: {values[1]}}}")
        return ()
    pairs = []
    for label, value in mapping.items():
        at = yamlsource.line_of(mapping, label)
        if label not in known:
            bad(key, f"unknown label {label!r}; the vocabulary has {' and '.join(known)}", at)
        elif value not in values:
            bad(key, f"{label} must be {' or '.join(values)}, not {value!r}", at)
        else:
            pairs.append((str(label), str(value)))
    return tuple(pairs)


def _drop_derived(
    node: dict[str, Any],
    key: str,
    pairs: tuple[tuple[str, str], ...],
    derived: dict[str, str],
    bad: Any,
) -> tuple[tuple[str, str], ...]:
    """Labels that follow from `reserved` are ours to set; a contrary value is an error."""
    kept = []
    for label, value in pairs:
        if label in derived and value != derived[label]:
            reserved = "true" if derived[label] in ("n", "no") else "false"
            at = yamlsource.line_of(node[key], label)
            bad(key, f"{label}={value} contradicts reserved: {reserved}", at)
        elif label not in derived:
            kept.append((label, value))
    return tuple(kept)


def _rsl_path(node: dict[str, Any], bad: Any) -> str | None:
    rsl = node.get("rsl")
    if rsl is None:
        return None
    if (
        not isinstance(rsl, dict)
        or set(rsl) - {"path", "server"}
        or not isinstance(rsl.get("path"), str)
    ):
        bad("rsl", "must be a mapping like {path: /license.xml}")
        return None
    path = str(rsl["path"])
    if not re.fullmatch(r"/[A-Za-z0-9._~/-]*", path):
        at = yamlsource.line_of(rsl, "path")
        bad("rsl", f"path {path!r} must be an absolute path of URL-safe characters", at)
        return None
    return path


def _rsl_server(node: dict[str, Any], bad: Any) -> str | None:
    """`rsl.server`: the licence server reserved content names (`<content server="…">`)."""
    rsl = node.get("rsl")
    if not isinstance(rsl, dict) or rsl.get("server") is None:
        return None
    error = url_error(rsl["server"], mailto=False)
    if error:
        bad("rsl", f"server: {error}", yamlsource.line_of(rsl, "server"))
        return None
    return str(rsl["server"])


def _overrides(node: dict[str, Any], report: yamlsource.Report) -> tuple[Override, ...]:
    entries = node.get("overrides", [])
    if not isinstance(entries, list):
        report.add(
            yamlsource.line_of(node, "overrides"), "must be a list", field="reservation.overrides"
        )
        return ()
    result: list[Override] = []
    for index, entry in enumerate(entries):
        override = _override(entry, index + 1, yamlsource.line_of(entries, index), report)
        if override is not None:
            if any(o.name == override.name for o in result):
                report.add(
                    yamlsource.line_of(entry, "name"),
                    "duplicate name",
                    rule=f'override {index + 1} ("{override.name}")',
                    field="name",
                )
            _refuse_shadowed(override, result, index + 1, entry, report)
            result.append(override)
    return tuple(result)


def _refuse_shadowed(
    later: Override, earlier: list[Override], number: int, entry: Any, report: yamlsource.Report
) -> None:
    """Refuse a path override that an earlier one with the other answer always pre-empts.

    Headers and meta tags resolve first match wins, so it would never apply; tdmrep.json,
    robots.txt and ai.txt resolve the most specific path, so they would apply it. No
    format can say both, and the signals would contradict each other.
    """
    if not later.paths or later.content_types:
        return
    for first in earlier:
        if first.reserved != later.reserved and not first.content_types and first.paths:
            if all(_covers(first.paths, pattern) for pattern in later.paths):
                report.add(
                    yamlsource.line_of(entry, "path"),
                    f"never applies: override {first.name!r} comes first and matches every path"
                    " this one names, so headers (first match wins) would say"
                    f" reserved={str(first.reserved).lower()} while tdmrep.json, robots.txt"
                    " and ai.txt (most specific path wins) would say"
                    f" reserved={str(later.reserved).lower()}; move it before {first.name!r}",
                    rule=f'override {number} ("{later.name}")',
                    field="path",
                )
                return


def _covers(patterns: tuple[str, ...], pattern: str) -> bool:
    """Whether one of `patterns` (robots.txt-style prefixes) matches every path `pattern` does."""
    literal = pattern.split("*")[0].removesuffix("$")
    return any(
        not p.endswith("$") and compile_paths([p]).match(literal) is not None for p in patterns
    )


def _override(
    entry: Any, number: int, line: int | None, report: yamlsource.Report
) -> Override | None:
    if not isinstance(entry, dict):
        report.add(line, "each override must be a mapping", rule=f"override {number}")
        return None
    name = entry.get("name")
    label = f'override {number} ("{name}")' if isinstance(name, str) else f"override {number}"
    before = len(report.problems)

    def bad(key: str, message: str) -> None:
        report.add(yamlsource.line_of(entry, key) or line, message, rule=label, field=key)

    for key in yamlsource.unknown_keys(entry, _OVERRIDE_KEYS):
        bad(key, yamlsource.unknown_key(key, _OVERRIDE_KEYS, "an override"))
    if not isinstance(name, str) or _NAME.fullmatch(name) is None:
        bad("name", "missing" if "name" not in entry else "must be a word of letters and digits")
    if not isinstance(entry.get("reserved"), bool):
        bad("reserved", "must be true or false")
    paths = yamlsource.string_list(entry.get("path", []))
    types = yamlsource.string_list(entry.get("content_type", []))
    compiled = None
    if paths is None:
        bad("path", "must be a string or a list of strings")
    elif paths:
        try:
            compiled = compile_paths(paths)
        except ValueError as e:
            bad("path", str(e))
    if types is None or any(_CONTENT_TYPE.fullmatch(t.lower()) is None for t in types):
        bad("content_type", "must be media types like audio/* or application/pdf")
    if not paths and not types:
        report.add(line, "an override needs a path or a content_type", rule=label)
    if len(report.problems) > before:
        return None
    return Override(
        str(name),
        bool(entry["reserved"]),
        tuple(paths or ()),
        tuple(t.lower() for t in types or ()),
        compiled,
    )


def _type_matches(patterns: tuple[str, ...], content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    major = media.split("/", 1)[0]
    return any(p == media or (p.endswith("/*") and p[:-2] == major) for p in patterns)


def url_error(value: Any, mailto: bool = False) -> str | None:
    """Why `value` cannot be put in a header or a document as a URL, or None."""
    from urllib.parse import urlsplit

    if not isinstance(value, str) or has_control(value) or " " in value:
        return "must be a URL without spaces or control characters"
    if mailto and value.startswith("mailto:") and "@" in value:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"{value!r} must be an absolute http(s) URL" + (" or mailto:" if mailto else "")
    if any(c in value for c in '<>"'):
        return f"{value!r} must not contain <, > or quotes"
    return None


def has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)


class Coverage(NamedTuple):
    """What one format says of the label's intent, and what it cannot say."""

    format: str
    says: str
    cannot: tuple[str, ...]


def coverage(reservation: Reservation) -> tuple[Coverage, ...]:
    """Per format, how the site default maps onto "no AI training of any kind" and
    "no AI use for answers" (when reserved), or their opposites (when not)."""
    r = reservation.reserved
    usage = ", ".join(f"{k}={v}" for k, v in reservation.usage(r))
    signal = ", ".join(f"{k}={v}" for k, v in reservation.signals(r))
    per_path = any(o.paths and o.reserved != r for o in reservation.overrides)
    types = any(o.content_types for o in reservation.overrides)
    found = [
        Coverage(
            "aipref Content-Usage (header, robots.txt)",
            f"{usage}: train-ai is the training of generative AI models (vocab-08)",
            (
                "training of models that generate nothing (train-ai covers generative ones)",
                "AI use for answers: the vocabulary has no category for it",
            ),
        ),
        Coverage(
            "Content-Signal (robots.txt)",
            f"{signal}: ai-train is any AI training, ai-input any AI answer or grounding",
            ("a per-path answer: robots.txt states the site default",) if per_path else (),
        ),
        Coverage(
            "TDMRep (header, meta, tdmrep.json)",
            f"tdm-reservation={int(r)}: text and data mining rights "
            + ("reserved (EU DSM Art. 4), training and answers alike" if r else "not reserved"),
            ("training and AI answers apart: one bit for all text and data mining",)
            + (("content types, in tdmrep.json",) if types else ()),
        ),
    ]
    if reservation.rsl_path or reservation.licence:
        found.append(
            Coverage(
                "RSL licence document",
                "usage prohibited: " + (_rsl_tokens(reservation.signals(r), "no") or "none"),
                ("which crawler may do what: RSL states the terms, the licence grants them",),
            )
        )
    if reservation.x_robots_tag and r:
        found.append(
            Coverage(
                "noai (X-Robots-Tag, robots meta)",
                f"{', '.join(reservation.x_robots_tag)}: no AI use of any kind (informal)",
                ("training and answers apart", "what most crawlers read: no standard defines it"),
            )
        )
    return tuple(found)


def _rsl_tokens(signals: tuple[tuple[str, str], ...], value: str) -> str:
    return " ".join(k for k, v in signals if v == value and k in SIGNAL_LABELS)


def coverage_lines(reservation: Reservation) -> list[str]:
    """`optout check`'s account of the signals: per format, what it says and cannot say."""
    if not reservation.enabled:
        return ["signals: reservation disabled, no format says anything"]
    lines = []
    for c in coverage(reservation):
        lines.append(f"signals: {c.format} says {c.says}")
        lines += [f"  cannot say: {what}" for what in c.cannot]
    return lines
