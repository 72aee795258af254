"""The scheduler's progress: the last period (an hour, a day) each scheduled job completed.

A room of its own because it belongs to no one job: reminder planning keeps its hour cursor
here and the day start its day, and any later job that must neither repeat nor skip a period
after a restart records it the same way. Kept in the database, not in memory, so a second
process or a restarted one sees what was already done.
"""

from __future__ import annotations

from storage.db import Conn, to_db
from storage.store import Store


async def last_period(store: Store, job: str) -> str | None:
    """Return the last period (hour or day) a scheduled job completed, or None."""
    row = await store.db.read_one("SELECT period FROM scheduler_runs WHERE job = ?", (job,))
    return row[0] if row else None


async def record_period(store: Store, job: str, period: str) -> None:
    """Record that a scheduled job completed `period`."""

    def record(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO scheduler_runs (job, period, done_at) VALUES (?, ?, ?)"
            " ON CONFLICT (job) DO UPDATE SET period = excluded.period, done_at = excluded.done_at",
            (job, period, to_db(store.now())),
        )

    await store.db.write(record)
