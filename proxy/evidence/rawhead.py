"""What can be read of a request head that was refused before it was parsed (414, 431).

A request line over 8 KiB or a header section over 16 KiB is refused as its bytes
arrive, so there is no parsed request to log. The log still gets a record: the
method and target of the request line (as far as it came), and the Host and
User-Agent if complete lines carry them, so a flood of oversized heads shows who
sent it, and which agent it claimed to be.
"""

from __future__ import annotations

from proxy.model import RequestInfo
from proxy.requestheaders import host_without_port

_MAX_LINES = 100  # header lines looked at; a refused head can hold thousands


def head_info(head: bytes, client_ip: str) -> tuple[RequestInfo, str]:
    """The request as far as `head` (possibly cut off anywhere) tells it, and its query."""
    lines = head.split(b"\n", _MAX_LINES + 1)
    complete = lines[:-1]  # the last piece is all that follows the last line end
    method, _, rest = lines[0].rstrip(b"\r").partition(b" ")
    target = rest.rsplit(b" ", 1)[0] if len(lines) > 1 and b" " in rest else rest
    fields: dict[bytes, bytes] = {}
    for line in complete[1:_MAX_LINES]:
        name, colon, value = line.partition(b":")
        if colon:
            fields.setdefault(name.strip().lower(), value.strip())
    path, _, query = _origin_form(_text(target)).partition("?")
    request = RequestInfo(
        method=_text(method),
        host=host_without_port(_text(fields.get(b"host", b""))),
        path=path or "/",
        user_agent=_text(fields.get(b"user-agent", b"")),
        client_ip=client_ip,
        accept=_text(fields.get(b"accept", b"")),
    )
    return request, query


def _origin_form(target: str) -> str:
    if "://" in target:  # absolute-form: drop scheme and authority
        return "/" + target.split("://", 1)[1].partition("/")[2]
    return target


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")
