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


def _parsed(doc: str) -> tuple[Reservation, list[str]]:
    from ruamel.yaml import YAML

    from proxy.config import yamlsource
    from proxy.config.reservation import parse_reservation

    report = yamlsource.Report("policy.yaml")
    found = parse_reservation(YAML(typ="rt").load(doc), report, 1)
    return found, [str(p) for p in report.problems]


GENERAL_FIRST = """\
reserved: true
overrides:
  - {name: music, path: /music/, reserved: false}
  - {name: private, path: /music/private/, reserved: true}
"""


def test_an_order_no_format_can_express_is_refused() -> None:
    # Headers would say tdm-reservation: 0 for /music/private/x.mp3, tdmrep.json 1.
    _, problems = _parsed(GENERAL_FIRST)
    assert len(problems) == 1
    assert problems[0].startswith('policy.yaml:4: override 2 ("private"): path: never applies')
    assert "move it before 'music'" in problems[0]


@pytest.mark.parametrize(
    "doc",
    [
        GENERAL_FIRST.replace("reserved: true}", "reserved: false}"),  # same answer: harmless
        "reserved: true\noverrides:\n"
        "  - {name: private, path: /music/private/, reserved: true}\n"
        "  - {name: music, path: /music/, reserved: false}\n",
        "reserved: true\noverrides:\n"
        "  - {name: press, path: /press/, reserved: false}\n"
        "  - {name: music, path: /music/private/, reserved: true}\n",
    ],
    ids=["same-answer", "specific-first", "disjoint"],
)
def test_orders_every_format_can_express_are_accepted(doc: str) -> None:
    import json

    from proxy.patterns import compile_paths
    from proxy.signals.wellknown import tdmrep_json

    reservation, problems = _parsed(doc)
    assert problems == []
    entries = json.loads(tdmrep_json(reservation))
    for path in ("/", "/music/", "/music/private/x.mp3", "/music/a.mp3", "/press/kit.zip"):
        first = next(e for e in entries if compile_paths([e["location"]]).match(path))
        assert first["tdm-reservation"] == int(reservation.resolve(path)), path


def test_check_lists_per_format_what_the_intent_cannot_be_said_in() -> None:
    from proxy.config.reservation import coverage, coverage_lines

    found = {c.format.split(" (")[0]: c for c in coverage(Reservation(licence="https://l/x"))}
    assert set(found) == {
        "aipref Content-Usage",
        "Content-Signal",
        "TDMRep",
        "RSL licence document",
        "noai",
    }
    # vocab-08: train-ai is generative training only, and there is no label for answers.
    assert found["aipref Content-Usage"].says.startswith("train-ai=n")
    assert any("answers" in c for c in found["aipref Content-Usage"].cannot)
    assert found["Content-Signal"].says.startswith("search=yes, ai-train=no, ai-input=no")
    assert found["Content-Signal"].cannot == ()
    assert found["RSL licence document"].says == "usage prohibited: ai-train ai-input"
    assert coverage_lines(Reservation(enabled=False)) == [
        "signals: reservation disabled, no format says anything"
    ]


def test_an_open_site_says_so_in_every_format() -> None:
    from proxy.config.reservation import coverage

    found = {c.format.split(" (")[0]: c.says for c in coverage(Reservation(reserved=False))}
    assert found["aipref Content-Usage"].startswith("train-ai=y")
    assert found["TDMRep"].startswith("tdm-reservation=0")
    assert "noai" not in found  # noai is only sent where rights are reserved
