"""One request, decided: licence check → decide → shadow → act.

The proxy (addons/decide.py) and `optout classify` both call `decide_request`,
so what the command shows is what the proxy does. It is pure but for the
throttle buckets it is given, which it updates as the proxy's requests would.

In shadow mode (`--shadow`, or `enforce: false` in the policy) a refusal is
decided but not applied: the request is allowed under the rule `shadow`, and
`Decision.shadow` keeps the verdict it escaped, for the log and the metrics.
Counting it as allowed keeps summaries of `event.action` true to what the site
actually served. Nothing is throttled in shadow mode, so no bucket is used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proxy.config.policy import Policy
from proxy.config.weights import Score
from proxy.decision.act import Answer, PassThrough, TokenBuckets, answer
from proxy.decision.challenge import Challenges
from proxy.decision.challengegate import gate
from proxy.decision.decide import decide
from proxy.licensing.tokens import LicenceResult
from proxy.model import Action, Classification, RequestInfo, Verdict

SHADOWED = Verdict(Action.ALLOW, "shadow")

Header = Callable[[str], str | None]
"""A request header by lower-case name, or None."""


@dataclass(frozen=True, slots=True)
class Decision:
    licence: LicenceResult | None  # the check of the licence presented; None: none was
    verdict: Verdict  # the verdict applied: SHADOWED for a refusal in shadow mode
    shadow: Verdict | None  # the refusal shadow mode decided and did not apply
    act: Answer | PassThrough  # the proxy's own answer, or what passing through means
    score: Score = Score(0)  # the request's suspicion score, with what made it


def decide_request(
    policy: Policy,
    request: RequestInfo,
    found: Classification,
    header: Header,
    *,
    shadow: bool,
    buckets: TokenBuckets,
    now: float,
    challenges: Challenges | None = None,
) -> Decision:
    """What to do with `request` from `found` (its verified identity) at wall-clock `now`.

    `shadow` is the operator's switch; a policy with `enforce: false` is shadow
    mode too. `header` gives the Authorization and the price headers (and the
    cookie a `challenge` rule checks, against `challenges`: in memory if None).
    """
    check = policy.licences.check(header("authorization"), found.name, request.path, now)
    score = policy.suspicion.score(request, found)
    verdict = decide(policy, request, found, check, score.total)
    escaped = None
    if verdict.action is not Action.ALLOW and (shadow or not policy.enforce):
        escaped, verdict = verdict, SHADOWED
    if verdict.action is Action.CHALLENGE and verdict.challenge is not None:
        state = challenges if challenges is not None else Challenges()
        acted = gate(policy, verdict, verdict.challenge, request, header, state, now)
    else:
        acted = answer(policy, verdict, request, found, header, check, buckets)
    return Decision(check, verdict, escaped, acted, score)
