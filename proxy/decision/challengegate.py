"""Act on a `challenge` verdict: pass a client with a valid cookie, else challenge it.

Outcomes, for the record (`optout.outcome`, with `optout.challenge.reason`):

    challenge-passed   the cookie holds (reason cookie), or an answer was right
                       (solved, nojs: proxy.decision.challenge.check_answer)
    challenged         the page was served (reason none, cookie-expired,
                       cookie-other-rule), or a request that cannot show it got 403
    challenge-failed   a cookie was forged, signed by an unknown key, or is used
                       from another network or user agent; a fresh page is served
                       (a wrong, replayed or moved answer fails at the answer path)

A request that cannot show the page (not a GET, no text/html in Accept, media,
a Range) gets a plain 403 with the reservation, unless the rule says `non_html:
allow` (it passes) or `page` (it gets the page anyway).
"""

from __future__ import annotations

from proxy.config.policy import Policy
from proxy.decision import challengepage
from proxy.decision.act import Answer, PassThrough
from proxy.decision.challenge import (
    ANSWER_PATH,
    Challenges,
    Check,
    Header,
    can_show_page,
    check_answer,
    check_cookie,
    issue,
    set_cookie,
)
from proxy.model import ChallengeSpec, RequestInfo, Verdict

# A bad cookie is an attempt, not a newcomer: these reasons fail rather than challenge.
_FAILED = frozenset({"cookie-forged", "cookie-unknown-key", "cookie-malformed"})
_FAILED |= {"cookie-other-network", "cookie-other-agent"}
HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


def gate(
    policy: Policy,
    verdict: Verdict,
    spec: ChallengeSpec,
    request: RequestInfo,
    header: Header,
    challenges: Challenges,
    now: float,
) -> Answer | PassThrough:
    """What a request matched by a challenge rule gets."""
    found = check_cookie(challenges.keys, spec, request, header("cookie"), now)
    if found.ok:
        return PassThrough("challenge-passed", detail=(("reason", "cookie"),))
    outcome = "challenge-failed" if found.reason in _FAILED else "challenged"
    page = can_show_page(request, header)
    if not page and spec.non_html == "allow":
        return PassThrough("allowed", detail=(("reason", "not-a-page"),))
    if not page and spec.non_html == "refuse":
        body = challengepage.render_refusal(policy, verdict.rule, "this request cannot show it")
        reason = "not-a-page" if found.reason == "none" else found.reason
        return Answer(403, (("content-type", TEXT),), body, outcome, detail=(("reason", reason),))
    issued = issue(challenges.keys, spec, verdict.rule, request, now)
    body = challengepage.render(policy, issued, request.path)
    detail = (("reason", found.reason), ("id", issued.id), ("difficulty", str(issued.difficulty)))
    return Answer(403, (("content-type", HTML),), body, outcome, issued.id, detail)


def answered(
    policy: Policy, request: RequestInfo, query: str, challenges: Challenges, now: float
) -> tuple[Answer, Check]:
    """The answer to a request for ANSWER_PATH: a cookie and 303 back, or 403 and why."""
    if request.method not in ("GET", "HEAD"):
        body = f"{ANSWER_PATH} takes GET only.\n".encode()
        check = Check(False, "answer-malformed")
        return Answer(
            405, (("allow", "GET"), ("content-type", TEXT)), body, "challenge-failed"
        ), check
    check = check_answer(challenges, request, query, now)
    detail = (("reason", check.reason), *((("id", check.id),) if check.id else ()))
    if check.ok:
        cookie = set_cookie(check.cookie, _max_age(check.cookie, now), bool(request.tls_version))
        headers = (("set-cookie", cookie), ("location", check.next), ("content-type", TEXT))
        passed = b"Passed; continue to the page.\n"
        return Answer(303, headers, passed, "challenge-passed", check.id, detail), check
    body = challengepage.render_refusal(policy, check.rule or "-", check.reason)
    body += f"Try again: {check.next}\n".encode()
    return Answer(403, (("content-type", TEXT),), body, "challenge-failed", check.id, detail), check


def _max_age(cookie: str, now: float) -> int:
    expires = int(cookie.split("~")[1])
    return max(0, expires - int(now))
