"""Leases: a named right held by one holder until it expires (the scheduler's leader, a lock).

A lease is the database's answer to "who may do this now" across processes: whoever holds the
row until `expires_at` does it; the holder renews before then (a heartbeat), and anyone may
take an expired one. Times come from the store's injected clock, so tests move them. Every
operation is one transaction of plain portable SQL (an upsert with a condition).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from storage.db import Conn, from_db, to_db
from storage.errors import Invalid
from storage.store import Store


@dataclass(frozen=True)
class Lease:
    """Who holds a lease, and until when."""

    name: str
    holder: str
    expires_at: datetime


async def acquire(store: Store, name: str, holder: str, term: timedelta) -> datetime | None:
    """Take or renew lease `name` for `holder` for `term`; return its end, None if held by another.

    Renewing one's own lease always succeeds; another's succeeds only once it has expired.
    """
    if term <= timedelta(0):
        raise Invalid("a lease needs a positive term")
    return await store.db.write(lambda conn: acquire_in(conn, name, holder, term, store.now()))


def acquire_in(
    conn: Conn, name: str, holder: str, term: timedelta, now: datetime
) -> datetime | None:
    """`acquire` inside a caller's transaction (its term already checked)."""
    until = now + term
    conn.execute(
        "INSERT INTO leases (name, holder, expires_at, renewed_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " expires_at = excluded.expires_at, renewed_at = excluded.renewed_at"
        " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
        (name, holder, to_db(until), to_db(now), to_db(now)),
    )
    row = conn.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
    return until if row is not None and row[0] == holder else None


async def release(store: Store, name: str, holder: str) -> bool:
    """Give lease `name` up if `holder` holds it; return whether it did."""

    def drop(conn: Conn) -> bool:
        cursor = conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))
        return cursor.rowcount > 0

    return await store.db.write(drop)


async def current(store: Store, name: str) -> Lease | None:
    """Return who holds lease `name` now, or None when nobody does (or it has expired)."""
    row = await store.db.read_one(
        "SELECT name, holder, expires_at FROM leases WHERE name = ? AND expires_at > ?",
        (name, to_db(store.now())),
    )
    return None if row is None else Lease(row[0], row[1], from_db(row[2]))


def prune_expired(conn: Conn, now: datetime) -> int:
    """Delete expired leases (inside the caller's transaction); an expired lease means nothing."""
    cursor = conn.execute("DELETE FROM leases WHERE expires_at <= ?", (to_db(now),))
    return max(cursor.rowcount, 0)
