"""Business figures for /metrics: members, linked members, outbox backlog, open tickets."""

from __future__ import annotations

from dataclasses import dataclass

from storage.db import to_db
from storage.store import Store

_SQL = """
SELECT (SELECT COUNT(*) FROM members) AS members,
    (SELECT COUNT(*) FROM telegram_links) AS linked,
    (SELECT COUNT(*) FROM outbox WHERE status = 'pending') AS pending,
    (SELECT COUNT(*) FROM outbox WHERE status = 'pending' AND due_at <= ?) AS due,
    (SELECT COUNT(*) FROM tickets WHERE status = 'open') AS open_tickets
"""


@dataclass(frozen=True)
class Figures:
    """Counts at one moment."""

    members: int
    linked: int
    outbox_pending: int  # every notice not sent yet (some wait for quiet hours to end)
    outbox_due: int  # of those, the ones due now: the backlog the sender has to catch up
    open_tickets: int


async def figures(store: Store) -> Figures:
    """Read the business figures (one read, a few index counts)."""
    row = await store.db.read_one(_SQL, (to_db(store.now()),))
    assert row is not None
    return Figures(row["members"], row["linked"], row["pending"], row["due"], row["open_tickets"])
