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


class DuplicateKey(ValueError):
    """A JSON object names the same key twice: which value was meant cannot be known."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key[:MAX_ID_LENGTH]!r} appears twice in one object")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):  # rare: only then look for the key that repeats
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(key)
            seen.add(key)
    return found


class BadJson(ValueError):
    """A body or an imported line that is not strict JSON; `reason` says why, in words."""

    def __init__(self, reason: str, *, duplicate: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.duplicate = duplicate


def parse_json(raw: bytes) -> Any:
    """Parse strict JSON in UTF-8: no NaN, no duplicate key, nothing that cannot be stored.

    Every way a body can be bad becomes one BadJson (never another exception): bytes that
    are not UTF-8, a syntax error, an integer over Python's 4,300-digit limit, nesting deeper
    than the parser's recursion limit, a lone surrogate escape, a key given twice.
    """
    try:
        body = json.loads(
            raw.decode("utf-8"), parse_constant=_no_constant, object_pairs_hook=_unique_keys
        )
        # A lone surrogate escape ("\ud800") decodes but cannot be stored or hashed; it can
        # only arrive escaped (raw surrogate bytes are not UTF-8), so most bodies skip this.
        if b"\\u" in raw:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
    except DuplicateKey as exc:
        raise BadJson(str(exc), duplicate=True) from None
    except json.JSONDecodeError as exc:
        raise BadJson(f"{exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except UnicodeDecodeError:
        raise BadJson("not UTF-8") from None
    except UnicodeEncodeError:
        raise BadJson("a lone surrogate in a string") from None
    except RecursionError:
        raise BadJson("nested too deeply") from None
    except ValueError as exc:  # the integer digit limit, a NaN or Infinity constant
        raise BadJson(str(exc).split(";")[0]) from None
    return body


def read_json(request: Request) -> Any:
    """Return the request's JSON body; 400 when it is not strict JSON in UTF-8, 422 for a
    key given twice in one object."""
    raw: bytes = request.scope[BODY]  # read whole by RequestLimits, which wraps every route
    try:
        return parse_json(raw)
    except BadJson as exc:
        if exc.duplicate:
            raise ApiError(422, f"invalid request: {exc.reason}", code="duplicate_key") from None
        raise ApiError(400, f"the body is not valid JSON ({exc.reason})") from None


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

    def identifier(self, key: str, *, addressable: bool = False) -> str:
        """Return a required id: a non-empty string of at most MAX_ID_LENGTH characters.

        `addressable`: an id the API also takes in a path (a member, a hold), so no "/".
        """
        if not self.is_object:
            return ""
        value = self.body.get(key)
        if value is None:
            self.problems.append(f"{key}: required")
        elif not isinstance(value, str) or not value.strip():
            self.problems.append(f"{key}: must be a non-empty string")
        elif len(value) > MAX_ID_LENGTH:
            self.problems.append(f"{key}: longer than {MAX_ID_LENGTH} characters")
        elif addressable and "/" in value:
            self.problems.append(f'{key}: must not contain "/" (the API could not address it)')
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
