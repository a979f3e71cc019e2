"""tdmrep.json, ai.txt and the RSL document, rendered from the reservation."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest
from protego import Protego

from proxy.config.reservation import Override, Reservation
from proxy.patterns import compile_paths
from proxy.signals.wellknown import ai_txt, documents, rsl_document, tdmrep_json

POLICY_URL = "https://label.example/policies/tdm.json"


def _override(name: str, reserved: bool, *paths: str, types: tuple[str, ...] = ()) -> Override:
    return Override(name, reserved, paths, types, compile_paths(list(paths)) if paths else None)


PRESS = Reservation(
    tdm_policy=POLICY_URL,
    contact="mailto:rights@label.example",
    overrides=(
        _override("press", False, "/press/"),
        _override("media", True, types=("audio/*",)),
    ),
)


def _tdm_lookup(entries: list[dict[str, object]], path: str) -> object:
    """A TDMRep agent: the first entry whose location matches wins."""
    for entry in entries:
        if compile_paths([str(entry["location"])]).match(path):
            return entry["tdm-reservation"]
    return None


def test_tdmrep_json_is_the_spec_example() -> None:
    # standards.md §1 test vector
    assert json.loads(tdmrep_json(PRESS)) == [
        {"location": "/press/", "tdm-reservation": 0},
        {"location": "/", "tdm-reservation": 1, "tdm-policy": POLICY_URL},
    ]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/press/kit.zip", 0), ("/music/track.mp3", 1), ("/", 1), ("/press", 1)],
)
def test_tdmrep_json_agrees_with_the_proxy(path: str, expected: int) -> None:
    entries = json.loads(tdmrep_json(PRESS))
    assert _tdm_lookup(entries, path) == expected
    assert PRESS.resolve(path) is bool(expected)


def test_tdmrep_json_puts_the_most_specific_first() -> None:
    reservation = Reservation(
        overrides=(_override("kit", False, "/press/"), _override("x", True, "/press/embargo/"))
    )
    entries = json.loads(tdmrep_json(reservation))
    assert [e["location"] for e in entries] == ["/press/embargo/", "/press/", "/"]
    assert _tdm_lookup(entries, "/press/embargo/a.mp3") == 1


def test_ai_txt_reserved_site_with_open_press() -> None:
    text = ai_txt(PRESS)
    assert text.startswith("# Spawning AI\n")
    robots = Protego.parse(text)
    assert robots.can_fetch("https://label.example/press/kit.zip", "anybot")
    assert not robots.can_fetch("https://label.example/press/interview.mp3", "anybot")
    assert not robots.can_fetch("https://label.example/music/track.mp3", "anybot")
    assert not robots.can_fetch("https://label.example/artists/", "anybot")
    assert "Disallow: *\nDisallow: /\n" in text


def test_ai_txt_open_site() -> None:
    text = ai_txt(Reservation(reserved=False))
    robots = Protego.parse(text)
    assert robots.can_fetch("https://label.example/music/track.mp3", "anybot")
    assert text.rstrip().endswith("Allow: /")


def test_ai_txt_open_site_keeps_the_media_a_wildcard_reserves() -> None:
    media = Reservation(reserved=False, overrides=(_override("media", True, types=("audio/*",)),))
    robots = Protego.parse(ai_txt(media))
    assert not robots.can_fetch("https://label.example/music/track.mp3", "anybot")
    assert not robots.can_fetch("https://label.example/music/track.flac", "anybot")
    assert robots.can_fetch("https://label.example/art/cover.png", "anybot")
    assert robots.can_fetch("https://label.example/artists/", "anybot")
    assert media.resolve("/music/track.mp3", "audio/mpeg") is True


def test_an_override_by_path_and_type_is_left_out_of_location_formats() -> None:
    # "audio under /press/" cannot be said by location alone: saying "/press/" would
    # reserve the whole press kit, so the documents keep the site-wide answer there.
    reservation = Reservation(
        reserved=False,
        overrides=(_override("press-audio", True, "/press/", types=("audio/mpeg",)),),
    )
    assert json.loads(tdmrep_json(reservation)) == [{"location": "/", "tdm-reservation": 0}]
    assert Protego.parse(ai_txt(reservation)).can_fetch("https://l.example/press/", "anybot")


def test_ai_txt_reserves_the_media_of_every_reserving_content_type_override() -> None:
    reservation = Reservation(
        reserved=False,
        overrides=(
            _override("audio", True, types=("audio/*",)),
            _override("video-open", False, types=("video/*",)),
            _override("images", True, types=("image/*",)),
        ),
    )
    robots = Protego.parse(ai_txt(reservation))
    assert not robots.can_fetch("https://l.example/a/track.mp3", "anybot")
    assert not robots.can_fetch("https://l.example/a/cover.png", "anybot")
    assert robots.can_fetch("https://l.example/a/clip.mp4", "anybot")  # unreserved override


def test_rsl_names_every_permitted_usage_for_an_open_scope() -> None:
    root = ElementTree.fromstring(rsl_document(Reservation(reserved=False), "Label"))
    ns = {"rsl": "https://rslstandard.org/rsl"}
    (site,) = root.findall("rsl:content", ns)
    assert site.findtext("rsl:license/rsl:permits", namespaces=ns) == "search ai-train ai-input"
    assert site.find("rsl:license/rsl:prohibits", ns) is None


def test_ai_txt_open_site_with_a_reserved_path() -> None:
    reservation = Reservation(reserved=False, overrides=(_override("vault", True, "/vault/"),))
    text = ai_txt(reservation)
    assert "Disallow: /vault/\n" in text
    robots = Protego.parse(text)
    assert not robots.can_fetch("https://l.example/vault/demo.wav", "anybot")
    assert robots.can_fetch("https://l.example/news/", "anybot")


def test_rsl_document_is_declared_xml_with_usage_terms() -> None:
    xml = rsl_document(PRESS, "")
    assert xml.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<rsl xmlns=")
    root = ElementTree.fromstring(xml)
    ns = {"rsl": "https://rslstandard.org/rsl"}
    for element in root.iterfind("rsl:content/rsl:license/*", ns):
        assert element.get("type") == "usage"
    # no label, but a contact: the copyright names the contact alone
    for content in root.findall("rsl:content", ns):
        copyright_ = content.find("rsl:copyright", ns)
        assert copyright_ is not None
        assert (copyright_.text, copyright_.get("contactEmail")) == (None, "rights@label.example")


def test_rsl_document() -> None:
    root = ElementTree.fromstring(rsl_document(PRESS, "Northern Lights <Records>"))
    ns = {"rsl": "https://rslstandard.org/rsl"}
    assert root.tag == "{https://rslstandard.org/rsl}rsl"
    contents = root.findall("rsl:content", ns)
    assert [c.get("url") for c in contents] == ["/press/", "/"]
    site = contents[1]
    assert site.findtext("rsl:license/rsl:permits", namespaces=ns) == "search"
    assert site.findtext("rsl:license/rsl:prohibits", namespaces=ns) == "ai-train ai-input"
    copyright_ = site.find("rsl:copyright", ns)
    assert copyright_ is not None
    assert copyright_.text == "Northern Lights <Records>"
    assert copyright_.get("contactEmail") == "rights@label.example"


def test_documents_served() -> None:
    served = documents(Reservation(rsl_path="/license.xml"), "Label")
    assert sorted(served) == ["/.well-known/tdmrep.json", "/ai.txt", "/license.xml"]
    assert served["/license.xml"].content_type == "application/rsl+xml"
    reservation = Reservation(rsl_path="/license.xml")
    tdmrep, ai = served["/.well-known/tdmrep.json"], served["/ai.txt"]
    assert (tdmrep.body, tdmrep.content_type) == (tdmrep_json(reservation), "application/json")
    assert (ai.body, ai.content_type) == (ai_txt(reservation).encode(), "text/plain; charset=utf-8")
    assert served["/license.xml"].body == rsl_document(reservation, "Label")
    assert documents(Reservation(ai_txt=False), "L").keys() == {"/.well-known/tdmrep.json"}
    assert documents(Reservation(enabled=False), "L") == {}
