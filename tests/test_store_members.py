"""Members: registration, standing, live levels, the rolling window, and the ledger history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loyalty.clock import ManualClock
from loyalty.program import Requirement
from storage import daily, members
from storage.errors import Invalid, NotFound
from storage.grants import grant
from storage.ledger import MAX_PAGE, history
from storage.store import Store
from tests.conftest import START, delivered_order, member, rows, scalar, send


async def test_upsert_operation_creates_then_updates(store: Store) -> None:
    created = await members.upsert(store, "m-1", email="a@x.io", name="Ann")
    assert (created.created, created.level_changes) == (True, [])
    updated = await members.upsert(store, "m-1", name="Anna")
    assert updated.created is False
    view = await members.view(store, "m-1")
    assert (view.email, view.name) == ("a@x.io", "Anna")
    assert view.created_at == START


async def test_upsert_rejects_bad_ids(store: Store) -> None:
    for bad in ("", "   ", "x" * 129, None, 5):
        with pytest.raises(Invalid):
            await members.upsert(store, bad)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await members.upsert(store, "m-1", referred_by="ghost")
    assert await scalar(store, "SELECT COUNT(*) FROM members") == 0


async def test_referrer_is_fixed_once_set(store: Store) -> None:
    await member(store, "a")
    await member(store, "b")
    await member(store, "new", referred_by="a")
    await members.upsert(store, "new", referred_by="b")
    assert await scalar(store, "SELECT referred_by FROM members WHERE member_id = 'new'") == "a"
    assert await scalar(store, "SELECT points FROM members WHERE member_id = 'b'") == 0


async def test_a_referral_counts_only_at_registration(store: Store) -> None:
    await member(store, "a")
    await member(store, "b")
    await members.upsert(store, "b", referred_by="a")  # b was already a member: no referral
    assert await scalar(store, "SELECT referred_by FROM members WHERE member_id = 'b'") is None
    assert await scalar(store, "SELECT points FROM members WHERE member_id = 'a'") == 0


async def test_verify_email_operation_once(vip_store: Store) -> None:
    await member(vip_store)
    changes = await members.verify_email(vip_store, "m-1")
    assert [(c.old_code, c.new_code, c.up) for c in changes] == [("unverified", "regular", True)]
    assert await members.verify_email(vip_store, "m-1") == []
    assert (await members.view(vip_store, "m-1")).points == 5
    with pytest.raises(NotFound):
        await members.verify_email(vip_store, "ghost")


async def test_view_shows_progress_to_the_next_level(store: Store, vip_store: Store) -> None:
    await member(store)
    view = await members.view(store, "m-1")
    assert view.tier.code == "A0"
    assert view.next is not None
    assert (view.next.tier.code, view.next.points_needed) == ("A1", 1)
    assert view.next.missing == (Requirement("delivered_order_over", 200),)
    await delivered_order(store, "m-1", 9_000)  # 95 points
    view = await members.view(store, "m-1")
    assert view.next is not None
    assert (view.tier.code, view.next.tier.code, view.next.points_needed) == ("A1", "A2", 5)
    assert view.next.missing == ()

    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    await delivered_order(vip_store, "m-1", 12_345)
    view = await members.view(vip_store, "m-1")
    assert view.next is not None
    assert (view.tier.code, view.next.tier.code) == ("regular", "vip_d")
    assert view.next.spend_needed_cents == 20_000 - 12_345
    assert view.next.points_needed == 0


async def test_view_of_unknown_member(store: Store) -> None:
    with pytest.raises(NotFound):
        await members.view(store, "ghost")


# --- the rolling window ---------------------------------------------------------------------


async def test_points_age_out_of_the_rolling_window(store: Store, clock: ManualClock) -> None:
    await member(store)
    await delivered_order(store, "m-1", 15_000)  # 155 points: A2
    assert await scalar(store, "SELECT level_code FROM members") == "A2"
    clock.advance(days=365)
    assert (await members.view(store, "m-1")).tier.code == "A2"  # exactly 365 days: counts
    assert await members.recompute_levels(store) == []
    clock.advance(seconds=1)
    view = await members.view(store, "m-1")
    assert (view.tier.code, view.standing.points, view.points) == ("A0", 0, 155)
    # The stored level follows once the daily recompute runs, and the change is reported.
    assert await scalar(store, "SELECT level_code FROM members") == "A2"
    changes = await members.recompute_levels(store)
    assert [(c.member_id, c.old_code, c.new_code, c.up) for c in changes] == [
        ("m-1", "A2", "A0", False)
    ]
    assert await scalar(store, "SELECT level_code FROM members") == "A0"
    assert await members.recompute_levels(store) == []


async def test_a_take_back_ages_out_with_its_credit(store: Store, clock: ManualClock) -> None:
    await member(store)
    kept = await delivered_order(store, "m-1", 15_000)
    clock.advance(days=200)
    returned = await delivered_order(store, "m-1", 30_000)  # +305
    clock.advance(days=100)
    await send(store, "order.returned", order_id=returned)
    assert (await members.view(store, "m-1")).standing.points == 155
    clock.advance(days=66)  # the first order (155) ages out, the return stays with its credit
    assert (await members.view(store, "m-1")).standing.points == 0
    clock.advance(days=200)  # both the returned credit and its take-back age out together
    assert (await members.view(store, "m-1")).standing.points == 0
    assert kept


async def test_recompute_levels_in_batches(store: Store, clock: ManualClock) -> None:
    for i in range(7):
        await member(store, f"m-{i}")
        await delivered_order(store, f"m-{i}", 15_000)
    clock.advance(days=400)
    changes = await members.recompute_levels(store, batch=3)
    assert sorted(c.member_id for c in changes) == [f"m-{i}" for i in range(7)]
    levels = await rows(store, "SELECT DISTINCT level_code FROM members")
    assert [r[0] for r in levels] == ["A0"]


async def test_vip_spend_is_lifetime(vip_store: Store, clock: ManualClock) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    await delivered_order(vip_store, "m-1", 80_000)
    clock.advance(days=3_000)
    assert await members.recompute_levels(vip_store) == []
    assert (await members.view(vip_store, "m-1")).tier.code == "vip_c"


# --- history --------------------------------------------------------------------------------


async def test_history_pages_newest_first_with_a_cursor(store: Store, clock: ManualClock) -> None:
    await member(store)
    await member(store, "other")
    for i in range(1, 24):
        await grant(store, "m-1", i, reason=f"grant {i}", actor="t")
        await grant(store, "other", 1, reason="noise", actor="t")
        clock.advance(minutes=1)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = await history(store, "m-1", before_id=cursor, limit=10)
        pages += 1
        seen.extend(e.amount for e in page.entries)
        ids = [e.id for e in page.entries]
        assert ids == sorted(ids, reverse=True)
        if page.next_before_id is None:
            break
        assert page.next_before_id == ids[-1]
        cursor = page.next_before_id
    assert pages == 3
    assert seen == list(range(23, 0, -1))
    first = (await history(store, "m-1", limit=1)).entries[0]
    assert (first.amount, first.note, first.reason, first.balance_after) == (
        23,
        "grant 23",
        "grant",
        sum(range(1, 24)),
    )
    assert first.created_at == START + timedelta(minutes=22)


async def test_history_page_sizes(store: Store) -> None:
    await member(store)
    empty = await history(store, "m-1")
    assert (empty.entries, empty.next_before_id) == ([], None)
    for i in range(MAX_PAGE + 5):
        await grant(store, "m-1", 1, reason=f"g{i}", actor="t")
    assert len((await history(store, "m-1", limit=1_000)).entries) == MAX_PAGE
    assert len((await history(store, "m-1", limit=0)).entries) == 1
    exact = await history(store, "m-1", limit=MAX_PAGE + 5 - MAX_PAGE)
    rest = await history(store, "m-1", before_id=exact.next_before_id, limit=MAX_PAGE)
    assert len(rest.entries) == MAX_PAGE
    assert rest.next_before_id is None  # exactly the rest: no empty page after it


async def test_history_shows_every_kind_of_change(store: Store) -> None:
    await member(store)
    order_id = await delivered_order(store, "m-1", 1_000)
    await daily.claim(store, "m-1")
    await send(store, "order.returned", order_id=order_id)
    page = await history(store, "m-1", limit=50)
    assert [(e.reason, e.currency, e.amount) for e in reversed(page.entries)] == [
        ("order", "points", 10),
        ("daily_purchase", "points", 5),
        ("daily_coins", "coins", 10),
        ("daily_checkin", "points", 20),
        ("clawback", "points", -10),
        ("clawback", "points", -5),
    ]
    assert page.entries[0].created_at.tzinfo is not None
    assert page.entries[0].created_at == datetime(2026, 3, 10, 9, tzinfo=UTC)
