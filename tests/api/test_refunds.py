"""order.refunded over our own API: a proportional share back, once per refund id."""

from __future__ import annotations

from storage import coupons, members
from storage.check import check
from storage.grants import grant
from storage.store import Store
from tests.api.conftest import Shop, error, event
from tests.conftest import rows, scalar


async def test_partial_refunds_take_a_proportional_share_once_each(
    shop: Shop, store: Store
) -> None:
    await shop.member("m-1")
    await shop.delivered("m-1", 10_000, "o-1")  # 100 points + 5 daily purchase = 105
    first = await shop.send("order.refunded", "evt-r1", order_id="o-1", refund_id="r-1",
                            amount_cents=2_500)  # fmt: skip
    # A quarter of 105 is 26.25: 26 points back.
    assert (first["taken_back"], first["full"], first["refunded_cents"]) == (26, False, 2_500)
    assert (await shop.card("m-1"))["points"] == 79
    # The same refund under another event id: the refund id makes it the same refund.
    again = await shop.send("order.refunded", "evt-r1b", order_id="o-1", refund_id="r-1",
                            amount_cents=2_500)  # fmt: skip
    assert again["changed"] is False
    # The same refund id with another amount is a conflict, and changes nothing.
    other = event("order.refunded", store.now(), "evt-r1c", order_id="o-1", refund_id="r-1",
                  amount_cents=3_000)  # fmt: skip
    assert error(await shop.client.post("/api/v1/events", json=other), 409)["code"] == "conflict"
    # Cumulative: after 25% + 25%, half of 105 (52) is gone, not 26 + 26.
    await shop.send("order.refunded", order_id="o-1", refund_id="r-2", amount_cents=2_500)
    assert (await shop.card("m-1"))["points"] == 105 - 52
    # The rest, more than is left (shipping too): everything, and the order counts as returned.
    last = await shop.send("order.refunded", order_id="o-1", refund_id="r-3", amount_cents=9_999)
    assert (last["full"], last["order_status"], last["refunded_cents"]) == (
        True,
        "returned",
        10_000,
    )
    card = await shop.card("m-1")
    assert (card["points"], card["level"]["code"]) == (0, "A0")
    assert await check(store) == []


async def test_a_refund_before_delivery_lowers_what_delivery_keeps(
    shop: Shop, store: Store
) -> None:
    await shop.member("m-1")
    await shop.send("order.placed", order_id="o-1", member_id="m-1", amount_cents=10_000)
    await shop.send("order.refunded", order_id="o-1", refund_id="r-1", amount_cents=5_000)
    assert (await shop.card("m-1"))["points"] == 0
    await shop.send("order.delivered", order_id="o-1")
    # 105 earned, half of it back at once: the same as a refund after delivery.
    assert (await shop.card("m-1"))["points"] == 105 - 52
    full = await shop.send("order.refunded", order_id="o-1", refund_id="r-2", amount_cents=5_000)
    assert full["full"] is True and (await shop.card("m-1"))["points"] == 0


async def test_a_full_refund_takes_back_what_was_spent_only_up_to_the_balance(
    shop: Shop, store: Store
) -> None:
    await shop.member("m-1")
    await shop.delivered("m-1", 60_000, "o-1")  # 600 + 5 points
    await coupons.exchange(store, "m-1", 500, "points", "k-1")  # 500 spent: 105 left
    answer = await shop.send("order.refunded", order_id="o-1", refund_id="r-1",
                             amount_cents=60_000)  # fmt: skip
    assert (answer["taken_back"], answer["shortfall"]) == (105, 500)
    card = await shop.card("m-1")
    assert (card["points"], card["level"]["code"]) == (0, "A0")
    assert await check(store) == []


async def test_a_referrers_bonus_goes_back_when_the_first_delivery_is_refunded_in_full(
    vip_shop: Shop, vip_store: Store
) -> None:
    await vip_shop.member("m-ref")
    await vip_shop.send("member.email_verified", member_id="m-ref")
    await vip_shop.member("m-new", referred_by="m-ref")
    await vip_shop.send("member.email_verified", member_id="m-new")
    await vip_shop.delivered("m-new", 5_000, "o-1")
    assert (await vip_shop.card("m-ref"))["points"] == 5 + 5  # sign-up + referral
    # A partial refund leaves the bonus: the first delivery still happened.
    await vip_shop.send("order.refunded", order_id="o-1", refund_id="r-1", amount_cents=1_000)
    assert (await vip_shop.card("m-ref"))["points"] == 10
    # The spend toward the level is what was not refunded.
    assert (await members.view(vip_store, "m-new")).standing.spend_cents == 4_000
    await vip_shop.send("order.refunded", order_id="o-1", refund_id="r-2", amount_cents=4_000)
    assert (await vip_shop.card("m-ref"))["points"] == 5
    back = await rows(
        vip_store,
        "SELECT amount, level_points, ref FROM ledger"
        " WHERE member_id = 'm-ref' AND reason = 'referral_clawback'",
    )
    assert [tuple(r) for r in back] == [(-5, -5, "m-new")]
    # A second delivered order does not pay the bonus again: it was the first delivery's.
    await vip_shop.delivered("m-new", 5_000, "o-2")
    assert (await vip_shop.card("m-ref"))["points"] == 5
    assert await check(vip_store) == []


async def test_points_captured_at_checkout_come_back_with_a_full_refund(
    vip_shop: Shop, vip_store: Store
) -> None:
    await vip_shop.member("m-1")
    await vip_shop.send("member.email_verified", member_id="m-1")
    await grant(vip_store, "m-1", 95, reason="test funds", actor="test")
    await vip_shop.send("order.placed", order_id="o-1", member_id="m-1", amount_cents=20_000)
    hold = {"hold_id": "h-1", "member_id": "m-1", "order_id": "o-1", "points": 8}
    assert (await vip_shop.client.post("/api/v1/checkout/holds", json=hold)).status_code == 201
    assert (await vip_shop.client.post("/api/v1/checkout/holds/h-1/capture")).status_code == 200
    await vip_shop.send("order.paid", order_id="o-1")
    await vip_shop.send("order.delivered", order_id="o-1")
    earned = (await vip_shop.card("m-1"))["points"]
    assert earned == 92  # 100 - 8 captured; vip-shop pays no points for a delivery itself
    answer = await vip_shop.send("order.refunded", order_id="o-1", refund_id="r-1",
                                 amount_cents=20_000)  # fmt: skip
    assert answer["released_points"] == 8
    assert (await vip_shop.card("m-1"))["points"] == 100
    assert await scalar(vip_store, "SELECT status FROM holds") == "released"
    assert (await members.view(vip_store, "m-1")).standing.spend_cents == 0


async def test_coupon_codes_match_whatever_their_case(shop: Shop, store: Store) -> None:
    await shop.member("m-1")
    await shop.delivered("m-1", 60_000, "o-1")
    code = (await coupons.exchange(store, "m-1", 500, "points", "k-1")).coupon.code
    found = await shop.client.get(f"/api/v1/coupons/{code.lower()}")
    assert found.status_code == 200 and found.json()["code"] == code
    used = await shop.client.post(f"/api/v1/coupons/{code.lower()}/redeem",
                                  json={"member_id": "m-1", "order_id": "o-9"})  # fmt: skip
    assert used.status_code == 200 and used.json()["status"] == "used"
    assert (await coupons.get(store, f"  {code.swapcase()} ")).status == "used"
