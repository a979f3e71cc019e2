"""The answer to a blocked request: short, honest, and pointing at the licence.

HTML for browsers (a person may be behind a misclassified request), plain text
for everything else. Everything interpolated is escaped.
"""

from __future__ import annotations

from html import escape

from proxy.config.policy import Policy
from proxy.model import Classification

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden</title>
<meta name="robots" content="noindex, noai, noimageai"></head>
<body><h1>Access refused</h1>
<p>{holder} reserves its text-and-data-mining rights under Article 4(3) of
Directive (EU) 2019/790. This request was refused by rule <code>{rule}</code>{agent}.</p>
{licence}</body></html>
"""


def render(policy: Policy, rule: str, found: Classification, want_html: bool) -> tuple[bytes, str]:
    """The body and its Content-Type for a block by `rule`."""
    holder = policy.label or "The rights holder"
    terms = policy.reservation.licence or policy.reservation.contact
    if want_html:
        agent = f" for {escape(found.agent.name)}" if found.agent else ""
        licence = (
            f'<p>To license this content, see <a href="{escape(terms)}">{escape(terms)}</a>.</p>'
            if terms
            else ""
        )
        body = _HTML.format(holder=escape(holder), rule=escape(rule), agent=agent, licence=licence)
        return body.encode(), "text/html; charset=utf-8"
    lines = [
        f"{holder} reserves its text-and-data-mining rights under Article 4(3) "
        "of Directive (EU) 2019/790.",
        f"This request was refused by rule {rule}"
        + (f" for {found.agent.name}." if found.agent else "."),
    ]
    if terms:
        lines.append(f"To license this content, see {terms}")
    return ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"


def wants_html(accept: str) -> bool:
    return "text/html" in accept.lower()


_STATUS_TEXT = {
    401: ("A licence is required", "This content is available to licensed crawlers only."),
    402: ("Payment required", "Crawling this content is charged per request."),
    400: ("Bad price headers", "The crawler's price headers could not be used."),
    403: ("Access refused", "This crawler cannot be charged: it is not verified."),
    429: ("Too many requests", "This crawler is over the rate the site allows."),
}


def render_refusal(
    policy: Policy, status: int, rule: str, detail: str, want_html: bool
) -> tuple[bytes, str]:
    """The body of a 401, 402, 400, 403 (charge) or 429 answer: what, why, and the terms."""
    heading, sentence = _STATUS_TEXT.get(status, ("Refused", "This request was refused."))
    holder = policy.label or "The rights holder"
    terms = policy.reservation.licence
    contact = policy.reservation.contact
    lines = [
        f"{holder} reserves its text-and-data-mining rights under Article 4(3) "
        "of Directive (EU) 2019/790.",
        f"{sentence} ({detail}; rule {rule})",
        *([f"Terms: {terms}"] if terms else []),
        *([f"Contact: {contact.removeprefix('mailto:')}"] if contact else []),
    ]
    if not want_html:
        return ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in lines)
    body = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status} '
        f"{escape(heading)}</title></head><body><h1>{escape(heading)}</h1>{paragraphs}"
        "</body></html>\n"
    )
    return body.encode(), "text/html; charset=utf-8"
