"""Why an operation refused: each error means nothing was changed."""

from __future__ import annotations

from typing import Any


class OperationError(Exception):
    """A request the store refused; the database is as it was before the request."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.context = context


class Invalid(OperationError):
    """The request itself is malformed or names something that does not fit (bad amounts...)."""

    code = "invalid"

    def __init__(self, message: str, *, details: list[str] | None = None, **context: Any) -> None:
        super().__init__(message, **context)
        self.details = details or [message]


class NotFound(OperationError):
    """The member, order, coupon, hold or token the request names does not exist."""

    code = "not_found"


class Conflict(OperationError):
    """The request clashes with what already happened (same key with another body, wrong state)."""

    code = "conflict"


class Refused(OperationError):
    """A programme rule says no: not enough points, the daily limit, a level that may not pay..."""

    code = "refused"
