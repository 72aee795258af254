"""Open tickets as an operator lists them: who, about what, since when, answered or not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage.db import from_db
from storage.store import Store


@dataclass(frozen=True)
class OpenTicket:
    """One open ticket, for the operator's list."""

    id: int
    telegram_user_id: int
    member_id: str | None
    display_name: str
    subject: str | None
    opened_at: datetime
    first_answer_at: datetime | None
    sla_flagged: bool
    messages: int


async def open_tickets(store: Store, *, limit: int = 200) -> list[OpenTicket]:
    """Return the open tickets, oldest first (at most `limit`)."""
    rows = await store.db.lookup(
        "SELECT t.id, t.telegram_user_id, t.member_id, t.display_name, t.subject, t.opened_at,"
        " t.first_answer_at, t.sla_flagged_at IS NOT NULL AS flagged,"
        " (SELECT COUNT(*) FROM ticket_messages m WHERE m.ticket_id = t.id) AS messages"
        " FROM tickets t WHERE t.status = 'open' ORDER BY t.id LIMIT ?",
        (limit,),
    )
    return [
        OpenTicket(
            id=r["id"],
            telegram_user_id=r["telegram_user_id"],
            member_id=r["member_id"],
            display_name=r["display_name"],
            subject=r["subject"],
            opened_at=from_db(r["opened_at"]),
            first_answer_at=from_db(r["first_answer_at"]) if r["first_answer_at"] else None,
            sla_flagged=bool(r["flagged"]),
            messages=r["messages"],
        )
        for r in rows
    ]


async def count_open(store: Store) -> int:
    """Return how many tickets are open."""
    row = await store.db.read_one("SELECT COUNT(*) FROM tickets WHERE status = 'open'")
    return int(row[0]) if row else 0
