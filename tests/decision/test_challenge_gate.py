"""What a request matched by a challenge rule gets: page, plain 403, or through."""

from __future__ import annotations

from dataclasses import replace

import pytest

from proxy.config.policy import Policy
from proxy.config.reservation import Reservation
from proxy.decision.act import Answer, PassThrough
from proxy.decision.challenge import Challenges, check_answer, issue, solve
from proxy.decision.challengegate import answered, gate
from proxy.model import Action, ChallengeSpec, RequestInfo, Verdict

NOW = 1_800_000_000.0
POLICY = Policy(
    "Label",
    Reservation(licence="https://label.example/licensing", contact="mailto:l@label.example"),
    (),
    Verdict(Action.ALLOW, "default"),
)
PAGE = RequestInfo("GET", "label.example", "/x", "Mozilla/5.0", "203.0.113.7", "text/html")
MEDIA = replace(PAGE, accept="*/*", path="/a.mp3")


def _gate(spec: ChallengeSpec, request: RequestInfo, cookie: str | None = None) -> object:
    verdict = Verdict(Action.CHALLENGE, "check", challenge=spec)
    headers = {"cookie": cookie} if cookie else {}
    return gate(POLICY, verdict, spec, request, headers.get, Challenges(), NOW)


@pytest.mark.parametrize(
    ("non_html", "request_", "kind", "status", "outcome"),
    [
        ("refuse", PAGE, Answer, 403, "challenged"),
        ("refuse", MEDIA, Answer, 403, "challenged"),
        ("refuse", replace(PAGE, method="HEAD"), Answer, 403, "challenged"),
        ("allow", MEDIA, PassThrough, None, "allowed"),
        ("allow", PAGE, Answer, 403, "challenged"),
        ("page", MEDIA, Answer, 403, "challenged"),
    ],
)
def test_what_each_request_gets(
    non_html: str, request_: RequestInfo, kind: type, status: int | None, outcome: str
) -> None:
    result = _gate(ChallengeSpec(non_html=non_html), request_)
    assert isinstance(result, kind)
    assert result.outcome == outcome  # type: ignore[attr-defined]
    if isinstance(result, Answer):
        assert result.status == status
        page = non_html == "page" or request_ is PAGE
        assert (b"<!doctype html>" in result.body) is page
        assert b"Article 4(3)" in result.body
        assert b"https://label.example/licensing" in result.body


def test_the_page_names_its_challenge_and_a_bad_cookie_fails() -> None:
    result = _gate(ChallengeSpec(), PAGE, "optout_pass=p1~1~2~3~4~5~6~7~8")
    assert isinstance(result, Answer)
    assert result.outcome == "challenge-failed"
    detail = dict(result.detail)
    assert detail["reason"] == "cookie-unknown-key"
    assert result.reference == detail["id"]
    assert result.reference.encode() in result.body


def test_a_passed_answer_sets_a_cookie_only_secure_over_tls() -> None:
    state = Challenges()
    spec = ChallengeSpec(difficulty=4)
    for tls, secure in (("", False), ("1.3", True)):
        request = replace(PAGE, tls_version=tls)
        token = issue(state.keys, spec, "check", request, NOW).token
        query = f"t={token}&n={solve(token, 4)}&next=/x"
        result, check = answered(POLICY, request, query, state, NOW + 1)
        assert check.ok
        headers = dict(result.headers)
        assert (result.status, headers["location"]) == (303, "/x")
        assert headers["set-cookie"].startswith("optout_pass=")
        assert headers["set-cookie"].endswith("; Secure") is secure
        assert f"Max-Age={spec.ttl}" in headers["set-cookie"]
    assert not check_answer(state, PAGE, query, NOW + 2).ok  # spent


def test_the_answer_path_takes_get_only() -> None:
    result, check = answered(POLICY, replace(PAGE, method="POST"), "", Challenges(), NOW)
    assert (result.status, check.ok) == (405, False)
