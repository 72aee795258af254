"""The console's session cookie: the admin's id and an expiry, signed with the server secret.

Stateless on purpose: any `web` process with the same secret accepts it, and rotating the
secret (`[web] session_secret_env`) signs every earlier session out at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

COOKIE = "console_session"
_PURPOSE = b"loyaltybot console session v1"


@dataclass(frozen=True)
class Session:
    """A signed-in admin and when their session ends."""

    admin_id: int
    expires_at: datetime


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, _PURPOSE + b"|" + payload.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def issue(secret: bytes, admin_id: int, now: datetime, ttl: timedelta) -> str:
    """Return a cookie value for `admin_id` valid for `ttl` from `now`."""
    expires = int((now + ttl).timestamp())
    payload = f"{admin_id}.{expires}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_mac(secret, payload)}"


def verify(secret: bytes, value: str | None, now: datetime) -> Session | None:
    """Return the session a cookie value carries, or None if forged, malformed or expired."""
    if not value or len(value) > 256:
        return None
    payload, _, mac = value.rpartition(".")
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        return None
    try:
        admin, expires, _nonce = payload.split(".")
        session = Session(int(admin), datetime.fromtimestamp(int(expires), tz=UTC))
    except ValueError:
        return None
    return session if session.expires_at > now else None
