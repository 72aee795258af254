"""Telegram users: who is linked to which member, their language and reminder settings."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import Conn, to_db
from storage.store import Store


@dataclass(frozen=True)
class Profile:
    """What the bot needs to know about a Telegram user on every update, read in one query."""

    telegram_user_id: int
    member_id: str | None
    language: str | None
    telegram_language: str | None
    reminders: bool
    unreachable: bool
    known: bool
    # Whether the user ever had a support ticket or is banned from support: only then can a
    # message of theirs belong to support, so the relay reads their tickets only then.
    support: bool = False
    username: str | None = None  # lower case, without "@" (the console finds members by it)


def normal_username(username: str | None) -> str | None:
    """Return a Telegram username as stored: lower case, without "@" (None when empty)."""
    return username.lstrip("@").lower() or None if username else None


async def profile(store: Store, telegram_user_id: int) -> Profile:
    """Return a Telegram user's link and settings (defaults for a user never seen)."""
    row = await store.db.lookup_one(
        "SELECT u.telegram_user_id IS NOT NULL AS known, u.language, u.telegram_language,"
        " u.username,"
        " COALESCE(u.reminders, 1) AS reminders, COALESCE(u.unreachable, 0) AS unreachable,"
        " l.member_id, EXISTS (SELECT 1 FROM tickets WHERE telegram_user_id = q.id)"
        " OR EXISTS (SELECT 1 FROM support_bans WHERE telegram_user_id = q.id) AS support"
        " FROM (SELECT :id AS id) q"
        " LEFT JOIN telegram_users u ON u.telegram_user_id = q.id"
        " LEFT JOIN telegram_links l ON l.telegram_user_id = q.id",
        {"id": telegram_user_id},
    )
    assert row is not None
    return Profile(
        telegram_user_id=telegram_user_id,
        member_id=row["member_id"],
        language=row["language"],
        telegram_language=row["telegram_language"],
        reminders=bool(row["reminders"]),
        unreachable=bool(row["unreachable"]),
        known=bool(row["known"]),
        support=bool(row["support"]),
        username=row["username"],
    )


async def seen(
    store: Store,
    telegram_user_id: int,
    telegram_language: str | None,
    username: str | None = None,
) -> None:
    """Record that a user wrote: their Telegram language and username, mark them reachable."""
    now = to_db(store.now())

    def record(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO telegram_users (telegram_user_id, telegram_language, username,"
            " first_seen, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (telegram_user_id)"
            " DO UPDATE SET telegram_language = excluded.telegram_language,"
            " username = excluded.username, unreachable = 0, updated_at = excluded.updated_at",
            (telegram_user_id, telegram_language, normal_username(username), now, now),
        )

    await store.db.write(record)


async def update(
    store: Store,
    telegram_user_id: int,
    *,
    language: str | None = None,
    reminders: bool | None = None,
    unreachable: bool | None = None,
) -> None:
    """Change a user's settings; None leaves a setting as it is."""
    now = to_db(store.now())

    def change(conn: Conn) -> None:
        ensure(conn, telegram_user_id, now)
        conn.execute(
            "UPDATE telegram_users SET language = COALESCE(?, language),"
            " reminders = COALESCE(?, reminders), unreachable = COALESCE(?, unreachable),"
            " updated_at = ? WHERE telegram_user_id = ?",
            (
                language,
                None if reminders is None else int(reminders),
                None if unreachable is None else int(unreachable),
                now,
                telegram_user_id,
            ),
        )

    await store.db.write(change)


def ensure(conn: Conn, telegram_user_id: int, now: str) -> None:
    """Create a user's settings row with defaults if it does not exist, in `conn`'s transaction."""
    conn.execute(
        "INSERT INTO telegram_users (telegram_user_id, first_seen, updated_at)"
        " VALUES (?, ?, ?) ON CONFLICT (telegram_user_id) DO NOTHING",
        (telegram_user_id, now, now),
    )
