"""The one error of the edge: a request the proxy answers with 400 before judging it."""

from __future__ import annotations

from proxy.errors import OptoutError


class BadRequest(OptoutError):
    """The request cannot be put in one form: the client gets 400, the log the reason.

    `reason` is a short slug, logged as the rule `edge/<reason>`; the message says
    what was wrong, for the log's notes.
    """

    status = 400

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)
