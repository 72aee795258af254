"""Shop events through `apply_event`: each type, idempotency, ordering, take-backs, notices."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyalty.clock import ManualClock
from storage import checkout, coupons, links, members
from storage.check import check
from storage.errors import Conflict, Invalid, NotFound
from storage.events import apply_event
from storage.store import Store
from tests.conftest import (
    StoreFactory,
    delivered_order,
    event_body,
    member,
    rows,
    scalar,
    send,
    snapshot,
)


async def points(store: Store, member_id: str) -> int:
    return await scalar(store, "SELECT points FROM members WHERE member_id = ?", (member_id,))


async def ledger(store: Store, member_id: str) -> list[tuple[str, int]]:
    found = await rows(
        store, "SELECT reason, amount FROM ledger WHERE member_id = ? ORDER BY id", (member_id,)
    )
    return [(r["reason"], r["amount"]) for r in found]


async def link(store: Store, member_id: str, telegram_user_id: int) -> None:
    token = await links.create_token(store, member_id)
    await links.consume_token(store, token.token, telegram_user_id)


# --- every event type -----------------------------------------------------------------------


async def test_member_upserted_creates_then_updates(store: Store) -> None:
    first = await send(store, "member.upserted", member_id="m-1", email="a@x.io", name="Ann")
    assert first["status"] == "processed"
    assert first["created"] is True
    second = await send(store, "member.upserted", member_id="m-1", language="ru")
    assert second["created"] is False
    view = await members.view(store, "m-1")
    assert (view.email, view.name, view.language) == ("a@x.io", "Ann", "ru")
    assert view.tier.code == "A0"
    assert view.points == 0
    assert await ledger(store, "m-1") == []


async def test_member_email_verified_on_marketplace_pays_nothing(store: Store) -> None:
    await member(store)
    answer = await send(store, "member.email_verified", member_id="m-1")
    assert answer["status"] == "processed"
    view = await members.view(store, "m-1")
    assert view.email_verified
    assert view.points == 0
    assert await ledger(store, "m-1") == []


async def test_email_verified_on_vip_shop_pays_once_and_lifts_the_level(vip_store: Store) -> None:
    await member(vip_store)
    assert (await members.view(vip_store, "m-1")).tier.code == "unverified"
    answer = await send(vip_store, "member.email_verified", member_id="m-1")
    assert answer["level_changes"] == [{"member_id": "m-1", "from": "unverified", "to": "regular"}]
    again = await send(vip_store, "member.email_verified", member_id="m-1")
    assert again["level_changes"] == []
    assert await ledger(vip_store, "m-1") == [("email_verified", 5)]
    view = await members.view(vip_store, "m-1")
    assert (view.points, view.tier.code) == (5, "regular")


async def test_order_lifecycle_placed_paid_delivered(store: Store) -> None:
    await member(store)
    placed = await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=2_550)
    assert placed["changed"] is True
    paid = await send(store, "order.paid", order_id="o-1")
    assert paid["order_status"] == "paid"
    delivered = await send(store, "order.delivered", order_id="o-1")
    assert delivered["order_status"] == "delivered"
    assert delivered["credited"] == [
        {"member_id": "m-1", "points": 25, "reason": "order"},
        {"member_id": "m-1", "points": 5, "reason": "daily_purchase"},
    ]
    assert delivered["level_changes"] == [{"member_id": "m-1", "from": "A0", "to": "A1"}]
    order = (await rows(store, "SELECT status, paid FROM orders WHERE order_id = 'o-1'"))[0]
    assert tuple(order) == ("delivered", 1)
    assert await points(store, "m-1") == 30
    assert (await members.view(store, "m-1")).tier.code == "A1"


async def test_order_placed_twice_under_new_ids_is_harmless_but_a_change_conflicts(
    store: Store,
) -> None:
    await member(store)
    await member(store, "m-2")
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=500)
    again = await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=500)
    assert again["changed"] is False
    with pytest.raises(Conflict):
        await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=501)
    with pytest.raises(Conflict):
        await send(store, "order.placed", order_id="o-1", member_id="m-2", amount_cents=500)
    assert await scalar(store, "SELECT COUNT(*) FROM orders") == 1


async def test_order_cancelled_and_not_delivered_before_delivery(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    await send(store, "order.placed", order_id="o-2", member_id="m-1", amount_cents=900)
    cancelled = await send(store, "order.cancelled", order_id="o-1")
    assert (cancelled["order_status"], cancelled["released_points"]) == ("cancelled", 0)
    undelivered = await send(store, "order.not_delivered", order_id="o-2")
    assert (undelivered["order_status"], undelivered["taken_back"]) == ("not_delivered", 0)
    # Neither can be delivered any more; a review of either earns nothing, said once for all.
    for order_id, status in (("o-1", "cancelled"), ("o-2", "not_delivered")):
        with pytest.raises(Conflict):
            await send(store, "order.delivered", order_id=order_id)
        review = await send(store, "review.submitted", order_id=order_id)
        assert (review["review"], review["order_status"], review["points"]) == (
            "not_earned",
            status,
            0,
        )
    assert await ledger(store, "m-1") == []


async def test_a_review_after_the_return_gets_a_final_idempotent_answer(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    await send(store, "order.delivered", order_id="o-1")
    await send(store, "order.returned", order_id="o-1")
    before = await snapshot(store, skip=("idempotency",))
    body = event_body(store, "review.submitted", "evt-late-review", order_id="o-1")
    first = await apply_event(store, body)
    assert first["status"] == "processed"
    assert (first["review"], first["order_status"], first["points"]) == (
        "not_earned",
        "returned",
        0,
    )
    again = await apply_event(store, body)  # the shop retries: the same answer, as a duplicate
    assert again == {**first, "status": "duplicate"}
    assert await snapshot(store, skip=("idempotency",)) == before  # nothing earned or taken


async def test_returning_an_undelivered_or_cancelling_a_delivered_order_conflicts(
    store: Store,
) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    with pytest.raises(Conflict):
        await send(store, "order.returned", order_id="o-1")
    await send(store, "order.delivered", order_id="o-1")
    before = await snapshot(store)
    with pytest.raises(Conflict):
        await send(store, "order.cancelled", order_id="o-1")
    assert await snapshot(store) == before


async def test_review_once_per_order_and_only_when_delivered(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    with pytest.raises(Conflict):
        await send(store, "review.submitted", order_id="o-1")
    await send(store, "order.delivered", order_id="o-1")
    first = await send(store, "review.submitted", order_id="o-1")
    assert first["points"] == 1
    second = await send(store, "review.submitted", order_id="o-1")  # another event id
    assert (second["points"], second["changed"]) == (0, False)
    assert [r for r in await ledger(store, "m-1") if r[0] == "review"] == [("review", 1)]
    assert await points(store, "m-1") == 9 + 5 + 1


async def test_vip_review_pays_one_percent_rounded_down(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    small = await delivered_order(vip_store, "m-1", 9_999)
    big = await delivered_order(vip_store, "m-1", 25_099)
    assert (await send(vip_store, "review.submitted", order_id=small))["points"] == 0
    assert (await send(vip_store, "review.submitted", order_id=big))["points"] == 2
    assert (await send(vip_store, "review.submitted", order_id=big))["points"] == 0
    assert await points(vip_store, "m-1") == 5 + 2


# --- unknown names, duplicates, conflicts ---------------------------------------------------


async def test_unknown_member_or_order_is_rejected_and_nothing_changes(store: Store) -> None:
    await member(store)
    before = await snapshot(store)
    with pytest.raises(NotFound):
        await send(store, "order.placed", order_id="o-1", member_id="ghost", amount_cents=900)
    for kind in ("order.paid", "order.delivered", "order.returned", "order.cancelled",
                 "order.not_delivered", "review.submitted"):  # fmt: skip
        with pytest.raises(NotFound):
            await send(store, kind, order_id="nope")
    with pytest.raises(NotFound):
        await send(store, "member.email_verified", member_id="ghost")
    with pytest.raises(NotFound):
        await send(store, "member.upserted", member_id="m-2", referred_by="ghost")
    assert await snapshot(store) == before


async def test_a_rejected_event_is_not_remembered_and_can_be_retried(store: Store) -> None:
    await member(store)
    early = event_body(store, "order.delivered", "evt-early", order_id="o-1")
    with pytest.raises(NotFound):
        await apply_event(store, early)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    retried = await apply_event(store, early)
    assert retried["status"] == "processed"
    assert await points(store, "m-1") == 9 + 5


async def test_same_event_id_twice_is_a_duplicate_and_changes_nothing(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=900)
    body = event_body(store, "order.delivered", "evt-d", order_id="o-1")
    first = await apply_event(store, body)
    before = await snapshot(store)
    second = await apply_event(store, body)
    assert first["status"] == "processed"
    assert second["status"] == "duplicate"
    assert {**second, "status": "processed"} == first
    # Key order does not make it another request.
    reordered = dict(reversed(list(body.items())))
    assert (await apply_event(store, reordered))["status"] == "duplicate"
    assert await snapshot(store) == before


async def test_same_event_id_with_another_body_conflicts(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", "evt-1", order_id="o-1", member_id="m-1", amount_cents=900)
    before = await snapshot(store)
    with pytest.raises(Conflict):
        await send(store, "order.placed", "evt-1", order_id="o-2", member_id="m-1",
                   amount_cents=900)  # fmt: skip
    assert await snapshot(store) == before


async def test_delivered_before_paid_never_double_credits(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=1_000)
    await send(store, "order.delivered", order_id="o-1")
    paid = await send(store, "order.paid", order_id="o-1")
    assert paid["order_status"] == "delivered"
    await send(store, "order.paid", order_id="o-1")
    await send(store, "order.delivered", order_id="o-1")
    order = (await rows(store, "SELECT status, paid FROM orders"))[0]
    assert tuple(order) == ("delivered", 1)
    assert await ledger(store, "m-1") == [("order", 10), ("daily_purchase", 5)]
    assert await check(store) == []


async def test_delivered_twice_under_different_event_ids_credits_once(store: Store) -> None:
    await member(store)
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=1_000)
    first = await send(store, "order.delivered", "evt-a", order_id="o-1")
    second = await send(store, "order.delivered", "evt-b", order_id="o-1")
    assert first["changed"] is True
    assert (second["status"], second["changed"], second["credited"]) == ("processed", False, [])
    assert await points(store, "m-1") == 15


# --- invalid bodies -------------------------------------------------------------------------


async def test_invalid_body_lists_every_problem(store: Store) -> None:
    before = await snapshot(store)
    with pytest.raises(Invalid) as caught:
        await apply_event(
            store,
            {
                "id": "",
                "type": "order.placed",
                "occurred_at": "yesterday",
                "data": {"order_id": "", "amount_cents": 12.5, "colour": "red"},
                "extra": 1,
            },
        )
    details = caught.value.details
    for fragment in (
        "extra: unknown field",
        "id: required",
        "occurred_at: 'yesterday' is not an ISO 8601 time",
        "data.colour: unknown field",
        "data.order_id: must be a non-empty string",
        "data.member_id: required",
        "data.amount_cents: must be an integer number of cents",
    ):
        assert any(fragment in d for d in details), (fragment, details)
    assert len(details) == 7
    assert await snapshot(store) == before


async def test_invalid_event_envelopes(store: Store) -> None:
    now = store.now()
    cases = {
        "not an object": (["x"], "body: must be a JSON object"),
        "unknown type": (
            {"id": "e", "type": "order.lost", "occurred_at": now.isoformat(), "data": {}},
            "type: unknown event type",
        ),
        "naive time": (
            {"id": "e", "type": "order.paid", "occurred_at": "2026-03-10T09:00:00",
             "data": {"order_id": "o"}},
            "occurred_at: needs a UTC offset",
        ),
        "future": (
            {"id": "e", "type": "order.paid",
             "occurred_at": (now + timedelta(hours=2)).isoformat(), "data": {"order_id": "o"}},
            "occurred_at: is in the future",
        ),
        "no data": (
            {"id": "e", "type": "order.paid", "occurred_at": now.isoformat()},
            "data: required",
        ),
        "bad e-mail": (
            {"id": "e", "type": "member.upserted", "occurred_at": now.isoformat(),
             "data": {"member_id": "m", "email": "nobody"}},
            "data.email: not an e-mail address",
        ),
        "bool amount": (
            {"id": "e", "type": "order.placed", "occurred_at": now.isoformat(),
             "data": {"order_id": "o", "member_id": "m", "amount_cents": True}},
            "data.amount_cents: must be an integer",
        ),
        "negative amount": (
            {"id": "e", "type": "order.placed", "occurred_at": now.isoformat(),
             "data": {"order_id": "o", "member_id": "m", "amount_cents": -1}},
            "data.amount_cents: must be between",
        ),
        "long id": (
            {"id": "e" * 129, "type": "order.paid", "occurred_at": now.isoformat(),
             "data": {"order_id": "o"}},
            "id: required",
        ),
    }  # fmt: skip
    for name, (body, fragment) in cases.items():
        with pytest.raises(Invalid) as caught:
            await apply_event(store, body)
        assert any(fragment in d for d in caught.value.details), (name, caught.value.details)
    assert await scalar(store, "SELECT COUNT(*) FROM idempotency") == 0


async def test_event_up_to_an_hour_ahead_is_accepted_as_clock_skew(store: Store) -> None:
    body = event_body(store, "member.upserted", member_id="m-1")
    body["occurred_at"] = (store.now() + timedelta(minutes=59)).isoformat()
    assert (await apply_event(store, body))["created"] is True


# --- daily purchases in a non-UTC zone ------------------------------------------------------


async def test_daily_purchase_bonus_once_per_local_day(
    make_store: StoreFactory, clock: ManualClock
) -> None:
    store = await make_store("marketplace", timezone="Asia/Shanghai")
    shanghai = ZoneInfo("Asia/Shanghai")
    clock.set(datetime(2026, 3, 10, 8, 0, tzinfo=shanghai))
    await member(store)
    # Two deliveries on 10 March local: 08:00 and 23:59:59 (15:59:59 UTC).
    await delivered_order(store, "m-1", 300)
    clock.set(datetime(2026, 3, 10, 23, 59, 59, tzinfo=shanghai))
    await delivered_order(store, "m-1", 300)
    # One second later it is 11 March in Shanghai (still 10 March in UTC): a new day.
    clock.advance(seconds=1)
    third = await delivered_order(store, "m-1", 300)
    daily = await rows(
        store, "SELECT ref, idem_key FROM ledger WHERE reason = 'daily_purchase' ORDER BY id"
    )
    assert [r["idem_key"] for r in daily] == [
        "daily_purchase:m-1:2026-03-10",
        "daily_purchase:m-1:2026-03-11",
    ]
    assert daily[1]["ref"] == third
    assert await points(store, "m-1") == 3 * 3 + 2 * 5


async def test_daily_purchase_not_paid_for_an_order_of_two_dollars(store: Store) -> None:
    await member(store)
    answer_order = await delivered_order(store, "m-1", 200)
    assert await points(store, "m-1") == 0
    assert (await members.view(store, "m-1")).tier.code == "A0"
    await delivered_order(store, "m-1", 201)
    assert await ledger(store, "m-1") == [("order", 2), ("daily_purchase", 5)]
    assert answer_order


# --- referrals ------------------------------------------------------------------------------


async def test_marketplace_referrer_gets_50_at_registration_once(store: Store) -> None:
    await member(store, "ref")
    answer = await send(store, "member.upserted", member_id="new", referred_by="ref")
    assert answer["created"] is True
    # Registering again (an update) with the same referrer pays nothing more.
    await send(store, "member.upserted", member_id="new", referred_by="ref")
    await send(store, "member.email_verified", member_id="new")
    await delivered_order(store, "new", 1_000)
    assert await ledger(store, "ref") == [("referral", 50)]
    assert await points(store, "new") == 15
    # 50 referral points count toward the level, but A1 also needs a delivered order.
    assert (await members.view(store, "ref")).standing.points == 50
    assert (await members.view(store, "ref")).tier.code == "A0"


async def test_vip_referral_bonuses(vip_store: Store) -> None:
    await member(vip_store, "ref")
    await send(vip_store, "member.upserted", member_id="new", referred_by="ref")
    assert await ledger(vip_store, "ref") == []
    assert await ledger(vip_store, "new") == []
    await send(vip_store, "member.email_verified", member_id="new")
    assert await ledger(vip_store, "new") == [("email_verified", 5), ("referral_welcome", 5)]
    assert await ledger(vip_store, "ref") == []
    first = await delivered_order(vip_store, "new", 3_000)
    await delivered_order(vip_store, "new", 4_000)
    assert await ledger(vip_store, "ref") == [("referral", 5)]
    referral = (await rows(vip_store, "SELECT ref FROM ledger WHERE reason = 'referral'"))[0]
    assert referral["ref"] == "new"
    assert first
    assert await points(vip_store, "new") == 10


async def test_vip_referrer_paid_on_first_delivery_only_not_on_placement(vip_store: Store) -> None:
    await member(vip_store, "ref")
    await send(vip_store, "member.upserted", member_id="new", referred_by="ref")
    await send(vip_store, "order.placed", order_id="o-1", member_id="new", amount_cents=500)
    await send(vip_store, "order.cancelled", order_id="o-1")
    assert await ledger(vip_store, "ref") == []
    await delivered_order(vip_store, "new", 500)
    assert await ledger(vip_store, "ref") == [("referral", 5)]


async def test_self_referral_is_refused(store: Store, vip_store: Store) -> None:
    for s in (store, vip_store):
        await member(s, "m-1")
        before = await snapshot(s)
        with pytest.raises(Invalid):
            await send(s, "member.upserted", member_id="m-1", referred_by="m-1")
        assert await snapshot(s) == before
    # So a vip-shop member never pays themselves the referrer's bonus.
    await send(vip_store, "member.email_verified", member_id="m-1")
    await delivered_order(vip_store, "m-1", 1_000)
    assert await ledger(vip_store, "m-1") == [("email_verified", 5)]
    # Through the operation too.
    with pytest.raises(Invalid):
        await members.upsert(store, "m-1", referred_by="m-1")


# --- take-backs -----------------------------------------------------------------------------


async def test_return_after_points_were_spent(store: Store) -> None:
    await member(store)
    order_id = await delivered_order(store, "m-1", 60_000)  # 600 + 5 daily = 605 -> A3
    assert (await members.view(store, "m-1")).tier.code == "A3"
    await coupons.exchange(store, "m-1", 500, "points", key="k-1")  # 105 left
    answer = await send(store, "order.returned", order_id=order_id)
    assert answer["taken_back"] == 105
    assert answer["shortfall"] == 500
    assert answer["level_changes"] == [{"member_id": "m-1", "from": "A3", "to": "A0"}]
    clawbacks = await rows(
        store,
        "SELECT amount, shortfall, level_points, note, balance_after FROM ledger"
        " WHERE reason = 'clawback' ORDER BY id",
    )
    assert [tuple(r) for r in clawbacks] == [
        (-105, 495, -600, "order", 0),
        (0, 5, -5, "daily_purchase", 0),
    ]
    view = await members.view(store, "m-1")
    assert view.points == 0
    assert view.standing.points == 0  # the points no longer count toward the level
    assert view.tier.code == "A0"
    # The coupon bought with them stays valid; the store is consistent.
    assert len(await coupons.of_member(store, "m-1", active_only=True)) == 1
    assert await check(store) == []
    # Returning again (a new event id) changes nothing but remembering that event.
    before = await snapshot(store, skip=("idempotency",))
    again = await send(store, "order.returned", order_id=order_id)
    assert again["changed"] is False
    assert await snapshot(store, skip=("idempotency",)) == before


async def test_return_takes_back_the_review_points_too(store: Store) -> None:
    await member(store)
    order_id = await delivered_order(store, "m-1", 12_000)
    await send(store, "review.submitted", order_id=order_id)
    assert await points(store, "m-1") == 126
    answer = await send(store, "order.returned", order_id=order_id)
    assert (answer["taken_back"], answer["shortfall"]) == (126, 0)
    assert await points(store, "m-1") == 0
    assert (await members.view(store, "m-1")).standing.points == 0
    assert await check(store) == []


async def test_return_keeps_points_from_other_orders(store: Store) -> None:
    await member(store)
    await delivered_order(store, "m-1", 15_000)
    clock_day_two = store.now()
    assert clock_day_two
    second = await delivered_order(store, "m-1", 2_000)
    answer = await send(store, "order.returned", order_id=second)
    assert answer["taken_back"] == 20
    view = await members.view(store, "m-1")
    assert (view.points, view.standing.points, view.tier.code) == (155, 155, "A2")


async def test_not_delivered_after_delivery_takes_back(store: Store) -> None:
    await member(store)
    order_id = await delivered_order(store, "m-1", 15_000)
    assert (await members.view(store, "m-1")).tier.code == "A2"
    answer = await send(store, "order.not_delivered", order_id=order_id)
    assert (answer["order_status"], answer["taken_back"], answer["shortfall"]) == (
        "not_delivered",
        155,
        0,
    )
    view = await members.view(store, "m-1")
    assert (view.points, view.standing.points, view.tier.code) == (0, 0, "A0")
    again = await send(store, "order.not_delivered", order_id=order_id)
    assert again["changed"] is False
    assert await points(store, "m-1") == 0
    assert await check(store) == []


async def test_vip_return_lowers_spend_and_level(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")
    order_id = await delivered_order(vip_store, "m-1", 20_000)
    assert (await members.view(vip_store, "m-1")).tier.code == "vip_d"
    answer = await send(vip_store, "order.returned", order_id=order_id)
    assert answer["level_changes"] == [{"member_id": "m-1", "from": "vip_d", "to": "regular"}]
    view = await members.view(vip_store, "m-1")
    assert (view.standing.spend_cents, view.tier.code) == (0, "regular")


async def test_cancel_releases_holds_exactly_once(vip_store: Store) -> None:
    await member(vip_store)
    await send(vip_store, "member.email_verified", member_id="m-1")  # 5 points
    await send(vip_store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=20_000)
    await checkout.hold(vip_store, "h-1", "m-1", "o-1", 4)
    assert (await members.view(vip_store, "m-1")).points == 1
    first = await send(vip_store, "order.cancelled", "evt-c1", order_id="o-1")
    second = await send(vip_store, "order.cancelled", "evt-c2", order_id="o-1")
    third = await send(vip_store, "order.cancelled", "evt-c1", order_id="o-1")
    assert first["released_points"] == 4
    assert second["changed"] is False
    assert third["status"] == "duplicate"
    view = await members.view(vip_store, "m-1")
    assert (view.points, view.points_held) == (5, 0)
    assert await ledger(vip_store, "m-1") == [
        ("email_verified", 5),
        ("hold", -4),
        ("hold_release", 4),
    ]
    # The hold itself is released: releasing it again through the API changes nothing.
    assert (await checkout.release(vip_store, "h-1")).status == "released"
    assert (await members.view(vip_store, "m-1")).points == 5
    assert await check(vip_store) == []


# --- level changes and notices --------------------------------------------------------------


async def outbox(store: Store, member_id: str) -> list[tuple[str, dict]]:
    found = await rows(
        store, "SELECT kind, payload FROM outbox WHERE member_id = ? ORDER BY id", (member_id,)
    )
    return [(r["kind"], json.loads(r["payload"])) for r in found]


async def test_level_change_reported_and_noticed_only_when_linked(store: Store) -> None:
    await member(store, "linked")
    await member(store, "plain")
    await link(store, "linked", 1001)
    for member_id in ("linked", "plain"):
        await send(store, "order.placed", order_id=f"o-{member_id}", member_id=member_id,
                   amount_cents=10_000)  # fmt: skip
        answer = await send(store, "order.delivered", order_id=f"o-{member_id}")
        assert answer["level_changes"] == [{"member_id": member_id, "from": "A0", "to": "A2"}]
    assert await outbox(store, "plain") == []
    notices = await outbox(store, "linked")
    assert ("level_changed", {"old": "A0", "new": "A2", "up": True}) in notices
    assert ("order_points", {"order_id": "o-linked", "points": 105}) in notices
    assert len(notices) == 2
    # A level going down is reported and noticed as well.
    answer = await send(store, "order.returned", order_id="o-linked")
    assert answer["level_changes"] == [{"member_id": "linked", "from": "A2", "to": "A0"}]
    kinds = [k for k, _ in await outbox(store, "linked")]
    assert kinds.count("level_changed") == 2
    assert "clawback" in kinds
    assert await outbox(store, "plain") == []


async def test_event_without_level_change_reports_none(store: Store) -> None:
    await member(store)
    await delivered_order(store, "m-1", 1_000)
    answer = await send(store, "order.placed", order_id="o-x", member_id="m-1", amount_cents=900)
    assert "level_changes" not in answer or answer["level_changes"] == []
    delivered = await send(store, "order.delivered", order_id="o-x")
    assert delivered["level_changes"] == []


async def test_member_ids_with_a_slash_are_refused(store: Store) -> None:
    """The API could never address such a member (%2F is decoded before routing)."""
    await member(store)
    before = await snapshot(store)
    for type_, data in (
        ("member.upserted", {"member_id": "m/2"}),
        ("member.upserted", {"member_id": "m-2", "referred_by": "m/1"}),
        ("member.email_verified", {"member_id": "m/1"}),
        ("order.placed", {"order_id": "o-1", "member_id": "m/1", "amount_cents": 900}),
    ):
        with pytest.raises(Invalid) as caught:
            await send(store, type_, **data)
        assert any('must not contain "/"' in d for d in caught.value.details), caught.value.details
    assert await snapshot(store) == before
