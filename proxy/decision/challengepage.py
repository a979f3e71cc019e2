"""The challenge page: plain words for a person, a proof-of-work for the browser.

One self-contained HTML answer (the worker is a Blob of the inline script, so no
other request is made): the page says what is happening and why, shows progress,
and carries the reservation in words, with the licensing URL and the contact. The
reservation headers and meta tags are added to it as to every HTML answer
(addons/signals.py, addons/htmlmeta.py). Without JavaScript, a `<noscript>` meta
refresh sends the token after the rule's delay, where the rule offers it.

`crypto.subtle` exists only in secure contexts (https, or loopback): on plain
http the page falls back to the no-JavaScript path if there is one, and says so.
"""

from __future__ import annotations

import json
from html import escape
from urllib.parse import quote

from proxy.config.policy import Policy
from proxy.decision.challenge import ANSWER_PATH, Issued

_WORKER = """
self.onmessage = async (event) => {
  const { token, difficulty } = event.data;
  const encoder = new TextEncoder();
  const whole = difficulty >> 3, rest = difficulty & 7;
  const mask = (0xff << (8 - rest)) & 0xff;
  const batch = 256;
  for (let start = 0; ; start += batch) {
    const work = [];
    for (let i = 0; i < batch; i++) {
      work.push(crypto.subtle.digest("SHA-256", encoder.encode(token + (start + i))));
    }
    const digests = await Promise.all(work);
    for (let i = 0; i < batch; i++) {
      const h = new Uint8Array(digests[i]);
      let ok = true;
      for (let j = 0; j < whole && ok; j++) ok = h[j] === 0;
      if (ok && rest) ok = (h[whole] & mask) === 0;
      if (ok) { self.postMessage({ nonce: String(start + i) }); return; }
    }
    if ((start / batch) % 16 === 15) self.postMessage({ tried: start + batch });
  }
};
"""

_SCRIPT = """
(() => {
  const c = CONFIG;
  const status = document.getElementById("status");
  const next = location.pathname + location.search;
  const answer = (nonce) => {
    const q = "t=" + encodeURIComponent(c.token) + "&next=" + encodeURIComponent(next);
    location.replace(c.answer + "?" + q + (nonce === null ? "" : "&n=" + nonce));
  };
  if (!(window.crypto && crypto.subtle && window.Worker)) {
    if (c.nojs) {
      status.textContent = "Your browser cannot do the check here; continuing in " + c.nojs + " s.";
      setTimeout(() => answer(null), c.nojs * 1000 + 200);
    } else {
      status.textContent = "Your browser cannot do this check (it needs a secure connection).";
    }
    return;
  }
  const expected = Math.pow(2, c.difficulty);
  const worker = new Worker(URL.createObjectURL(new Blob([c.worker], { type: "text/javascript" })));
  worker.onmessage = (event) => {
    if (event.data.nonce !== undefined) {
      status.textContent = "Done. Loading the page…";
      answer(event.data.nonce);
    } else {
      const share = Math.min(99, Math.round(100 * event.data.tried / expected));
      status.textContent = "Checking… about " + share + "% of the expected work done.";
    }
  };
  status.textContent = "Checking…";
  worker.postMessage({ token: c.token, difficulty: c.difficulty });
})();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checking your browser</title>
<meta name="robots" content="noindex, nofollow">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">{refresh}
<style>body{{font:1rem/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}
#status{{font-weight:bold}}</style></head>
<body><h1>One moment: checking your browser</h1>
<p>Automated crawlers copy this site against its owner's wishes, so before it
shows you a page, your browser does a small calculation that proves it is a
browser. It takes a few seconds, happens once, and then the page loads by
itself. Nothing is installed and nothing about you is sent but the result.</p>
<p id="status" aria-live="polite">{waiting}</p>
<p>{holder} reserves its text-and-data-mining rights under Article 4(3) of
Directive (EU) 2019/790: its content may not be mined or used to train AI without
a licence.</p>
{licence}{contact}<p>If this check keeps you out, write and quote this reference:
<code>{reference}</code>.</p>
<script>{script}</script>
</body></html>
"""


def render(policy: Policy, issued: Issued, path: str) -> bytes:
    """The page for one issued challenge of a request for `path`."""
    holder = policy.label or "The rights holder"
    terms, contact = policy.reservation.licence, policy.reservation.contact
    refresh, waiting = "", "This check needs JavaScript, which is turned off in your browser."
    if issued.nojs_delay is not None:
        target = f"{ANSWER_PATH}?t={quote(issued.token, safe='')}&next={quote(path, safe='/')}"
        refresh = (
            f'\n<noscript><meta http-equiv="refresh" '
            f'content="{issued.nojs_delay};url={escape(target)}"></noscript>'
        )
        waiting = (
            f"Without JavaScript, this page continues by itself in {issued.nojs_delay} seconds."
        )
    config = {
        "token": issued.token,
        "difficulty": issued.difficulty,
        "answer": ANSWER_PATH,
        "nojs": issued.nojs_delay or 0,
        "worker": _WORKER,
    }
    # json.dumps escapes quotes; "</" and "<!--" could still end the script element.
    encoded = json.dumps(config).replace("<", "\\u003c")
    body = _PAGE.format(
        refresh=refresh,
        waiting=escape(waiting),
        holder=escape(holder),
        licence=_link("To license this content, see", terms),
        contact=_link("To reach the rights holder:", contact),
        reference=escape(issued.id),
        script=_SCRIPT.replace("CONFIG", encoded, 1),
    )
    return body.encode()


def _link(words: str, url: str | None) -> str:
    if not url:
        return ""
    shown = escape(url.removeprefix("mailto:"))
    return f'<p>{words} <a href="{escape(url)}">{shown}</a>.</p>\n'


def render_refusal(policy: Policy, rule: str, reason: str) -> bytes:
    """The plain-text 403 for a request that cannot show the page (media, non-GET, no HTML)."""
    holder = policy.label or "The rights holder"
    lines = [
        f"{holder} reserves its text-and-data-mining rights under Article 4(3) "
        "of Directive (EU) 2019/790.",
        f"This site first checks that a browser is asking (rule {rule}; {reason}): "
        "open the page in a browser.",
    ]
    if policy.reservation.licence:
        lines.append(f"Terms: {policy.reservation.licence}")
    if policy.reservation.contact:
        lines.append(f"Contact: {policy.reservation.contact.removeprefix('mailto:')}")
    return ("\n".join(lines) + "\n").encode()
