"""Paying part of an order with points: quote, hold, capture, release."""

from __future__ import annotations

import pytest

from storage import checkout, members
from storage.check import check
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.grants import grant
from storage.store import Store
from tests.conftest import delivered_order, member, rows, scalar, send, snapshot


async def verified(store: Store, member_id: str = "m-1", points: int = 100) -> str:
    """A Regular vip-shop member with `points` points (5 of them from the e-mail)."""
    await member(store, member_id)
    await send(store, "member.email_verified", member_id=member_id)
    if points > 5:
        await grant(store, member_id, points - 5, reason="test funds", actor="test")
    return member_id


async def balances(store: Store, member_id: str = "m-1") -> tuple[int, int]:
    view = await members.view(store, member_id)
    return view.points, view.points_held


# --- quote ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_cents", "points"),
    [(4_999, 0), (5_000, 1), (9_999, 2), (10_000, 4), (19_999, 7), (20_000, 10)],
)
async def test_quote_follows_the_caps(vip_store: Store, amount_cents: int, points: int) -> None:
    await verified(vip_store)
    q = await checkout.quote(vip_store, "m-1", amount_cents)
    assert (q.max_points, q.value_cents, q.amount_cents) == (points, points * 100, amount_cents)


async def test_quote_is_capped_by_balance(vip_store: Store) -> None:
    await verified(vip_store, points=5)
    assert (await checkout.quote(vip_store, "m-1", 100_000)).max_points == 5
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 3)
    assert (await checkout.quote(vip_store, "m-1", 100_000)).max_points == 2


async def test_quote_for_a_level_without_checkout_is_zero(vip_store: Store) -> None:
    await member(vip_store)
    await grant(vip_store, "m-1", 50, reason="test funds", actor="test")
    q = await checkout.quote(vip_store, "m-1", 100_000)
    assert (q.max_points, q.value_cents) == (0, 0)


async def test_quote_rejects_bad_input(vip_store: Store, store: Store) -> None:
    await verified(vip_store)
    for amount in (0, -1, 100_000_001, True, 12.5):
        with pytest.raises(Invalid):
            await checkout.quote(vip_store, "m-1", amount)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await checkout.quote(vip_store, "ghost", 1_000)
    await member(store)
    assert (await checkout.quote(store, "m-1", 100_000)).max_points == 0


# --- hold -----------------------------------------------------------------------------------


async def test_hold_sets_points_aside(vip_store: Store) -> None:
    await verified(vip_store)
    held, new = await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7, amount_cents=20_000)
    assert new is True
    assert (held.points, held.status, held.order_id) == (7, "held", "o-1")
    assert await balances(vip_store) == (93, 7)
    found = await rows(vip_store, "SELECT reason, amount, ref, note FROM ledger WHERE amount < 0")
    assert [tuple(r) for r in found] == [("hold", -7, "h-1", "o-1")]
    assert await check(vip_store) == []


async def test_same_hold_id_same_body_is_the_same_hold(vip_store: Store) -> None:
    await verified(vip_store)
    first, _ = await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7)
    before = await snapshot(vip_store)
    again, new = await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7)
    assert (again, new) == (first, False)
    assert await snapshot(vip_store) == before


async def test_same_hold_id_another_body_conflicts(vip_store: Store) -> None:
    await verified(vip_store)
    await verified(vip_store, "m-2")
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7)
    before = await snapshot(vip_store)
    for body in (("m-1", "o-1", 8), ("m-1", "o-2", 7), ("m-2", "o-1", 7)):
        with pytest.raises(Conflict):
            await checkout.hold(vip_store, "h-1", *body)
    assert await snapshot(vip_store) == before


async def test_hold_over_balance_refused(vip_store: Store) -> None:
    await verified(vip_store, points=10)
    before = await snapshot(vip_store)
    with pytest.raises(Refused) as caught:
        await checkout.hold(vip_store, "h-1", "m-1", "o-1", 11)
    assert caught.value.code == "insufficient_points"
    assert caught.value.context["balance"] == 10
    assert await snapshot(vip_store) == before
    held, _ = await checkout.hold(vip_store, "h-2", "m-1", "o-1", 10)
    assert held.points == 10
    with pytest.raises(Refused):
        await checkout.hold(vip_store, "h-3", "m-1", "o-2", 1)  # all of it is held already


async def test_hold_over_cap_refused(vip_store: Store) -> None:
    await verified(vip_store)
    before = await snapshot(vip_store)
    with pytest.raises(Refused) as caught:
        await checkout.hold(vip_store, "h-1", "m-1", "o-1", 5, amount_cents=10_000)
    assert caught.value.code == "over_cap"
    assert caught.value.context["max_points"] == 4
    assert await snapshot(vip_store) == before
    held, _ = await checkout.hold(vip_store, "h-1", "m-1", "o-1", 4, amount_cents=10_000)
    assert held.points == 4


async def test_hold_cap_from_the_placed_order(vip_store: Store) -> None:
    await verified(vip_store)
    await send(vip_store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=5_000)
    with pytest.raises(Refused) as caught:
        await checkout.hold(vip_store, "h-1", "m-1", "o-1", 2)
    assert caught.value.code == "over_cap"
    held, _ = await checkout.hold(vip_store, "h-1", "m-1", "o-1", 1)
    assert held.points == 1


async def test_hold_refused_for_a_level_that_may_not_pay(vip_store: Store) -> None:
    await member(vip_store)  # e-mail not verified: Unverified, 0% at checkout
    # An unverified member can still earn points: a review pays 1% of a delivered order.
    order_id = await delivered_order(vip_store, "m-1", 50_000)
    assert (await send(vip_store, "review.submitted", order_id=order_id))["points"] == 5
    before = await snapshot(vip_store)
    with pytest.raises(Refused):
        await checkout.hold(vip_store, "h-1", "m-1", "o-1", 1, amount_cents=100_000)
    # Without an order amount (no cap to check) the level still may not pay.
    with pytest.raises(Refused) as caught:
        await checkout.hold(vip_store, "h-2", "m-1", "o-2", 1)
    assert caught.value.code == "level"
    assert await snapshot(vip_store) == before
    # Once the e-mail is verified the same member may.
    await send(vip_store, "member.email_verified", member_id="m-1")
    held, _ = await checkout.hold(vip_store, "h-2", "m-1", "o-2", 1)
    assert held.status == "held"


async def test_hold_refused_where_checkout_is_off_and_bad_input(
    store: Store, vip_store: Store
) -> None:
    await member(store)
    await grant(store, "m-1", 50, reason="test funds", actor="test")
    with pytest.raises(Refused) as caught:
        await checkout.hold(store, "h-1", "m-1", "o-1", 1)
    assert caught.value.code == "disabled"
    await verified(vip_store)
    for points in (0, -1, True, 1.5):
        with pytest.raises(Invalid):
            await checkout.hold(vip_store, "h-1", "m-1", "o-1", points)  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        await checkout.hold(vip_store, "", "m-1", "o-1", 1)
    with pytest.raises(NotFound):
        await checkout.hold(vip_store, "h-1", "ghost", "o-1", 1)
    assert await scalar(vip_store, "SELECT COUNT(*) FROM holds") == 0


# --- capture and release --------------------------------------------------------------------


async def test_capture_spends_the_held_points(vip_store: Store) -> None:
    await verified(vip_store)
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7)
    captured = await checkout.capture(vip_store, "h-1")
    assert captured.status == "captured"
    assert await balances(vip_store) == (93, 0)
    before = await snapshot(vip_store)
    assert (await checkout.capture(vip_store, "h-1")).status == "captured"
    assert await snapshot(vip_store) == before
    with pytest.raises(Conflict):
        await checkout.release(vip_store, "h-1")
    assert await snapshot(vip_store) == before
    assert await check(vip_store) == []


async def test_release_repeated_three_times_gives_back_once(vip_store: Store) -> None:
    await verified(vip_store)
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 7)
    answers = [await checkout.release(vip_store, "h-1") for _ in range(3)]
    assert [a.status for a in answers] == ["released"] * 3
    assert await balances(vip_store) == (100, 0)
    releases = await rows(vip_store, "SELECT amount FROM ledger WHERE reason = 'hold_release'")
    assert [r[0] for r in releases] == [7]
    with pytest.raises(Conflict):
        await checkout.capture(vip_store, "h-1")
    assert await balances(vip_store) == (100, 0)
    assert await scalar(vip_store, "SELECT status FROM holds") == "released"
    assert await check(vip_store) == []


async def test_unknown_hold(vip_store: Store) -> None:
    with pytest.raises(NotFound):
        await checkout.capture(vip_store, "nope")
    with pytest.raises(NotFound):
        await checkout.release(vip_store, "nope")


async def test_points_held_reflects_open_holds(vip_store: Store) -> None:
    await verified(vip_store)
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 3)
    await checkout.hold(vip_store, "h-2", "m-1", "o-2", 4)
    await checkout.hold(vip_store, "h-3", "m-1", "o-3", 5)
    assert await balances(vip_store) == (88, 12)
    await checkout.capture(vip_store, "h-1")
    assert await balances(vip_store) == (88, 9)
    await checkout.release(vip_store, "h-2")
    assert await balances(vip_store) == (92, 5)
    open_sum = await scalar(vip_store, "SELECT SUM(points) FROM holds WHERE status = 'held'")
    assert open_sum == 5
    assert await check(vip_store) == []


async def test_cancelling_a_paid_order_gives_back_held_and_captured_points(
    vip_store: Store,
) -> None:
    await verified(vip_store)
    await send(vip_store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=20_000)
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 5)
    await checkout.hold(vip_store, "h-2", "m-1", "o-1", 3)
    await checkout.capture(vip_store, "h-1")
    answer = await send(vip_store, "order.cancelled", order_id="o-1")
    # The gap of the last round: captured points of a cancelled order come back too.
    assert answer["released_points"] == 8
    assert await balances(vip_store) == (100, 0)
    statuses = await rows(vip_store, "SELECT hold_id, status FROM holds ORDER BY hold_id")
    assert [tuple(r) for r in statuses] == [("h-1", "released"), ("h-2", "released")]
    reasons = await rows(vip_store, "SELECT reason, amount FROM ledger WHERE ref = 'h-1'")
    assert [tuple(r) for r in reasons] == [("hold", -5), ("hold_refund", 5)]
    again = await send(vip_store, "order.cancelled", order_id="o-1")
    assert again["changed"] is False and await balances(vip_store) == (100, 0)
