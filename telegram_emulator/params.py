"""Typed access to Bot API parameters, accepting both JSON values and form-encoded strings.

Telegram takes parameters as a query string, form fields, multipart parts or a JSON body; in
the first three every value is a string and objects are JSON-encoded. One accessor handles all
of them, so the in-process request and the HTTP server run the exact same method code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from telegram_emulator import errors
from telegram_emulator.errors import bad_request


@dataclass(frozen=True)
class Upload:
    """A file sent in a multipart request instead of a file_id."""

    filename: str
    content: bytes
    mime_type: str | None = None


class Params:
    """One request's parameters and uploaded files."""

    def __init__(
        self, raw: Mapping[str, object], files: Mapping[str, Upload] | None = None
    ) -> None:
        self.raw = dict(raw)
        self.files = dict(files or {})

    def __contains__(self, name: str) -> bool:
        return self.raw.get(name) is not None

    def string(self, name: str, *, required: bool = False) -> str | None:
        """Return a string parameter; numbers are accepted and converted, as Telegram does."""
        value = self.raw.get(name)
        if value is None:
            if required:
                raise bad_request(errors.PARAMETER_REQUIRED.format(name))
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return str(value)
        if not isinstance(value, str):
            raise bad_request(f'Bad Request: field "{name}" must be of type String')
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        """Return an integer parameter given as a number or a decimal string."""
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise bad_request(errors.PARAMETER_REQUIRED.format(name))
            return None
        if isinstance(value, bool):
            raise bad_request(f'Bad Request: field "{name}" must be of type Integer')
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f'Bad Request: field "{name}" must be of type Integer') from None

    def number(self, name: str) -> float | None:
        """Return a numeric parameter that may have a fraction (e.g. a timeout)."""
        value = self.raw.get(name)
        if value is None or value == "":
            return None
        try:
            return float(str(value))
        except ValueError:
            raise bad_request(f'Bad Request: field "{name}" must be of type Float') from None

    def flag(self, name: str) -> bool:
        """Return a boolean parameter; absent means False."""
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1")
        return bool(value)

    def json_value(self, name: str, *, what: str | None = None) -> Any:
        """Return a JSON parameter given as an object or as its JSON text."""
        value = self.raw.get(name)
        if value is None or isinstance(value, dict | list):
            return value
        try:
            return json.loads(str(value))
        except ValueError:
            raise bad_request(f"Bad Request: can't parse {what or name} JSON object") from None

    def chat_id(self, name: str = "chat_id") -> int | str:
        """Return a chat id: an integer, or a public ``@username``."""
        value = self.raw.get(name)
        if value is None or value == "":
            if name == "chat_id":
                raise bad_request(errors.CHAT_ID_EMPTY)
            raise bad_request(errors.PARAMETER_REQUIRED.format(name))
        if isinstance(value, str) and value.startswith("@"):
            return value
        if isinstance(value, bool):
            raise bad_request(errors.CHAT_NOT_FOUND)
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(errors.CHAT_NOT_FOUND) from None
