"""Properties of the header signals: Content-Usage round-trips, X-Robots-Tag merges cleanly."""

from __future__ import annotations

import http_sf
from http_sf.types import Token
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.config.reservation import Reservation
from proxy.signals.headers import content_usage, merge_robots_tag

# derandomize: CI runs the same examples every time, so a failure is reproducible
# and main never goes red by chance; widen max_examples locally to search further.
SETTINGS = settings(max_examples=200, database=None, deadline=None, derandomize=True)
# RFC 9651 keys: lowercase letter or "*", then lowercase letters, digits, "_-.*".
KEYS = st.from_regex(r"[a-z*][a-z0-9_.*-]{0,10}", fullmatch=True).filter(lambda k: k != "train-ai")
EXTRA = st.dictionaries(KEYS, st.sampled_from(["y", "n"]), max_size=5)


@SETTINGS
@given(reserved=st.booleans(), extra=EXTRA)
def test_content_usage_parses_back_to_the_same_labels(
    reserved: bool, extra: dict[str, str]
) -> None:
    reservation = Reservation(content_usage=tuple(extra.items()))
    value = content_usage(reservation, reserved)
    parsed = http_sf.parse(value.encode(), tltype="dictionary")
    labels = {key: str(item) for key, (item, params) in parsed.items()}
    assert all(isinstance(item, Token) and not params for item, params in parsed.values())
    assert labels == {"train-ai": "n" if reserved else "y", **extra}
    assert list(labels)[0] == "train-ai"


OURS = ("noai", "noimageai")
DIRECTIVES = st.sampled_from(
    [
        "noai",
        "NoAI",
        "noimageai",
        " noimageai ",
        "noindex",
        "nofollow",
        "googlebot: noindex",
        "max-snippet: 50",
        "none",
        "notranslate",
    ]
)


def _directives(value: str) -> list[str]:
    return [d.strip().lower() for d in value.split(",")]


@SETTINGS
@given(existing=st.lists(DIRECTIVES, max_size=6), ours=st.sampled_from([OURS, ("noai",), ()]))
def test_robots_tag_merge_keeps_theirs_adds_ours_once(
    existing: list[str], ours: tuple[str, ...]
) -> None:
    upstream = ", ".join(existing) or None
    merged = merge_robots_tag(upstream, ours)
    directives = _directives(merged)
    for directive in ours:
        assert directives.count(directive) == max(1, _directives(upstream or "").count(directive))
    if upstream:
        assert merged.strip().startswith(upstream.strip())  # theirs first, as they wrote it
    else:
        assert directives == list(ours) or (not ours and merged == "")


@SETTINGS
@given(existing=st.lists(DIRECTIVES, max_size=6, unique_by=lambda d: d.strip().lower()))
def test_robots_tag_merge_never_duplicates(existing: list[str]) -> None:
    merged = merge_robots_tag(", ".join(existing) or None, OURS)
    directives = _directives(merged)
    assert len(directives) == len(set(directives))
    assert set(OURS) <= set(directives)
