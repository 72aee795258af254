"""Request bodies: strict JSON, and field checks that list every problem at once.

The checks here are about HTTP input only (present, right type, sane size); the limits come
from `storage`, and every programme rule stays in the operations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from bot.api.errors import ApiError
from bot.api.limits import BODY
from storage.errors import Invalid
from storage.members import MAX_ID_LENGTH


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_json(request: Request) -> Any:
    """Return the request's JSON body; 400 when it is not strict JSON in UTF-8."""
    raw: bytes = request.scope[BODY]  # read whole by RequestLimits, which wraps every route
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        # A lone surrogate escape ("\ud800") decodes but cannot be stored or hashed; it can
        # only arrive escaped (raw surrogate bytes are not UTF-8), so most bodies skip this.
        if b"\\u" in raw:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except (UnicodeError, ValueError, RecursionError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise ApiError(400, f"the body is not valid JSON ({reason})") from None
    return body


class Fields:
    """Read the fields of a JSON object, collecting every problem; `done()` raises them all."""

    def __init__(self, body: Any, allowed: tuple[str, ...]) -> None:
        self.problems: list[str] = []
        self.body: Mapping[str, Any] = body if isinstance(body, Mapping) else {}
        self.is_object = isinstance(body, Mapping)
        if not self.is_object:
            self.problems.append("body: must be a JSON object")
            return
        self.problems.extend(f"{key}: unknown field" for key in body if key not in allowed)

    def identifier(self, key: str) -> str:
        """Return a required id: a non-empty string of at most MAX_ID_LENGTH characters."""
        if not self.is_object:
            return ""
        value = self.body.get(key)
        if value is None:
            self.problems.append(f"{key}: required")
        elif not isinstance(value, str) or not value.strip():
            self.problems.append(f"{key}: must be a non-empty string")
        elif len(value) > MAX_ID_LENGTH:
            self.problems.append(f"{key}: longer than {MAX_ID_LENGTH} characters")
        else:
            return value
        return ""

    def integer(self, key: str, low: int, high: int, *, required: bool = True) -> int | None:
        """Return an integer within [low, high] (never a bool, never a float)."""
        value = self.body.get(key)
        if value is None:
            if required and self.is_object:
                self.problems.append(f"{key}: required")
            return None
        if not isinstance(value, int) or isinstance(value, bool):
            self.problems.append(f"{key}: must be an integer")
        elif not low <= value <= high:
            self.problems.append(f"{key}: must be between {low} and {high}")
        else:
            return value
        return None

    def done(self) -> None:
        """Raise Invalid listing every problem, if there is any."""
        if self.problems:
            raise Invalid(f"invalid request: {self.problems[0]}", details=self.problems)


_PATH_NAMES = {"member_id": "member", "hold_id": "hold", "code": "coupon"}


def path_id(request: Request, key: str) -> str:
    """Return an id from the path; one that cannot exist is simply not found (404)."""
    value = str(request.path_params[key])
    if not value.strip() or len(value) > MAX_ID_LENGTH:
        raise ApiError(404, f"unknown {_PATH_NAMES.get(key, key)} {value[:MAX_ID_LENGTH]!r}")
    return value
