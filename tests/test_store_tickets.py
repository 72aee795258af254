"""Support tickets: one open ticket per user even under a race, messages, close, rate, bans, SLA."""

from __future__ import annotations

import asyncio
from datetime import UTC, time, timedelta

import pytest

from loyalty.clock import ManualClock
from loyalty.hours import BusinessHours
from storage import checkout, grants, members, tickets
from storage.db import Conn
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.store import Store
from tests.conftest import INTEGRITY_ERRORS, member

USER, OTHER = 5001, 5002
OFFICE = BusinessHours.from_names(time(9), time(18), ("mon", "tue", "wed", "thu", "fri"), UTC)


async def opened(store: Store, user: int = USER, **kwargs: object) -> tickets.Ticket:
    ticket, _ = await tickets.open_or_get(store, user, display_name="Ann", **kwargs)  # type: ignore[arg-type]
    return ticket


async def count(store: Store, where: str = "TRUE") -> int:
    row = await store.db.read_one(f"SELECT COUNT(*) FROM tickets WHERE {where}")
    assert row is not None
    return int(row[0])


async def test_concurrent_opens_make_one_ticket(store: Store) -> None:
    results = await asyncio.gather(
        *(tickets.open_or_get(store, USER, display_name="Ann") for _ in range(20))
    )
    assert len({t.id for t, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert await count(store) == 1


async def test_the_database_refuses_a_second_open_ticket(store: Store) -> None:
    await opened(store)

    def second(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO tickets (telegram_user_id, status, display_name, opened_at)"
            " VALUES (?, 'open', 'x', '2026-01-01')",
            (USER,),
        )

    with pytest.raises(INTEGRITY_ERRORS):
        await store.db.write(second)


async def test_open_links_the_member_and_the_previous_ticket(store: Store) -> None:
    await member(store, "m-1")
    first = await opened(store, member_id="m-1", subject="points")
    assert (first.member_id, first.subject, first.previous_id) == ("m-1", "points", None)
    await tickets.close(store, first.id, by="agent:1")
    second = await opened(store, member_id="m-gone")  # an unknown member is not linked
    assert second.id != first.id and second.previous_id == first.id and second.member_id is None
    other = await opened(store, OTHER)
    assert other.previous_id is None


async def test_state_reads_the_newest_ticket_and_the_ban(store: Store, clock: ManualClock) -> None:
    empty = await tickets.state(store, USER)
    assert empty.latest is None and empty.open is None and not empty.banned
    ticket = await opened(store)
    assert (await tickets.state(store, USER)).open == ticket
    await tickets.close(store, ticket.id, by="member", telegram_user_id=USER)
    clock.advance(hours=1)
    state = await tickets.state(store, USER)
    assert state.open is None and state.latest is not None and not state.latest.is_open
    assert state.closed_within(store.now(), timedelta(hours=2)) is not None
    assert state.closed_within(store.now(), timedelta(minutes=30)) is None
    assert await tickets.ban(store, USER, by=9, reason="spam")
    assert not await tickets.ban(store, USER, by=9)
    assert (await tickets.state(store, USER)).banned
    assert await tickets.unban(store, USER) and not await tickets.unban(store, USER)
    assert not (await tickets.state(store, USER)).banned


async def test_subject_only_by_its_user_while_open(store: Store) -> None:
    ticket = await opened(store)
    assert (await tickets.set_subject(store, ticket.id, USER, "order")).subject == "order"
    with pytest.raises(NotFound):
        await tickets.set_subject(store, ticket.id, OTHER, "order")
    with pytest.raises(Invalid):
        await tickets.set_subject(store, ticket.id, USER, "refund")
    await tickets.close(store, ticket.id, by="member")
    with pytest.raises(Conflict):
        await tickets.set_subject(store, ticket.id, USER, "other")


async def test_topic_attach_and_replace_keep_one_topic(store: Store) -> None:
    ticket = await opened(store)
    assert await tickets.attach_topic(store, ticket.id, -100, 7, "#1 Ann")
    assert not await tickets.attach_topic(store, ticket.id, -100, 8, "#1 Ann")  # lost the race
    assert await tickets.attach_topic(store, ticket.id, -100, 9, "#1 Ann", replacing=7)
    assert not await tickets.attach_topic(store, ticket.id, -100, 10, "#1 Ann", replacing=7)
    assert (await tickets.by_topic(store, -100, 9)) is not None
    assert await tickets.by_topic(store, -100, 7) is None
    assert await tickets.by_topic(store, -999, 9) is None


async def test_messages_start_and_stop_the_sla_clock(store: Store, clock: ManualClock) -> None:
    ticket = await opened(store)
    sla = timedelta(minutes=30)
    first = await tickets.record_message(
        store, ticket.id, direction="member", kind="text", author_id=USER, source_chat_id=USER,
        source_message_id=1, text="hello", hours=OFFICE, sla=sla,
    )  # fmt: skip
    assert first.first_of_direction and not first.duplicate
    assert first.ticket.sla_due_at == store.now() + sla
    again = await tickets.record_message(
        store, ticket.id, direction="member", kind="text", author_id=USER, source_chat_id=USER,
        source_message_id=1, text="hello", hours=OFFICE, sla=sla,
    )  # fmt: skip
    assert again.duplicate
    clock.advance(minutes=5)
    photo = await tickets.record_message(
        store, ticket.id, direction="member", kind="photo", author_id=USER, source_chat_id=USER,
        source_message_id=2, file_id="f-1", hours=OFFICE, sla=sla,
    )  # fmt: skip
    assert not photo.first_of_direction and photo.ticket.sla_due_at == first.ticket.sla_due_at
    answer = await tickets.record_message(
        store, ticket.id, direction="agent", kind="text", author_id=9, source_chat_id=-100,
        source_message_id=5, copy_chat_id=USER, copy_message_id=3, text="on it",
    )  # fmt: skip
    assert answer.first_of_direction and answer.ticket.first_answer_at == store.now()
    stored = await tickets.messages(store, ticket.id)
    assert [(m.direction, m.kind, m.text, m.file_id) for m in stored] == [
        ("member", "text", "hello", None),
        ("member", "photo", None, "f-1"),
        ("agent", "text", "on it", None),
    ]
    assert [m.id for m in await tickets.messages(store, ticket.id, last=2)] == [
        stored[1].id, stored[2].id
    ]  # fmt: skip


async def test_a_member_past_the_limit_is_refused_and_told_once_a_window(
    store: Store, clock: ManualClock
) -> None:
    """The limit was counted in the handler, then recorded in a second transaction."""
    ticket = await opened(store)

    async def write(n: int) -> tickets.Recorded:
        return await tickets.record_message(
            store, ticket.id, direction="member", kind="text", author_id=USER,
            source_chat_id=USER, source_message_id=n, text=f"m{n}", per_minute=2,
        )  # fmt: skip

    assert (await write(1)).refused_until is None and (await write(2)).refused_until is None
    third, fourth = await write(3), await write(4)
    assert third.refused_until == store.now() + tickets.MESSAGE_WINDOW and third.tell
    assert fourth.refused_until is not None and not fourth.tell  # told once a window
    assert (await write(1)).duplicate  # a redelivery of a recorded one is not a refusal
    clock.advance(minutes=1, seconds=1)
    assert (await write(5)).refused_until is None
    assert [m.text for m in await tickets.messages(store, ticket.id)] == ["m1", "m2", "m5"]


async def test_sla_outside_hours_counts_from_the_next_opening(
    store: Store, clock: ManualClock
) -> None:
    clock.set(clock.now.replace(day=13, hour=17, minute=50))  # a Friday
    ticket = await opened(store)
    recorded = await tickets.record_message(
        store, ticket.id, direction="member", kind="text", author_id=USER, source_chat_id=USER,
        source_message_id=1, hours=OFFICE, sla=timedelta(minutes=30),
    )  # fmt: skip
    assert recorded.ticket.sla_due_at == clock.now.replace(day=16, hour=9, minute=20)


async def test_overdue_tickets_are_flagged_once(store: Store, clock: ManualClock) -> None:
    waiting, answered, closed = (
        await opened(store, 1),
        await opened(store, 2),
        await opened(store, 3),
    )
    for n, ticket in enumerate((waiting, answered, closed)):
        await tickets.record_message(
            store, ticket.id, direction="member", kind="text", author_id=n, source_chat_id=n,
            source_message_id=1, sla=timedelta(minutes=30),
        )  # fmt: skip
    await tickets.record_message(
        store, answered.id, direction="agent", kind="text", author_id=9, source_chat_id=-100,
        source_message_id=1,
    )  # fmt: skip
    await tickets.close(store, closed.id, by="agent:9")
    clock.advance(minutes=29)
    assert await tickets.overdue(store) == []
    clock.advance(minutes=2)
    (late,) = await tickets.overdue(store)
    assert late.ticket.id == waiting.id and late.waiting == timedelta(minutes=31)
    claims = await asyncio.gather(*(tickets.claim_flag(store, waiting.id) for _ in range(3)))
    assert sorted(claims) == [False, False, True]
    assert await tickets.overdue(store) == []


async def test_close_once_and_only_by_its_user(store: Store) -> None:
    ticket = await opened(store)
    with pytest.raises(NotFound):
        await tickets.close(store, ticket.id, by="member", telegram_user_id=OTHER)
    closed, now = await tickets.close(store, ticket.id, by="member", telegram_user_id=USER)
    assert now and not closed.is_open and closed.closed_by == "member"
    again, now = await tickets.close(store, ticket.id, by="agent:9")
    assert not now and again.closed_by == "member"
    with pytest.raises(NotFound):
        await tickets.close(store, 999, by="agent:9")


async def test_rating_once_from_one_to_five_by_its_user(store: Store) -> None:
    ticket = await opened(store)
    with pytest.raises(Conflict):
        await tickets.rate(store, ticket.id, USER, 5)
    await tickets.close(store, ticket.id, by="agent:9")
    for bad in (0, 6, True):
        with pytest.raises(Invalid):
            await tickets.rate(store, ticket.id, USER, bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await tickets.rate(store, ticket.id, OTHER, 5)
    assert (await tickets.rate(store, ticket.id, USER, 4)).rating == 4
    with pytest.raises(Refused):
        await tickets.rate(store, ticket.id, USER, 5)
    assert (await tickets.get(store, ticket.id)).rating == 4


async def test_open_holds_for_the_member_card(vip_store: Store) -> None:
    await member(vip_store, "m-1")
    await members.verify_email(vip_store, "m-1")
    await grants.grant(vip_store, "m-1", 1000, reason="test", actor="test")
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 10)
    await checkout.hold(vip_store, "h-2", "m-1", "o-2", 20)
    await checkout.capture(vip_store, "h-2")
    (held,) = await checkout.open_holds(vip_store, "m-1")
    assert (held.hold.hold_id, held.hold.points, held.since) == ("h-1", 10, vip_store.now())
