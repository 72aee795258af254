"""Support tickets: open (never twice at once), messages either way, close, rate, bans, SLA.

A ticket belongs to a Telegram user (linked to a member or not). Each public function is one
transaction or one read, like every operation in `storage/`.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from loyalty.hours import BusinessHours
from storage.db import Conn, Row, from_db, to_db
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.leases import acquire_in
from storage.sends import Queued, enqueue_in
from storage.store import Store

Subject = Literal["points", "coupon", "order", "other"]
Direction = Literal["member", "agent"]
SUBJECTS: tuple[Subject, ...] = ("points", "coupon", "order", "other")
MAX_NAME = 128
MAX_TEXT = 8_192
# `[support] messages_per_minute` counts a member's messages in this window.
MESSAGE_WINDOW = timedelta(minutes=1)


@dataclass(frozen=True)
class Ticket:
    """One support conversation and where it lives in the agents' chat."""

    id: int
    telegram_user_id: int
    member_id: str | None
    status: str
    subject: str | None
    display_name: str
    username: str | None
    previous_id: int | None
    chat_id: int | None
    thread_id: int | None
    topic_name: str | None
    card_message_id: int | None
    opened_at: datetime
    first_message_at: datetime | None
    sla_due_at: datetime | None
    first_answer_at: datetime | None
    sla_flagged_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    rating: int | None

    @property
    def is_open(self) -> bool:
        """Tell whether the ticket is still open."""
        return self.status == "open"


@dataclass(frozen=True)
class SupportState:
    """What a member message needs to know, read in one query: the newest ticket, the ban."""

    telegram_user_id: int
    latest: Ticket | None
    banned: bool

    @property
    def open(self) -> Ticket | None:
        """Return the open ticket, if any (only the newest ticket can be open)."""
        return self.latest if self.latest is not None and self.latest.is_open else None

    def closed_within(self, now: datetime, window: timedelta) -> Ticket | None:
        """Return the newest ticket if it was closed less than `window` ago."""
        latest = self.latest
        if latest is None or latest.closed_at is None:
            return None
        return latest if now - latest.closed_at < window else None


@dataclass(frozen=True)
class TicketMessage:
    """One relayed message."""

    id: int
    ticket_id: int
    direction: str
    kind: str
    author_id: int
    text: str | None
    file_id: str | None
    source_chat_id: int
    source_message_id: int
    copy_chat_id: int | None
    copy_message_id: int | None
    created_at: datetime


@dataclass(frozen=True)
class Recorded:
    """What recording a message changed: whether it was the ticket's first of its direction."""

    ticket: Ticket
    first_of_direction: bool
    duplicate: bool
    # Over the member's `per_minute`: nothing recorded or relayed; the member may write again
    # from `refused_until`, and `tell` is True for the first refusal of that window only
    # (whichever worker refuses: the mark is a lease in the same transaction).
    refused_until: datetime | None = None
    tell: bool = False


@dataclass(frozen=True)
class Overdue:
    """A ticket waiting past its SLA for a first answer."""

    ticket: Ticket
    waiting: timedelta


def _time(value: str | None) -> datetime | None:
    return from_db(value) if value else None


def _ticket(row: Row) -> Ticket:
    return Ticket(
        id=row["id"],
        telegram_user_id=row["telegram_user_id"],
        member_id=row["member_id"],
        status=row["status"],
        subject=row["subject"],
        display_name=row["display_name"],
        username=row["username"],
        previous_id=row["previous_id"],
        chat_id=row["chat_id"],
        thread_id=row["thread_id"],
        topic_name=row["topic_name"],
        card_message_id=row["card_message_id"],
        opened_at=from_db(row["opened_at"]),
        first_message_at=_time(row["first_message_at"]),
        sla_due_at=_time(row["sla_due_at"]),
        first_answer_at=_time(row["first_answer_at"]),
        sla_flagged_at=_time(row["sla_flagged_at"]),
        closed_at=_time(row["closed_at"]),
        closed_by=row["closed_by"],
        rating=row["rating"],
    )


def _one(conn: Conn, ticket_id: int) -> Ticket:
    row = conn.execute("SELECT * FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    if row is None:
        raise NotFound(f"unknown ticket {ticket_id}")
    return _ticket(row)


async def state(store: Store, telegram_user_id: int) -> SupportState:
    """Return a user's newest ticket and whether support takes their messages (one read)."""
    rows = list(
        await store.db.lookup(
            "SELECT (SELECT 1 FROM support_bans WHERE telegram_user_id = :u) AS banned, t.*"
            " FROM (SELECT 1) AS one LEFT JOIN tickets t ON t.id ="
            " (SELECT MAX(id) FROM tickets WHERE telegram_user_id = :u)",
            {"u": telegram_user_id},
        )
    )
    row = rows[0]
    latest = _ticket(row) if row["id"] is not None else None
    return SupportState(telegram_user_id, latest, bool(row["banned"]))


async def get(store: Store, ticket_id: int) -> Ticket:
    """Return a ticket by number, or NotFound."""
    row = await store.db.read_one("SELECT * FROM tickets WHERE id = ?", (ticket_id,))
    if row is None:
        raise NotFound(f"unknown ticket {ticket_id}")
    return _ticket(row)


async def by_topic(store: Store, chat_id: int, thread_id: int) -> Ticket | None:
    """Return the ticket whose forum topic this is, or None."""
    row = await store.db.read_one(
        "SELECT * FROM tickets WHERE chat_id = ? AND thread_id = ?", (chat_id, thread_id)
    )
    return _ticket(row) if row is not None else None


def _check_subject(subject: str | None) -> None:
    if subject is not None and subject not in SUBJECTS:
        raise Invalid(f"subject must be one of {', '.join(SUBJECTS)}")


async def open_or_get(
    store: Store,
    telegram_user_id: int,
    *,
    display_name: str,
    username: str | None = None,
    member_id: str | None = None,
    subject: str | None = None,
    limit: tuple[int, timedelta] | None = None,
) -> tuple[Ticket, bool]:
    """Return the user's open ticket, opening one if there is none; and whether it is new.

    Two quick messages never open two tickets: the check and the insert share one IMMEDIATE
    transaction, and the partial unique index on open tickets refuses a second one regardless.
    A new ticket links to the user's previous one. `limit` (count, window): with that many
    tickets opened within the window, a new one is refused (`Refused`, context `until`: when
    the oldest of them leaves the window).
    """
    _check_subject(subject)
    name = (display_name.strip() or str(telegram_user_id))[:MAX_NAME]
    instant = store.now()
    now = to_db(instant)

    def open_one(conn: Conn) -> tuple[Ticket, bool]:
        latest = conn.execute(
            "SELECT * FROM tickets WHERE telegram_user_id = ? ORDER BY id DESC LIMIT 1",
            (telegram_user_id,),
        ).fetchone()
        if latest is not None and latest["status"] == "open":
            return _ticket(latest), False
        if limit is not None:
            count, window = limit
            recent = conn.execute(
                "SELECT opened_at FROM tickets WHERE telegram_user_id = ? AND opened_at > ?"
                " ORDER BY opened_at",
                (telegram_user_id, to_db(instant - window)),
            ).fetchall()
            if len(recent) >= count:
                until = from_db(recent[len(recent) - count]["opened_at"]) + window
                raise Refused("too many tickets opened", code="ticket_limit", until=until)
        linked = member_id
        if linked is not None:
            known = conn.execute("SELECT 1 FROM members WHERE member_id = ?", (linked,)).fetchone()
            linked = linked if known else None
        created = conn.execute(
            "INSERT INTO tickets (telegram_user_id, member_id, status, subject, display_name,"
            " username, previous_id, opened_at) VALUES (?, ?, 'open', ?, ?, ?, ?, ?)"
            " ON CONFLICT (telegram_user_id) WHERE status = 'open' DO NOTHING RETURNING *",
            (telegram_user_id, linked, subject, name, username,
             latest["id"] if latest is not None else None, now),
        ).fetchone()  # fmt: skip
        if created is None:  # pragma: no cover - the transaction above already excludes it
            row = conn.execute(
                "SELECT * FROM tickets WHERE telegram_user_id = ? AND status = 'open'",
                (telegram_user_id,),
            ).fetchone()
            return _ticket(row), False
        return _ticket(created), True

    return await store.db.write(open_one)


async def set_subject(store: Store, ticket_id: int, telegram_user_id: int, subject: str) -> Ticket:
    """Set what an open ticket is about; only its own user may, only while open."""
    _check_subject(subject)

    def change(conn: Conn) -> Ticket:
        ticket = _one(conn, ticket_id)
        if ticket.telegram_user_id != telegram_user_id:
            raise NotFound(f"unknown ticket {ticket_id}")
        if not ticket.is_open:
            raise Conflict("the ticket is closed", code="closed")
        conn.execute("UPDATE tickets SET subject = ? WHERE id = ?", (subject, ticket_id))
        return _one(conn, ticket_id)

    return await store.db.write(change)


async def attach_topic(
    store: Store,
    ticket_id: int,
    chat_id: int,
    thread_id: int,
    topic_name: str,
    *,
    replacing: int | None = None,
) -> bool:
    """Record the ticket's forum topic; False if another one was attached meanwhile.

    `replacing` names the (deleted) topic this one replaces; the update only happens while the
    ticket still points at it, so two racing recreations keep exactly one topic.
    """

    def attach(conn: Conn) -> bool:
        cursor = conn.execute(
            "UPDATE tickets SET chat_id = ?, thread_id = ?, topic_name = ?, card_message_id = NULL"
            " WHERE id = ? AND thread_id IS NOT DISTINCT FROM ?",
            (chat_id, thread_id, topic_name, ticket_id, replacing),
        )
        return cursor.rowcount == 1

    return await store.db.write(attach)


async def set_card(store: Store, ticket_id: int, message_id: int) -> None:
    """Remember the member card message pinned at the top of the ticket's topic."""

    def remember(conn: Conn) -> None:
        conn.execute("UPDATE tickets SET card_message_id = ? WHERE id = ?", (message_id, ticket_id))

    await store.db.write(remember)


async def rename_topic(store: Store, ticket_id: int, topic_name: str) -> None:
    """Remember the topic's current name."""

    def rename(conn: Conn) -> None:
        conn.execute("UPDATE tickets SET topic_name = ? WHERE id = ?", (topic_name, ticket_id))

    await store.db.write(rename)


async def record_message(
    store: Store,
    ticket_id: int,
    *,
    direction: Direction,
    kind: str,
    author_id: int,
    source_chat_id: int,
    source_message_id: int,
    copy_chat_id: int | None = None,
    copy_message_id: int | None = None,
    text: str | None = None,
    file_id: str | None = None,
    hours: BusinessHours | None = None,
    sla: timedelta | None = None,
    relay: Queued | None = None,
    per_minute: int | None = None,
) -> Recorded:
    """Store one relayed message; the first member message starts the SLA clock (working
    time per `hours`), the first agent message stops it. `relay` is queued in the same
    transaction (the send that copies it), so a message is never recorded and not relayed.

    A message recorded before (the same source message) changes nothing. A member message
    past `per_minute` messages in the last MESSAGE_WINDOW is refused (`refused_until`).
    """
    if direction not in ("member", "agent"):
        raise Invalid("direction must be member or agent")
    now = store.now()

    def record(conn: Conn) -> Recorded:
        ticket = _one(conn, ticket_id)
        if direction == "member" and per_minute is not None:
            refused = _over_limit(conn, ticket, per_minute, now, source_chat_id, source_message_id)
            if refused is not None:
                return refused
        cursor = conn.execute(
            "INSERT INTO ticket_messages (ticket_id, direction, kind, author_id, text, file_id,"
            " source_chat_id, source_message_id, copy_chat_id, copy_message_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (source_chat_id, source_message_id) DO NOTHING",
            (ticket_id, direction, kind, author_id, (text or None) and text[:MAX_TEXT], file_id,
             source_chat_id, source_message_id, copy_chat_id, copy_message_id, to_db(now)),
        )  # fmt: skip
        if cursor.rowcount == 0:
            return Recorded(ticket, first_of_direction=False, duplicate=True)
        if relay is not None:
            enqueue_in(
                conn, relay.chat_id, relay.kind, relay.payload, now,
                ticket_id=ticket_id, dedupe_key=relay.dedupe_key,
            )  # fmt: skip
        first = False
        if direction == "member" and ticket.first_message_at is None:
            first = True
            due = now + sla if sla is not None else None
            if sla is not None and hours is not None:
                due = hours.add_working_time(now, sla)
            conn.execute(
                "UPDATE tickets SET first_message_at = ?, sla_due_at = ? WHERE id = ?",
                (to_db(now), to_db(due) if due else None, ticket_id),
            )
        elif direction == "agent" and ticket.first_answer_at is None:
            first = True
            conn.execute(
                "UPDATE tickets SET first_answer_at = ? WHERE id = ?", (to_db(now), ticket_id)
            )
        return Recorded(_one(conn, ticket_id), first_of_direction=first, duplicate=False)

    return await store.db.write(record)


async def set_copy(
    store: Store, source_chat_id: int, source_message_id: int, copy_message_id: int
) -> None:
    """Remember where a relayed message's copy landed (it was recorded when queued)."""

    def remember(conn: Conn) -> None:
        conn.execute(
            "UPDATE ticket_messages SET copy_message_id = ?"
            " WHERE source_chat_id = ? AND source_message_id = ?",
            (copy_message_id, source_chat_id, source_message_id),
        )

    await store.db.write(remember)


def _over_limit(
    conn: Conn, ticket: Ticket, per_minute: int, now: datetime, chat_id: int, message_id: int
) -> Recorded | None:
    """The refusal of a member message past the limit, or None when it may be recorded."""
    seen = conn.execute(
        "SELECT 1 FROM ticket_messages WHERE source_chat_id = ? AND source_message_id = ?",
        (chat_id, message_id),
    ).fetchone()
    if seen is not None:
        return None  # a redelivery of a recorded message: the insert answers "duplicate"
    (sent,) = conn.execute(
        "SELECT COUNT(*) FROM ticket_messages m JOIN tickets t ON t.id = m.ticket_id"
        " WHERE t.telegram_user_id = ? AND m.direction = 'member' AND m.created_at > ?",
        (ticket.telegram_user_id, to_db(now - MESSAGE_WINDOW)),
    ).fetchone()
    if sent < per_minute:
        return None
    told = acquire_in(
        conn, f"slow-down-told:{ticket.telegram_user_id}", secrets.token_hex(8),
        MESSAGE_WINDOW, now,
    )  # fmt: skip
    return Recorded(ticket, first_of_direction=False, duplicate=False,
                    refused_until=now + MESSAGE_WINDOW, tell=told is not None)  # fmt: skip


async def messages(store: Store, ticket_id: int, *, last: int = 100) -> list[TicketMessage]:
    """Return a ticket's newest `last` messages, oldest first."""
    rows = await store.db.read(
        "SELECT * FROM (SELECT * FROM ticket_messages WHERE ticket_id = ? ORDER BY id DESC"
        " LIMIT ?) AS newest ORDER BY id",
        (ticket_id, max(1, last)),
    )
    return [
        TicketMessage(
            id=r["id"],
            ticket_id=r["ticket_id"],
            direction=r["direction"],
            kind=r["kind"],
            author_id=r["author_id"],
            text=r["text"],
            file_id=r["file_id"],
            source_chat_id=r["source_chat_id"],
            source_message_id=r["source_message_id"],
            copy_chat_id=r["copy_chat_id"],
            copy_message_id=r["copy_message_id"],
            created_at=from_db(r["created_at"]),
        )
        for r in rows
    ]


async def close(
    store: Store,
    ticket_id: int,
    *,
    by: str,
    telegram_user_id: int | None = None,
    then: Sequence[Queued] = (),
) -> tuple[Ticket, bool]:
    """Close a ticket; return it and whether this call closed it (False: already closed).

    With `telegram_user_id` (the member's own button) the ticket must be theirs. `then` is
    queued in the same transaction when this call closed it (the notes that say so).
    """
    instant = store.now()
    now = to_db(instant)

    def close_one(conn: Conn) -> tuple[Ticket, bool]:
        ticket = _one(conn, ticket_id)
        if telegram_user_id is not None and ticket.telegram_user_id != telegram_user_id:
            raise NotFound(f"unknown ticket {ticket_id}")
        if not ticket.is_open:
            return ticket, False
        conn.execute(
            "UPDATE tickets SET status = 'closed', closed_at = ?, closed_by = ? WHERE id = ?",
            (now, by[:64], ticket_id),
        )
        for send in then:
            enqueue_in(
                conn, send.chat_id, send.kind, send.payload, instant,
                ticket_id=ticket_id, dedupe_key=send.dedupe_key,
            )  # fmt: skip
        return _one(conn, ticket_id), True

    return await store.db.write(close_one)


async def rate(store: Store, ticket_id: int, telegram_user_id: int, stars: int) -> Ticket:
    """Record the member's rating (1..5) of a closed ticket, once.

    Refused("already_rated") on a second rating, Conflict while open, NotFound for a ticket
    that is not the user's (callback data is untrusted).
    """
    if not isinstance(stars, int) or isinstance(stars, bool) or not 1 <= stars <= 5:
        raise Invalid("a rating is a whole number from 1 to 5")
    now = to_db(store.now())

    def record(conn: Conn) -> Ticket:
        ticket = _one(conn, ticket_id)
        if ticket.telegram_user_id != telegram_user_id:
            raise NotFound(f"unknown ticket {ticket_id}")
        if ticket.is_open:
            raise Conflict("an open ticket cannot be rated", code="open")
        if ticket.rating is not None:
            raise Refused(
                "this ticket was already rated", code="already_rated", rating=ticket.rating
            )
        conn.execute(
            "UPDATE tickets SET rating = ?, rated_at = ? WHERE id = ?", (stars, now, ticket_id)
        )
        return _one(conn, ticket_id)

    return await store.db.write(record)


async def ban(store: Store, telegram_user_id: int, *, by: int, reason: str | None = None) -> bool:
    """Stop relaying a user's messages; return False if they were banned already."""
    now = to_db(store.now())

    def insert(conn: Conn) -> bool:
        cursor = conn.execute(
            "INSERT INTO support_bans (telegram_user_id, banned_by, reason, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_user_id) DO NOTHING",
            (telegram_user_id, by, reason, now),
        )
        return cursor.rowcount == 1

    return await store.db.write(insert)


async def unban(store: Store, telegram_user_id: int) -> bool:
    """Relay a banned user's messages again; return False if they were not banned."""

    def delete(conn: Conn) -> bool:
        cursor = conn.execute(
            "DELETE FROM support_bans WHERE telegram_user_id = ?", (telegram_user_id,)
        )
        return cursor.rowcount == 1

    return await store.db.write(delete)


async def overdue(store: Store, *, limit: int = 100) -> list[Overdue]:
    """Return open tickets past their SLA with no answer yet and not flagged, oldest first."""
    now = store.now()
    rows = await store.db.read(
        "SELECT * FROM tickets WHERE status = 'open' AND first_answer_at IS NULL"
        " AND sla_flagged_at IS NULL AND sla_due_at <= ? ORDER BY sla_due_at LIMIT ?",
        (to_db(now), max(1, limit)),
    )
    found = [_ticket(r) for r in rows]
    return [Overdue(t, now - (t.first_message_at or t.opened_at)) for t in found]


async def claim_flag(store: Store, ticket_id: int) -> bool:
    """Mark a ticket flagged for its SLA; True only for the one caller that flags it."""

    def flag(conn: Conn) -> bool:
        cursor = conn.execute(
            "UPDATE tickets SET sla_flagged_at = ? WHERE id = ? AND sla_flagged_at IS NULL"
            " AND first_answer_at IS NULL AND status = 'open'",
            (to_db(store.now()), ticket_id),
        )
        return cursor.rowcount == 1

    return await store.db.write(flag)
