"""The block page names the holder, the rule and the licence, and escapes all of it."""

from __future__ import annotations

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.decision import blockpage
from proxy.model import Action, Agent, Classification, Identity, Purpose, Verdict

AGENT = Agent("<Bot>", "Op", Purpose.AI_TRAINING, ("Bot",), ("Bot",), "https://x")
POLICY = Policy(
    "Rock & Roll <Records>",
    Reservation(licence="https://label.example/licence?a=1&b=2"),
    (),
    Verdict(Action.ALLOW, "default"),
)


def test_html_for_browsers_is_escaped() -> None:
    body, content_type = blockpage.render(
        POLICY, "no-training", Classification(AGENT, Identity.CLAIMED), want_html=True
    )
    text = body.decode()
    assert content_type == "text/html; charset=utf-8"
    assert "Rock &amp; Roll &lt;Records&gt;" in text
    assert "for &lt;Bot&gt;" in text
    assert "<code>no-training</code>" in text
    assert 'href="https://label.example/licence?a=1&amp;b=2"' in text
    assert "Directive (EU) 2019/790" in text


def test_text_for_crawlers() -> None:
    body, content_type = blockpage.render(
        POLICY, "no-training", Classification(None, Identity.NONE), want_html=False
    )
    assert content_type == "text/plain; charset=utf-8"
    assert body.decode().splitlines() == [
        "Rock & Roll <Records> reserves its text-and-data-mining rights under Article 4(3) "
        "of Directive (EU) 2019/790.",
        "This request was refused by rule no-training.",
        "To license this content, see https://label.example/licence?a=1&b=2",
    ]


def test_wants_html() -> None:
    assert blockpage.wants_html("text/html,application/xhtml+xml;q=0.9")
    assert not blockpage.wants_html("*/*")
    assert not blockpage.wants_html("")


def test_a_person_misclassified_learns_what_happened_and_whom_to_write() -> None:
    policy = Policy(
        "Northern Lights",
        Reservation(licence="https://label.example/licence", contact="mailto:tdm@label.example"),
        (),
        Verdict(Action.ALLOW, "default"),
    )
    body, _ = blockpage.render(
        policy, "block-spoofed", Classification(AGENT, Identity.SPOOFED), True, "5e2c0a7f91b3d468"
    )
    text = body.decode()
    assert "If you are a person and this is a mistake" in text
    assert "may not be mined or used to train AI without" in text
    assert '<a href="mailto:tdm@label.example">tdm@label.example</a>' in text
    assert "quote this reference: <code>5e2c0a7f91b3d468</code>" in text


def test_text_names_the_contact_besides_the_licence() -> None:
    policy = Policy(
        "L", Reservation(licence="https://l/", contact="mailto:a@l"), (), Verdict(Action.ALLOW, "d")
    )
    body, _ = blockpage.render(policy, "r", Classification(None, Identity.NONE), False, "ab12")
    assert body.decode().splitlines()[-3:] == [
        "To license this content, see https://l/",
        "Contact: a@l",
        "Reference: ab12",
    ]


def test_references_are_new_for_every_request_and_safe_to_quote() -> None:
    refs = {blockpage.reference() for _ in range(10_000)}
    assert len(refs) == 10_000
    assert all(len(r) == 16 and set(r) <= set("0123456789abcdef") for r in refs)


def test_no_reference_no_sentence_about_one() -> None:
    body, _ = blockpage.render(POLICY, "r", Classification(None, Identity.NONE), True)
    assert "reference" not in body.decode()
