"""Linking a shop account to a Telegram user: single-use tokens, one account per user."""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Conn, from_db, to_db
from storage.errors import NotFound, Refused
from storage.members import check_member_id
from storage.store import Store

DEFAULT_TTL = timedelta(hours=24)  # `server.link_token_minutes` defaults to it
# Tokens a member may be issued per rolling hour (the service takes
# `server.link_tokens_per_hour`): each one revokes the last, so more only helps someone trying
# to race the member.
DEFAULT_PER_HOUR = 10
# Telegram deep-link payloads allow up to 64 characters of A-Z a-z 0-9 _ -.
TOKEN_BYTES = 24
HOUR = timedelta(hours=1)


def token_hash(token: str) -> str:
    """Return what is stored of a one-time token (its SHA-256): a leaked database links nobody."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class LinkToken:
    """A fresh single-use token and when it stops working."""

    token: str
    member_id: str
    expires_at: datetime


async def create_token(
    store: Store,
    member_id: str,
    ttl: timedelta = DEFAULT_TTL,
    *,
    per_hour: int = DEFAULT_PER_HOUR,
) -> LinkToken:
    """Create a single-use link token for an existing member; earlier unused ones stop working.

    Refused `too_many_tokens` (with `retry_after` seconds) past `per_hour` tokens for the
    member in the last hour.
    """
    check_member_id(member_id)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    now = store.now()

    def insert(conn: Conn) -> None:
        known = conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,))
        if known.fetchone() is None:
            raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
        recent = conn.execute(
            "SELECT created_at FROM link_tokens WHERE member_id = ? AND created_at > ?"
            " ORDER BY created_at DESC LIMIT ?",
            (member_id, to_db(now - HOUR), per_hour),
        ).fetchall()
        if len(recent) >= per_hour:
            oldest = from_db(recent[-1][0])
            wait = max(1, math.ceil((oldest + HOUR - now).total_seconds()))
            raise Refused(
                f"at most {per_hour} link tokens per member per hour; try again in {wait} s",
                code="too_many_tokens",
                retry_after=wait,
            )
        _revoke(conn, member_id, now)
        conn.execute(
            "INSERT INTO link_tokens (token_hash, member_id, expires_at, created_at)"
            " VALUES (?, ?, ?, ?)",
            (token_hash(token), member_id, to_db(now + ttl), to_db(now)),
        )

    await store.db.write(insert)
    return LinkToken(token=token, member_id=member_id, expires_at=now + ttl)


def _revoke(conn: Conn, member_id: str, now: datetime) -> None:
    """Revoke the member's tokens not used yet (a newer one, or an unlink, replaces them)."""
    conn.execute(
        "UPDATE link_tokens SET revoked_at = ?"
        " WHERE member_id = ? AND used_at IS NULL AND revoked_at IS NULL",
        (to_db(now), member_id),
    )


async def consume_token(store: Store, token: str, telegram_user_id: int) -> str:
    """Link the token's member to a Telegram user and return the member id.

    Refused codes: `invalid` (unknown token), `used`, `expired`, `revoked` (a newer token was
    issued, or the account was unlinked, after this one), `already_linked` (this user is
    already linked to that member: harmless), `user_linked` (this Telegram user has another
    account), `member_linked` (that account is linked to another Telegram user).
    """
    now = store.now()

    def link(conn: Conn) -> str:
        row = conn.execute(
            "SELECT t.member_id, t.expires_at, t.used_at, t.revoked_at, l.telegram_user_id"
            " FROM link_tokens t LEFT JOIN telegram_links l USING (member_id)"
            " WHERE t.token_hash = ?",
            (token_hash(token),),
        ).fetchone()
        if row is None:
            raise Refused("this link is not valid", code="invalid")
        member_id = row["member_id"]
        if row["telegram_user_id"] == telegram_user_id:
            raise Refused("already linked", code="already_linked", member_id=member_id)
        if row["used_at"] is not None:
            raise Refused("this link was already used", code="used")
        if row["revoked_at"] is not None:
            raise Refused("this link was replaced by a newer one", code="revoked")
        if from_db(row["expires_at"]) <= now:
            raise Refused("this link has expired", code="expired")
        if row["telegram_user_id"] is not None:
            raise Refused("the account is linked to another Telegram user", code="member_linked")
        mine = conn.execute(
            "SELECT member_id FROM telegram_links WHERE telegram_user_id = ?", (telegram_user_id,)
        ).fetchone()
        if mine is not None:
            raise Refused(
                "this Telegram user is linked to another account",
                code="user_linked",
                member_id=mine[0],
            )
        conn.execute(
            "UPDATE link_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
            (to_db(now), telegram_user_id, token_hash(token)),
        )
        conn.execute(
            "INSERT INTO telegram_links (member_id, telegram_user_id, linked_at) VALUES (?, ?, ?)",
            (member_id, telegram_user_id, to_db(now)),
        )
        return member_id

    return await store.db.write(link)


async def unlink(store: Store, telegram_user_id: int) -> str | None:
    """Remove a Telegram user's link; return the member id it pointed to, or None.

    The member's unused link tokens are revoked too: one issued before the unlink must not
    link another Telegram user afterwards.
    """
    now = store.now()

    def delete(conn: Conn) -> str | None:
        # telegram_user_id is unique: at most one row comes back.
        row = conn.execute(
            "DELETE FROM telegram_links WHERE telegram_user_id = ? RETURNING member_id",
            (telegram_user_id,),
        ).fetchone()
        if row is None:
            return None
        _revoke(conn, row[0], now)
        return str(row[0])

    return await store.db.write(delete)


async def member_for(store: Store, telegram_user_id: int) -> str | None:
    """Return the member id linked to a Telegram user, or None."""
    row = await store.db.read_one(
        "SELECT member_id FROM telegram_links WHERE telegram_user_id = ?", (telegram_user_id,)
    )
    return row[0] if row else None


async def telegram_user_for(store: Store, member_id: str) -> int | None:
    """Return the Telegram user id linked to a member, or None."""
    row = await store.db.read_one(
        "SELECT telegram_user_id FROM telegram_links WHERE member_id = ?", (member_id,)
    )
    return row[0] if row else None
