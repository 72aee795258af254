"""One-time sign-in links to the owner's console, made by the bot's /console for an admin."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Conn, from_db, to_db
from storage.errors import Refused
from storage.links import token_hash
from storage.store import Store

DEFAULT_TTL = timedelta(minutes=10)
TOKEN_BYTES = 24
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class ConsoleLogin:
    """A fresh one-time token for an admin and when it stops working."""

    token: str
    admin_id: int
    expires_at: datetime


async def create(store: Store, admin_id: int, ttl: timedelta = DEFAULT_TTL) -> ConsoleLogin:
    """Create a one-time sign-in token for `admin_id` (the caller checked they are an admin)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = store.now()

    def insert(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO console_logins (token_hash, admin_id, expires_at, created_at)"
            " VALUES (?, ?, ?, ?)",
            (token_hash(token), admin_id, to_db(now + ttl), to_db(now)),
        )

    await store.db.write(insert)
    return ConsoleLogin(token=token, admin_id=admin_id, expires_at=now + ttl)


async def consume(store: Store, token: str) -> int:
    """Use a sign-in token once and return its admin's Telegram id.

    Refused codes: `invalid` (unknown token), `used` (it worked once already), `expired`.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise Refused("this sign-in link is not valid", code="invalid")
    now = store.now()

    def use(conn: Conn) -> int:
        row = conn.execute(
            "SELECT admin_id, expires_at, used_at FROM console_logins WHERE token_hash = ?",
            (token_hash(token),),
        ).fetchone()
        if row is None:
            raise Refused("this sign-in link is not valid", code="invalid")
        if row["used_at"] is not None:
            raise Refused("this sign-in link was used already", code="used")
        if from_db(row["expires_at"]) <= now:
            raise Refused("this sign-in link has expired", code="expired")
        # The guard in WHERE keeps "once" true even if two requests race past the read.
        cursor = conn.execute(
            "UPDATE console_logins SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
            (to_db(now), token_hash(token)),
        )
        if cursor.rowcount != 1:
            raise Refused("this sign-in link was used already", code="used")
        return int(row["admin_id"])

    return await store.db.write(use)
