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
