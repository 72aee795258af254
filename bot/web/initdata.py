"""Telegram Mini App `initData`: validated as Telegram documents it, and signed for tests/demo.

https://core.telegram.org/bots/webapps#validating-data-received-via-the-mini-app: the
data-check-string is every received field but `hash`, sorted by key, as `key=value` lines
joined by "\\n" (values URL-decoded); the secret key is HMAC-SHA256 of the bot token with the
key "WebAppData"; `hash` is the hex HMAC-SHA256 of the data-check-string under that secret.
`auth_date` (Unix seconds) must be no older than the configured age.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

MAX_LENGTH = 8_192  # Telegram's initData is a few hundred bytes; anything far bigger is junk
# A client clock slightly ahead of ours is not an attack; a day ahead is.
FUTURE_SKEW = timedelta(minutes=5)


class InitDataInvalid(Exception):
    """The initData is forged, malformed or too old; the message says which (never secrets)."""


@dataclass(frozen=True)
class WebAppUser:
    """The Telegram user a valid initData speaks for."""

    id: int
    first_name: str
    username: str | None
    language_code: str | None
    auth_date: datetime


def secret_key(bot_token: str) -> bytes:
    """Return the key initData is signed with: HMAC-SHA256(key="WebAppData", msg=bot_token)."""
    return hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()


def _check_string(fields: dict[str, str]) -> bytes:
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash").encode()


def validate(init_data: str, key: bytes, *, now: datetime, max_age: timedelta) -> WebAppUser:
    """Return the user of a genuine, fresh initData; raise InitDataInvalid otherwise.

    `key` is `secret_key(bot_token)` (computed once per app).
    """
    if not init_data or len(init_data) > MAX_LENGTH:
        raise InitDataInvalid("missing or oversized initData")
    try:
        pairs = parse_qsl(init_data, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise InitDataInvalid("initData is not a query string") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise InitDataInvalid("a field appears twice")  # which one would be signed?
    given = fields.get("hash", "")
    expected = hmac.new(key, _check_string(fields), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise InitDataInvalid("the signature does not match")
    try:
        auth_date = datetime.fromtimestamp(int(fields["auth_date"]), tz=now.tzinfo)
        user = json.loads(fields["user"])
        user_id = user["id"]
    except (KeyError, ValueError, TypeError, OverflowError, OSError):
        raise InitDataInvalid("initData lacks a valid auth_date or user") from None
    if not isinstance(user_id, int) or isinstance(user_id, bool) or user_id <= 0:
        raise InitDataInvalid("initData lacks a valid user id")
    if now - auth_date > max_age:
        raise InitDataInvalid("initData has expired")
    if auth_date - now > FUTURE_SKEW:
        raise InitDataInvalid("initData is dated in the future")
    return WebAppUser(
        id=user_id,
        first_name=str(user.get("first_name", "")),
        username=user.get("username") if isinstance(user.get("username"), str) else None,
        language_code=user.get("language_code")
        if isinstance(user.get("language_code"), str)
        else None,
        auth_date=auth_date,
    )


def sign(bot_token: str, user: dict[str, Any], auth_date: datetime, **extra: str) -> str:
    """Return initData for `user` signed as Telegram signs it (tests and the demo's card link)."""
    fields = {
        "auth_date": str(int(auth_date.timestamp())),
        "user": json.dumps(user, separators=(",", ":"), ensure_ascii=False),
        **extra,
    }
    digest = hmac.new(secret_key(bot_token), _check_string(fields), hashlib.sha256).hexdigest()
    return urlencode({**fields, "hash": digest})
