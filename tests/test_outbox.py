"""The outbox: dedupe, claims, leases, skips, quiet hours, settling, pruning, indexes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import RemindersConfig
from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage import (
    coupons,
    daily,
    links,
    outbox,
    reminder_planning,
    reminder_settings,
    telegram_users,
)
from storage.store import Store
from tests.conftest import delivered_order, member, open_store, send

POLICY = RemindersConfig().policy()
EVENING = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)


async def linked_member(store: Store, member_id: str, user_id: int, lang: str = "en") -> str:
    await member(store, member_id)
    await telegram_users.seen(store, user_id, lang)
    token = await links.create_token(store, member_id)
    await links.consume_token(store, token.token, user_id)
    return member_id


async def send_all(store: Store) -> None:
    """Settle every notice due now as sent (clears account notices a test is not about)."""
    claim = await outbox.claim(store, POLICY, "setup", limit=1_000)
    await outbox.mark_sent(store, "setup", [n.id for n in claim.notices])


async def rows(store: Store, **match: object) -> list[dict]:
    found = await outbox.outbox_rows(store)
    return [r for r in found if all(r[k] == v for k, v in match.items())]


async def test_a_notice_exists_once_per_dedupe_key_and_only_for_linked_members(
    store: Store,
) -> None:
    await linked_member(store, "m-1", 1001)
    await member(store, "m-2")  # not linked: nobody to tell
    body_order = "o-1"
    await delivered_order(store, "m-1", 5_000, body_order)
    await send(store, "order.delivered", order_id=body_order)  # a repeat changes nothing
    await delivered_order(store, "m-2", 5_000)
    points = await rows(store, kind="order_points")
    assert [r["member_id"] for r in points] == ["m-1"]
    assert points[0]["dedupe_key"] == "order_points:o-1"
    assert points[0]["priority"] == 0


async def test_two_overlapping_claims_never_hold_the_same_row(store: Store, clock) -> None:
    for n in range(30):
        await linked_member(store, f"m-{n}", 3000 + n)
    clock.set(EVENING)
    await reminder_planning.plan(store, POLICY)
    first, second = await asyncio.gather(
        outbox.claim(store, POLICY, "run-a", limit=20),
        outbox.claim(store, POLICY, "run-b", limit=20),
    )
    a = {n.id for n in first.notices}
    b = {n.id for n in second.notices}
    assert not a & b
    assert len(a | b) == 30
    third = await outbox.claim(store, POLICY, "run-c", limit=20)
    assert third.notices == []


async def test_a_claim_left_by_a_dead_run_is_sent_after_its_lease(
    tmp_path: Path, clock: ManualClock
) -> None:
    program = load_program({"preset": "marketplace"})
    store = await open_store(tmp_path / "restart.db", program, clock)
    await linked_member(store, "m-1", 1001)
    clock.set(EVENING)
    await reminder_planning.plan(store, POLICY)
    held = await outbox.claim(store, POLICY, "dead-run", lease=timedelta(minutes=2))
    assert len(held.notices) == 1
    await store.close()  # the process dies between "due" and "sent"

    store = await open_store(tmp_path / "restart.db", program, clock)
    try:
        assert (await outbox.claim(store, POLICY, "new-run")).notices == []
        clock.advance(minutes=2)
        again = await outbox.claim(store, POLICY, "new-run")
        assert [n.member_id for n in again.notices] == ["m-1"]
        # The dead run's claim can no longer mark it; the new one does, once.
        assert await outbox.mark_sent(store, "dead-run", [again.notices[0].id]) == 0
        assert await outbox.mark_sent(store, "new-run", [again.notices[0].id]) == 1
        clock.advance(minutes=10)
        assert (await outbox.claim(store, POLICY, "later")).touched == 0
        [row] = await rows(store, kind="daily_checkin")
        assert row["status"] == "sent" and row["attempts"] == 2
    finally:
        await store.close()


async def test_quiet_hours_defer_a_notice_to_their_end(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    clock.set(datetime(2026, 3, 10, 23, 15, tzinfo=UTC))
    await delivered_order(store, "m-1", 5_000)
    claim = await outbox.claim(store, POLICY, "night")
    assert claim.notices == [] and claim.deferred == 2  # the points and the level change
    [row] = await rows(store, kind="order_points")
    assert row["status"] == "pending"
    assert row["due_at"] == "2026-03-11T08:00:00.000000+00:00"
    clock.set(datetime(2026, 3, 11, 7, 59, 59, tzinfo=UTC))
    assert (await outbox.claim(store, POLICY, "early")).touched == 0
    clock.advance(seconds=1)
    morning = await outbox.claim(store, POLICY, "morning")
    assert sorted(n.kind for n in morning.notices) == ["level_changed", "order_points"]


async def test_a_check_in_reminder_deferred_past_its_day_is_dropped(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await linked_member(store, "m-2", 1002)
    await reminder_settings.change(store, 1001, quiet=(18 * 60, 20 * 60))
    await reminder_settings.change(store, 1002, quiet=(18 * 60, 9 * 60))
    clock.set(EVENING)
    await reminder_planning.plan(store, POLICY)
    claim = await outbox.claim(store, POLICY, "run")
    assert claim.deferred == 1 and claim.skipped == {"stale": 1}
    [kept] = await rows(store, member_id="m-1")
    assert kept["due_at"] == "2026-03-10T20:00:00.000000+00:00"


async def test_rows_that_must_not_be_sent_are_settled_with_a_reason(store: Store, clock) -> None:
    names = ["unlinked", "off", "paused", "gone", "checked_in", "fine"]
    for n, name in enumerate(names):
        await linked_member(store, name, 1001 + n)
    clock.set(EVENING)
    await reminder_planning.plan(store, POLICY)
    await links.unlink(store, 1001)
    await reminder_settings.change(store, 1002, mode=("daily", "off"))
    await reminder_settings.change(store, 1003, paused=True)
    await telegram_users.update(store, 1004, unreachable=True)
    await daily.claim(store, "checked_in")  # after the plan, before the send
    claim = await outbox.claim(store, POLICY, "run")
    assert [n.member_id for n in claim.notices] == ["fine"]
    outcome = {r["member_id"]: (r["status"], r["outcome"]) for r in await rows(store)
               if r["kind"] == "daily_checkin"}  # fmt: skip
    assert outcome == {
        "unlinked": ("skipped", "unlinked"),
        "off": ("skipped", "off"),
        "paused": ("skipped", "off"),
        "gone": ("skipped", "unreachable"),
        "checked_in": ("skipped", "no_longer_true"),
        "fine": ("pending", None),
    }


async def test_a_check_in_reminder_from_another_day_is_stale(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    clock.set(EVENING)
    await reminder_planning.plan(store, POLICY)
    clock.set(EVENING + timedelta(days=1, hours=-10))  # next morning 09:00, after quiet hours
    claim = await outbox.claim(store, POLICY, "late")
    assert claim.notices == [] and claim.skipped == {"stale": 1}


async def test_a_notice_is_given_up_after_repeated_failures(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await delivered_order(store, "m-1", 5_000)
    await send_all(store)
    await delivered_order(store, "m-1", 1_000, "o-late")  # 10 points, same level: one notice
    for attempt in range(outbox.MAX_ATTEMPTS):
        claim = await outbox.claim(store, POLICY, f"run-{attempt}")
        assert len(claim.notices) == 1
        await outbox.release(store, f"run-{attempt}", [claim.notices[0].id], store.now())
    claim = await outbox.claim(store, POLICY, "last")
    assert claim.notices == [] and claim.skipped == {"attempts": 1}
    [row] = await rows(store, dedupe_key="order_points:o-late")
    assert (row["status"], row["attempts"]) == ("failed", outbox.MAX_ATTEMPTS)


async def test_a_digest_whose_coupons_were_all_used_is_not_sent(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await delivered_order(store, "m-1", 100_000)
    await send_all(store)
    await reminder_settings.change(store, 1001, mode=("daily", "off"))
    clock.set(datetime(2026, 3, 1, 10, 0, tzinfo=UTC))
    bought = await coupons.exchange(store, "m-1", 500, "points", "a")
    clock.set(datetime(2026, 3, 28, 19, 0, tzinfo=UTC))
    await reminder_planning.plan(store, POLICY)
    await coupons.redeem(store, bought.coupon.code, "m-1", "o-9")
    claim = await outbox.claim(store, POLICY, "run")
    assert claim.notices == [] and claim.skipped == {"no_longer_true": 1}


async def test_old_settled_rows_are_pruned_and_pending_ones_kept(store: Store, clock) -> None:
    await linked_member(store, "m-1", 1001)
    await delivered_order(store, "m-1", 5_000)  # the points and a level change
    await send_all(store)
    clock.advance(days=31)
    await delivered_order(store, "m-1", 1_000)
    assert await outbox.prune(store, store.now() - outbox.KEEP_SETTLED) == 2
    assert [r["status"] for r in await rows(store)] == ["pending"]


def _explain_params(query: str) -> dict[str, object]:
    """Bind every named parameter of a statement to a dummy value."""
    import re

    return {name: "1" for name in re.findall(r":([a-z_0-9]+)", query)}


async def assert_reads_only_through_indexes(
    store: Store, statement: str, expected: list[str]
) -> None:
    """Assert that a due query's plan uses `expected` and scans no growing table."""
    query = statement[: statement.index("ON CONFLICT")] if "ON CONFLICT" in statement else statement
    if query.lstrip().startswith("INSERT"):
        query = query[query.index("SELECT") :]
    plan = [r[3] for r in await store.db.read("EXPLAIN QUERY PLAN " + query,
                                              _explain_params(query))]  # fmt: skip
    text = "\n".join(plan)
    for index in expected:
        assert index in text, text
    # No full scan of a table that grows with members or notices: only searches by index.
    allowed = ("SCAN d", "SCAN (subquery", "SCAN urgent", "SCAN planned", "SCAN due", "SCAN j",
               "SCAN json_each")  # fmt: skip
    scans = [line for line in plan if line.startswith("SCAN ") and not line.startswith(allowed)]
    assert scans == [], text


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        (outbox._CLAIM_SQL, ["outbox_ready"]),
    ],
    ids=["claim"],
)
@pytest.mark.sqlite_only  # SQLite's plans; PostgreSQL plans by statistics
async def test_the_due_queries_read_only_due_rows_through_indexes(
    store: Store, statement: str, expected: list[str]
) -> None:
    await assert_reads_only_through_indexes(store, statement, expected)
