"""One resolved answer per response: reserved or not, by path and content type."""

from __future__ import annotations

import pytest
from paths import ROOT

from proxy.config.policy import load_policy
from proxy.config.reservation import Override, Reservation, warnings
from proxy.errors import Problem
from proxy.ruleset import Ruleset

GOOD = ROOT / "tests" / "config" / "testdata" / "good" / "overrides.yaml"


@pytest.fixture(scope="module")
def reservation(shipped: Ruleset) -> Reservation:
    problems: list[Problem] = []
    policy = load_policy(GOOD, shipped.catalogue, problems)
    assert problems == []
    return policy.reservation


@pytest.mark.parametrize(
    ("path", "content_type", "reserved"),
    [
        ("/", "text/html", True),
        ("/music/track.mp3", "audio/mpeg", True),
        ("/press/", "text/html; charset=utf-8", False),
        ("/press/kit.zip", "application/zip", False),
        ("/docs/a.pdf", "application/pdf", False),
        ("/docs/a.pdf.html", "text/html", True),
        # first match wins: press-kit (unreserved) comes before media
        ("/press/photo.jpg", "image/jpeg", False),
        ("/art/cover.png", "IMAGE/PNG", True),
        ("/press/", None, False),
        ("/art/unknown", None, True),
    ],
)
def test_resolve(
    reservation: Reservation, path: str, content_type: str | None, reserved: bool
) -> None:
    assert reservation.resolve(path, content_type) is reserved


def test_first_matching_override_decides() -> None:
    from proxy.config.reservation import Override
    from proxy.patterns import compile_paths

    res = Reservation(
        overrides=(
            Override("a", False, ("/x/",), (), compile_paths(["/x/"])),
            Override("b", True, ("/x/y",), (), compile_paths(["/x/y"])),
        )
    )
    assert res.resolve("/x/y") is False


def test_labels_are_derived_from_the_answer(reservation: Reservation) -> None:
    assert reservation.usage(True) == (("train-ai", "n"), ("search", "y"))
    assert reservation.usage(False) == (("train-ai", "y"), ("search", "y"))
    assert reservation.signals(True) == (("search", "yes"), ("ai-train", "no"), ("ai-input", "no"))
    assert reservation.signals(False)[-2:] == (("ai-train", "yes"), ("ai-input", "yes"))
    assert reservation.rsl_path == "/license.xml"


def test_default_content_signal() -> None:
    assert Reservation().signals(True) == (
        ("search", "yes"),
        ("ai-train", "no"),
        ("ai-input", "no"),
    )


def test_warnings_name_what_formats_cannot_express(reservation: Reservation) -> None:
    found = {(w.rule, w.message.split(":")[0]) for w in warnings(reservation, "policy.yaml")}
    assert found == {
        ("press-kit", "Content-Signal has no per-path form"),
        ("media", "robots.txt, tdmrep.json and ai.txt cannot express content types"),
        ("press-audio", "robots.txt, tdmrep.json and ai.txt cannot express content types"),
    }


def test_shipped_policy_has_no_warnings(shipped: Ruleset) -> None:
    assert shipped.warnings == ()


# An open site whose recordings and PNGs stay reserved: only the content-type
# override can answer "reserved" here, so a wildcard that stopped matching shows.
OPEN_BUT_MEDIA = Reservation(
    reserved=False,
    overrides=(Override("media", True, content_types=("audio/*", "image/png")),),
)


@pytest.mark.parametrize(
    ("content_type", "reserved"),
    [
        ("audio/mpeg", True),
        ("audio/ogg; codecs=opus", True),
        ("Audio/FLAC", True),
        ("image/png", True),
        ("image/jpeg", False),  # image/png is exact, not a wildcard
        ("text/html", False),
        ("audiox/mpeg", False),  # the major type, not a prefix of it
        ("application/audio", False),
        (None, False),
    ],
)
def test_a_wildcard_reserves_every_subtype_of_its_type(
    content_type: str | None, reserved: bool
) -> None:
    assert OPEN_BUT_MEDIA.resolve("/music/track", content_type) is reserved
