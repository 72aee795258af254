"""What the member bot reads: ledger pages in both directions, and one order's points."""

from __future__ import annotations

from loyalty.clock import ManualClock
from storage import checkout, coupons, grants, orders
from storage.ledger import history
from storage.store import Store
from tests.conftest import delivered_order, member, send


async def _grants(store: Store, member_id: str, count: int, clock: ManualClock) -> None:
    for i in range(1, count + 1):
        await grants.grant(store, member_id, i, reason=f"g{i}", actor="t")
        await grants.grant(store, "other", 1, reason="noise", actor="t")
        clock.advance(minutes=1)


async def test_pages_down_and_back_up_land_on_the_same_pages(
    store: Store, clock: ManualClock
) -> None:
    await member(store)
    await member(store, "other")
    await _grants(store, "m-1", 25, clock)
    top = await history(store, "m-1", limit=10)
    assert [e.amount for e in top.entries] == list(range(25, 15, -1))
    assert top.newer_after_id is None and top.next_before_id is not None
    middle = await history(store, "m-1", before_id=top.next_before_id, limit=10)
    assert [e.amount for e in middle.entries] == list(range(15, 5, -1))
    last = await history(store, "m-1", before_id=middle.next_before_id, limit=10)
    assert [e.amount for e in last.entries] == [5, 4, 3, 2, 1]
    assert last.next_before_id is None and last.newer_after_id == last.entries[0].id
    back = await history(store, "m-1", after_id=last.newer_after_id, limit=10)
    assert back == middle
    again = await history(store, "m-1", after_id=middle.newer_after_id, limit=10)
    assert again == top


async def test_forged_cursors_only_ever_show_the_members_own_rows(
    store: Store, clock: ManualClock
) -> None:
    await member(store)
    await member(store, "other")
    await _grants(store, "m-1", 12, clock)
    theirs = (await history(store, "other", limit=50)).entries
    assert {e.note for e in theirs} == {"noise"}
    for cursor in (theirs[0].id, theirs[5].id, theirs[-1].id, 0, 2**70, -3):
        for page in (
            await history(store, "m-1", before_id=cursor),
            await history(store, "m-1", after_id=cursor),
        ):
            assert all(e.note != "noise" for e in page.entries)
    # A cursor between the member's rows still pages correctly around it.
    page = await history(store, "m-1", before_id=theirs[5].id, limit=3)
    assert page.newer_after_id == page.entries[0].id
    assert all(e.id < theirs[5].id for e in page.entries)
    assert (await history(store, "m-1", before_id=0)).entries == []
    assert (await history(store, "nobody")).entries == []


async def test_coupon_rows_carry_the_coupon_value(store: Store) -> None:
    await member(store)
    await grants.grant(store, "m-1", 3000, reason="seed", actor="t")
    await coupons.exchange(store, "m-1", 1000, "points", "k")
    await coupons.issue_goodwill(store, "m-1", 500, reason="sorry", actor="agent", key="g")
    goodwill, bought, seed = (await history(store, "m-1")).entries
    assert (goodwill.reason, goodwill.amount, goodwill.coupon_value_cents) == (
        "coupon_goodwill", 0, 500
    )  # fmt: skip
    assert (bought.reason, bought.amount, bought.coupon_value_cents) == ("coupon", -1000, 1000)
    assert seed.coupon_value_cents is None


async def test_order_status_says_what_it_earned_lost_and_would_earn(store: Store) -> None:
    await member(store)
    await member(store, "other")
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=12_550)
    placed = await orders.for_member(store, "m-1", "o-1")
    assert placed is not None and placed.status == "placed"
    assert (placed.points_earned, placed.points_on_delivery, placed.points_for_review) == (
        0,
        125,
        1,
    )
    await send(store, "order.delivered", order_id="o-1")
    delivered = await orders.for_member(store, "m-1", "o-1")
    assert delivered is not None and delivered.points_earned == 130  # 125 + the daily purchase
    await grants.grant(store, "m-1", -100, reason="spent", actor="t")  # 30 points left
    await send(store, "order.returned", order_id="o-1")
    returned = await orders.for_member(store, "m-1", "o-1")
    assert returned is not None and returned.status == "returned"
    assert (returned.points_taken_back, returned.points_shortfall) == (30, 100)
    assert await orders.for_member(store, "other", "o-1") is None
    assert await orders.for_member(store, "m-1", "o-404") is None
    await delivered_order(store, "m-1", 150, "o-small")
    small = await orders.for_member(store, "m-1", "o-small")
    assert small is not None and (small.points_earned, small.points_on_delivery) == (0, 0)


async def test_order_status_shows_checkout_holds(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    await grants.grant(vip_store, "m-1", 20, reason="seed", actor="t")
    for order_id in ("o-1", "o-2"):
        await send(
            vip_store, "order.placed", order_id=order_id, member_id="m-1", amount_cents=20_000
        )
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 4)
    await checkout.hold(vip_store, "h-2", "m-1", "o-2", 6)
    held = await orders.for_member(vip_store, "m-1", "o-1")
    assert held is not None and (held.points_held, held.points_released) == (4, 0)
    assert held.points_on_delivery == 0 and held.points_for_review == 2  # 1% of $200
    await send(vip_store, "order.cancelled", order_id="o-1")
    await checkout.capture(vip_store, "h-2")
    released = await orders.for_member(vip_store, "m-1", "o-1")
    captured = await orders.for_member(vip_store, "m-1", "o-2")
    assert released is not None and (released.points_held, released.points_released) == (0, 4)
    assert captured is not None and captured.points_captured == 6
