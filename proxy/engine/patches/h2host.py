"""Leave a Host that contradicts `:authority` (or a second Host) to the Edge addon: 400, logged.

h2 refuses such a request as malformed (`_validate_host_authority_header`, RFC
9113 §8.3.1) by closing the whole connection with PROTOCOL_ERROR, inside
`receive_data`, before mitmproxy makes a flow of it: nothing reached the
upstream, but the client got no answer and the log no record (issue 15). Every
request's Host fields and authority go through `proxy.edge.checked_host` in
the Edge addon, which refuses both cases with a 400 and a record
(`edge/<reason>`), before any rule or the upstream sees the request; so h2
passes them on here instead. The check that a request names a host at all
(neither `:authority` nor Host) stays h2's.

Only requests received are affected: h2 checks the requests it sends
elsewhere (`_check_sent_host_authority_header`), and responses and trailers
skip this check.

Upstream: python-hyper/h2 has no option for this check alone
(`validate_inbound_headers` turns off every header check).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import h2.utilities
from h2.exceptions import ProtocolError

from proxy.engine.patches.checks import Patch, Target
from proxy.engine.patches.state import PatchState

Header = tuple[bytes, bytes]


def named_host(headers: Iterable[Header]) -> Iterator[Header]:
    """The headers, unchanged; ProtocolError at the end if none names a host."""
    named = False
    for header in headers:
        named = named or header[0] in (b":authority", b"host")
        yield header
    if not named:
        raise ProtocolError("Request header block does not have an :authority or Host header.")


def replace(validate: Any, state: PatchState) -> Any:
    return named_host


PATCH = Patch(
    "HTTP/2 Host conflicts left to the Edge addon",
    Target(
        h2.utilities,
        "_validate_host_authority_header",
        used_by=((h2.utilities, "_check_host_authority_header"),),
    ),
    replace,
)
