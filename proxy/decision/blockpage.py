"""The answer to a blocked request: short, honest, and pointing at the licence.

HTML for browsers (a person may be behind a misclassified request): it says in
plain words what happened, that the rights holder reserves TDM rights, how to
reach it (`contact:` of the reservation) and a reference to quote. Plain text
for everything else, with the same reference. Everything interpolated is escaped.

The reference is the request's id, which its record carries as `http.request.id`
(`optout logs search --ref ID` prints the record, with its `event.sequence`). It
cannot be the sequence number itself: the log writer numbers records in the order
they reach it, after the response, and a request decided first may be logged later.
"""

from __future__ import annotations

import secrets
from html import escape

from proxy.config.policy import Policy
from proxy.model import Classification

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden</title>
<meta name="robots" content="noindex, noai, noimageai"></head>
<body><h1>Access refused</h1>
<p>This site did not serve the page you asked for: your request looked like an
automated crawler's{agent}, and the site refuses those by rule <code>{rule}</code>.
If you are a person and this is a mistake, the site owner wants to know.</p>
<p>{holder} reserves its text-and-data-mining rights under Article 4(3) of
Directive (EU) 2019/790: its content may not be mined or used to train AI without
a licence.</p>
{licence}{contact}{reference}</body></html>
"""


def reference() -> str:
    """A new request id: 16 hex digits, short enough to read out, never repeated in practice."""
    return secrets.token_hex(8)


def render(
    policy: Policy, rule: str, found: Classification, want_html: bool, ref: str = ""
) -> tuple[bytes, str]:
    """The body and its Content-Type for a block by `rule`; `ref` is the request's id."""
    holder = policy.label or "The rights holder"
    terms, contact = policy.reservation.licence, policy.reservation.contact
    if want_html:
        return _html(holder, rule, found, terms, contact, ref), "text/html; charset=utf-8"
    lines = [
        f"{holder} reserves its text-and-data-mining rights under Article 4(3) "
        "of Directive (EU) 2019/790.",
        f"This request was refused by rule {rule}"
        + (f" for {found.agent.name}." if found.agent else "."),
    ]
    if terms or contact:
        lines.append(f"To license this content, see {terms or contact}")
    if terms and contact:
        lines.append(f"Contact: {contact.removeprefix('mailto:')}")
    if ref:
        lines.append(f"Reference: {ref}")
    return ("\n".join(lines) + "\n").encode(), "text/plain; charset=utf-8"


def _html(
    holder: str,
    rule: str,
    found: Classification,
    terms: str | None,
    contact: str | None,
    ref: str,
) -> bytes:
    agent = f" for {escape(found.agent.name)}" if found.agent else ""
    licence = (
        f'<p>To license this content, see <a href="{escape(terms)}">{escape(terms)}</a>.</p>\n'
        if terms
        else ""
    )
    reach = (
        f'<p>To reach the rights holder: <a href="{escape(contact)}">'
        f"{escape(contact.removeprefix('mailto:'))}</a>.</p>\n"
        if contact
        else ""
    )
    body = _HTML.format(
        holder=escape(holder),
        rule=escape(rule),
        agent=agent,
        licence=licence,
        contact=reach,
        reference=f"<p>When you write, quote this reference: <code>{escape(ref)}</code>.</p>\n"
        if ref
        else "",
    )
    return body.encode()


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
