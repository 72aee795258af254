"""Coupons through the store: the daily limit, balances, idempotency, codes, redeem, expiry."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from loyalty.clock import ManualClock
from storage import coupons, members
from storage.check import check
from storage.coupons import CODE_ALPHABET, new_code
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.grants import grant
from storage.store import Store
from tests.conftest import StoreFactory, delivered_order, member, rows, scalar, snapshot

SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE = re.compile(rf"^[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}-[{CODE_ALPHABET}]{{4}}$")


async def funded(store: Store, member_id: str = "m-1", points: int = 0, coins: int = 0) -> str:
    await member(store, member_id)
    if points:
        await grant(store, member_id, points, reason="test funds", actor="test")
    if coins:
        await grant(store, member_id, coins, reason="test funds", actor="test", currency="coins")
    return member_id


async def balance(store: Store, member_id: str = "m-1") -> tuple[int, int]:
    view = await members.view(store, member_id)
    return view.points, view.coins


# --- the daily limit ------------------------------------------------------------------------


async def test_third_coupon_allowed_fourth_refused_until_local_midnight(
    make_store: StoreFactory, clock: ManualClock
) -> None:
    store = await make_store("marketplace", timezone="Asia/Shanghai")
    clock.set(datetime(2026, 3, 10, 22, 0, tzinfo=SHANGHAI))
    await funded(store, points=10_000)
    lefts = []
    for i in range(3):
        ex = await coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}")
        lefts.append(ex.exchanges_left_today)
    assert lefts == [2, 1, 0]
    before = await snapshot(store)
    with pytest.raises(Refused) as caught:
        await coupons.exchange(store, "m-1", 500, "points", key="k-3")
    assert caught.value.code == "daily_limit"
    assert caught.value.context["resets_at"] == datetime(2026, 3, 11, tzinfo=SHANGHAI)
    assert caught.value.context["resets_at"].astimezone(UTC) == datetime(
        2026, 3, 10, 16, tzinfo=UTC
    )
    assert await snapshot(store) == before
    assert await balance(store) == (8_500, 0)
    assert (await members.view(store, "m-1")).coupons_today == 3

    # 23:59:59 local: still the same programme day.
    clock.set(datetime(2026, 3, 10, 23, 59, 59, tzinfo=SHANGHAI))
    with pytest.raises(Refused):
        await coupons.exchange(store, "m-1", 500, "points", key="k-4")
    # 00:00:00 local (16:00 UTC, still 10 March in UTC): a new day, three more.
    clock.advance(seconds=1)
    assert (await members.view(store, "m-1")).coupons_today == 0
    for i in range(3):
        await coupons.exchange(store, "m-1", 500, "points", key=f"next-{i}")
    with pytest.raises(Refused):
        await coupons.exchange(store, "m-1", 500, "points", key="next-3")
    days = await rows(store, "SELECT issued_day, COUNT(*) FROM coupons GROUP BY issued_day")
    assert [tuple(r) for r in days] == [("2026-03-10", 3), ("2026-03-11", 3)]
    assert await check(store) == []


async def test_coins_and_points_share_the_daily_limit(store: Store) -> None:
    await funded(store, points=5_000, coins=5_000)
    await coupons.exchange(store, "m-1", 500, "points", key="p-1")
    await coupons.exchange(store, "m-1", 1_000, "coins", key="c-1")
    await coupons.exchange(store, "m-1", 500, "points", key="p-2")
    for currency in ("coins", "points"):
        with pytest.raises(Refused) as caught:
            await coupons.exchange(store, "m-1", 500, currency, key=f"x-{currency}")
        assert caught.value.code == "daily_limit"
    assert await balance(store) == (4_000, 4_000)
    paid = await rows(store, "SELECT paid_with, cost FROM coupons ORDER BY issued_at, code")
    assert sorted(tuple(r) for r in paid) == [("coins", 1_000), ("points", 500), ("points", 500)]


async def test_limits_are_per_member(store: Store) -> None:
    await funded(store, "a", points=5_000)
    await funded(store, "b", points=5_000)
    for i in range(3):
        await coupons.exchange(store, "a", 500, "points", key=f"a-{i}")
    ex = await coupons.exchange(store, "b", 500, "points", key="b-0")
    assert ex.exchanges_left_today == 2


async def test_the_limit_is_checked_before_the_balance(store: Store) -> None:
    await funded(store, points=1_500)
    for i in range(3):
        await coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}")
    with pytest.raises(Refused) as caught:
        await coupons.exchange(store, "m-1", 500, "points", key="k-3")
    assert caught.value.code == "daily_limit"


# --- balances -------------------------------------------------------------------------------


async def test_insufficient_balance_is_refused_and_nothing_changes(store: Store) -> None:
    await funded(store, points=499, coins=999)
    before = await snapshot(store)
    with pytest.raises(Refused) as caught:
        await coupons.exchange(store, "m-1", 500, "points", key="k-1")
    assert caught.value.code == "insufficient"
    assert (caught.value.context["needed"], caught.value.context["balance"]) == (500, 499)
    with pytest.raises(Refused):
        await coupons.exchange(store, "m-1", 1_000, "coins", key="k-2")
    assert await snapshot(store) == before


async def test_exchange_spends_exactly_the_balance(store: Store) -> None:
    await funded(store, points=2_000)
    ex = await coupons.exchange(store, "m-1", 2_000, "points", key="k-1")
    assert (ex.cost, ex.balance_after) == (2_000, 0)
    assert ex.coupon.value_cents == 2_000
    assert ex.coupon.status == "active"
    assert await balance(store) == (0, 0)
    debit = await rows(
        store, "SELECT amount, reason, ref, balance_after FROM ledger WHERE amount < 0"
    )
    assert [tuple(r) for r in debit] == [(-2_000, "coupon", ex.coupon.code, 0)]
    assert await check(store) == []


async def test_exchange_does_not_lower_the_level(store: Store) -> None:
    await member(store)
    await delivered_order(store, "m-1", 60_000)
    assert (await members.view(store, "m-1")).tier.code == "A3"
    await coupons.exchange(store, "m-1", 500, "points", key="k-1")
    view = await members.view(store, "m-1")
    assert (view.points, view.standing.points, view.tier.code) == (105, 605, "A3")


async def test_unknown_member_value_currency_and_disabled_programme(
    store: Store, vip_store: Store
) -> None:
    await funded(store, points=5_000)
    with pytest.raises(NotFound):
        await coupons.exchange(store, "ghost", 500, "points", key="k")
    with pytest.raises(Invalid):
        await coupons.exchange(store, "m-1", 700, "points", key="k")
    with pytest.raises(Invalid):
        await coupons.exchange(store, "m-1", 500, "euros", key="k")  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        await coupons.exchange(store, "", 500, "points", key="k")
    await funded(vip_store, points=10)
    with pytest.raises(Refused) as caught:
        await coupons.exchange(vip_store, "m-1", 500, "points", key="k")
    assert caught.value.code == "disabled"
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 0


async def test_coins_refused_where_coins_are_off_and_unsold_currency(
    make_store: StoreFactory,
) -> None:
    store = await make_store(
        "marketplace",
        coins={"enabled": False, "streak": []},
        coupons={"options": [{"value_cents": 500, "points": 500}]},
    )
    await funded(store, points=1_000)
    with pytest.raises(Refused) as caught:
        await coupons.exchange(store, "m-1", 500, "coins", key="k")
    assert caught.value.code == "disabled"
    other = await make_store("marketplace", coupons={"options": [{"value_cents": 500, "coins": 9}]})
    await funded(other, points=1_000, coins=100)
    with pytest.raises(Refused) as caught:
        await coupons.exchange(other, "m-1", 500, "points", key="k")
    assert caught.value.code == "not_for_sale"
    ex = await coupons.exchange(other, "m-1", 500, "coins", key="k")
    assert (ex.cost, ex.balance_after) == (9, 91)


# --- idempotency ----------------------------------------------------------------------------


async def test_repeated_key_returns_the_same_coupon_and_debits_once(store: Store) -> None:
    await funded(store, points=3_000)
    first = await coupons.exchange(store, "m-1", 1_000, "points", key="tap-1")
    before = await snapshot(store)
    second = await coupons.exchange(store, "m-1", 1_000, "points", key="tap-1")
    # The stored answer (to_dict leaves out how it was produced, e.g. a replay flag).
    assert second.to_dict() == first.to_dict()
    assert await snapshot(store) == before
    assert await balance(store) == (2_000, 0)
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 1


async def test_repeated_key_still_answers_after_the_daily_limit(store: Store) -> None:
    await funded(store, points=3_000)
    for i in range(3):
        await coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}")
    again = await coupons.exchange(store, "m-1", 500, "points", key="k-2")
    assert again.exchanges_left_today == 0
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 3


async def test_same_key_with_another_request_conflicts(store: Store) -> None:
    await funded(store, points=3_000)
    await coupons.exchange(store, "m-1", 500, "points", key="tap-1")
    before = await snapshot(store)
    with pytest.raises(Conflict):
        await coupons.exchange(store, "m-1", 1_000, "points", key="tap-1")
    assert await snapshot(store) == before


# --- codes ----------------------------------------------------------------------------------


def test_codes_have_the_format_and_do_not_repeat() -> None:
    codes = [new_code() for _ in range(20_000)]
    assert all(CODE.match(c) for c in codes)
    assert len(set(codes)) == len(codes)
    # No look-alike characters.
    assert not set("".join(codes)) & set("01OIL")
    # Every character of the alphabet turns up (the codes are not drawn from a subset).
    assert set("".join(codes).replace("-", "")) == set(CODE_ALPHABET)


async def test_store_codes_are_unique(store: Store, clock: ManualClock) -> None:
    await funded(store, points=60 * 500)
    for day in range(20):
        for i in range(3):
            await coupons.exchange(store, "m-1", 500, "points", key=f"{day}-{i}")
        clock.advance(days=1)
    found = [r[0] for r in await rows(store, "SELECT code FROM coupons")]
    assert len(found) == len(set(found)) == 60
    assert all(CODE.match(c) for c in found)


# --- preview --------------------------------------------------------------------------------


async def test_preview_shows_cost_balance_after_and_cut_short_expiry(
    store: Store, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 6, 20, 12, tzinfo=UTC))
    await funded(store, points=1_200)
    before = await snapshot(store)
    pv = await coupons.preview(store, "m-1", 1_000, "points")
    assert (pv.cost, pv.balance, pv.balance_after) == (1_000, 1_200, 200)
    assert pv.expires_at == datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC)
    assert pv.cut_short is True
    assert pv.exchanges_left_today == 2
    assert pv.resets_at == datetime(2026, 6, 21, tzinfo=UTC)
    assert await snapshot(store) == before  # a preview changes nothing
    ex = await coupons.exchange(store, "m-1", 1_000, "points", key="k")
    assert ex.cut_short is True
    assert ex.coupon.expires_at == pv.expires_at
    assert ex.coupon.burns is True


async def test_preview_not_cut_short_in_march(store: Store) -> None:
    await funded(store, points=500)
    pv = await coupons.preview(store, "m-1", 500, "points")
    assert pv.cut_short is False
    assert pv.expires_at == datetime(2026, 4, 9, 23, 59, 59, tzinfo=UTC)
    assert pv.balance_after == 0


async def test_preview_refuses_what_exchange_would(store: Store) -> None:
    await funded(store, points=1_000)
    with pytest.raises(Refused) as caught:
        await coupons.preview(store, "m-1", 2_000, "points")
    assert caught.value.code == "insufficient"
    with pytest.raises(NotFound):
        await coupons.preview(store, "ghost", 500, "points")


# --- goodwill -------------------------------------------------------------------------------


async def test_goodwill_coupons_do_not_count_toward_the_limit(store: Store) -> None:
    await funded(store, points=1_500)
    gift = await coupons.issue_goodwill(
        store, "m-1", 2_000, reason="late parcel", actor="agent-7", key="g-1"
    )
    assert (gift.paid_with, gift.cost, gift.status) == ("goodwill", 0, "active")
    for i in range(3):
        await coupons.exchange(store, "m-1", 500, "points", key=f"k-{i}")
    await coupons.issue_goodwill(store, "m-1", 500, reason="sorry again", actor="a", key="g-2")
    assert (await members.view(store, "m-1")).coupons_today == 3
    assert await balance(store) == (0, 0)
    row = (await rows(store, "SELECT amount, reason, actor, note FROM ledger WHERE ref = ?",
                      (gift.code,)))[0]  # fmt: skip
    assert tuple(row) == (0, "coupon_goodwill", "agent-7", "late parcel")
    assert await check(store) == []


async def test_goodwill_needs_a_reason_and_applies_a_key_once(store: Store) -> None:
    await member(store)
    with pytest.raises(Invalid):
        await coupons.issue_goodwill(store, "m-1", 500, reason="  ", actor="a", key="g")
    with pytest.raises(Invalid):
        await coupons.issue_goodwill(store, "m-1", 700, reason="x", actor="a", key="g")
    with pytest.raises(NotFound):
        await coupons.issue_goodwill(store, "ghost", 500, reason="x", actor="a", key="g")
    first = await coupons.issue_goodwill(store, "m-1", 500, reason="x", actor="a", key="g")
    again = await coupons.issue_goodwill(store, "m-1", 500, reason="x", actor="a", key="g")
    assert again == first
    with pytest.raises(Conflict):
        await coupons.issue_goodwill(store, "m-1", 1_000, reason="x", actor="a", key="g")
    assert await scalar(store, "SELECT COUNT(*) FROM coupons") == 1


# --- redeem ---------------------------------------------------------------------------------


async def test_redeem_by_owner_once_per_order(store: Store, clock: ManualClock) -> None:
    await funded(store, "a", points=500)
    await member(store, "b")
    ex = await coupons.exchange(store, "a", 500, "points", key="k")
    code = ex.coupon.code
    with pytest.raises(Conflict) as caught:
        await coupons.redeem(store, code, "b", "o-1")
    assert caught.value.code == "not_owner"
    with pytest.raises(NotFound):
        await coupons.redeem(store, "NOPE-NOPE-NOPE", "a", "o-1")
    clock.advance(minutes=5)
    used = await coupons.redeem(store, code, "a", "o-1")
    assert (used.status, used.order_id, used.used_at) == ("used", "o-1", clock.now)
    clock.advance(minutes=5)
    again = await coupons.redeem(store, code, "a", "o-1")  # the shop repeats itself
    assert (again.status, again.order_id) == ("used", "o-1")
    stored = (await rows(store, "SELECT status, order_id, used_at FROM coupons"))[0]
    assert (stored["status"], stored["order_id"]) == ("used", "o-1")
    with pytest.raises(Conflict) as caught:
        await coupons.redeem(store, code, "a", "o-2")
    assert caught.value.code == "coupon_used"
    assert (await coupons.get(store, code)).order_id == "o-1"


async def test_redeem_expired_or_burned_conflicts(store: Store, clock: ManualClock) -> None:
    await funded(store, points=1_000)
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    expiring = (await coupons.exchange(store, "m-1", 500, "points", key="k1")).coupon
    clock.set(datetime(2026, 6, 20, 10, tzinfo=UTC))
    burning = (await coupons.exchange(store, "m-1", 500, "points", key="k2")).coupon
    clock.set(datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC))
    with pytest.raises(Conflict) as caught:
        await coupons.redeem(store, expiring.code, "m-1", "o-1")
    assert caught.value.code == "coupon_expired"
    with pytest.raises(Conflict) as caught:
        await coupons.redeem(store, burning.code, "m-1", "o-1")
    assert caught.value.code == "coupon_burned"
    statuses = await rows(store, "SELECT status FROM coupons")
    assert {r[0] for r in statuses} == {"active"}  # redeem refused, nothing written


async def test_redeem_in_the_last_second(store: Store, clock: ManualClock) -> None:
    await funded(store, points=500)
    clock.set(datetime(2026, 6, 20, 10, tzinfo=UTC))
    coupon = (await coupons.exchange(store, "m-1", 500, "points", key="k")).coupon
    clock.set(datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC))
    assert (await coupons.redeem(store, coupon.code, "m-1", "o-1")).status == "used"


# --- expiry and burn ------------------------------------------------------------------------


async def test_burn_at_the_end_of_30_june(store: Store, clock: ManualClock) -> None:
    await funded(store, points=1_500)
    clock.set(datetime(2026, 6, 20, 10, tzinfo=UTC))
    burning = (await coupons.exchange(store, "m-1", 500, "points", key="k1")).coupon
    clock.set(datetime(2026, 6, 30, 23, 59, 59, tzinfo=UTC))
    assert await coupons.expire(store) == {"expired": 0, "burned": 0}
    assert await coupons.burn(store) == 0
    assert (await coupons.get(store, burning.code)).status == "active"
    assert [c.code for c in await coupons.of_member(store, "m-1", active_only=True)] == [
        burning.code
    ]
    clock.set(datetime(2026, 7, 1, 0, 0, 0, tzinfo=UTC))
    # Before any job runs, reads already report it burned.
    assert (await coupons.get(store, burning.code)).status == "burned"
    assert await coupons.of_member(store, "m-1", active_only=True) == []
    assert await coupons.burn(store) == 1
    assert await coupons.burn(store) == 0
    assert await coupons.expire(store) == {"expired": 0, "burned": 0}
    stored = await scalar(store, "SELECT status FROM coupons WHERE code = ?", (burning.code,))
    assert stored == "burned"


async def test_expire_marks_burning_coupons_burned(store: Store, clock: ManualClock) -> None:
    await funded(store, points=1_000)
    clock.set(datetime(2026, 6, 20, 10, tzinfo=UTC))
    await coupons.exchange(store, "m-1", 500, "points", key="k1")
    clock.set(datetime(2026, 7, 1, tzinfo=UTC))
    assert await coupons.expire(store) == {"expired": 0, "burned": 1}


async def test_thirty_day_coupon_expires(store: Store, clock: ManualClock) -> None:
    await funded(store, points=1_000)
    clock.set(datetime(2026, 3, 1, 10, tzinfo=UTC))
    coupon = (await coupons.exchange(store, "m-1", 500, "points", key="k1")).coupon
    assert coupon.expires_at == datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    assert coupon.burns is False
    clock.set(datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))
    assert await coupons.expire(store) == {"expired": 0, "burned": 0}
    assert (await coupons.get(store, coupon.code)).status == "active"
    clock.advance(seconds=1)
    assert (await coupons.get(store, coupon.code)).status == "expired"
    assert await coupons.burn(store) == 0  # not a burning coupon
    assert await coupons.expire(store) == {"expired": 1, "burned": 0}
    assert await coupons.expire(store) == {"expired": 0, "burned": 0}
    assert await scalar(store, "SELECT status FROM coupons") == "expired"
    # Points are not given back for an expired coupon.
    assert await balance(store) == (500, 0)


async def test_expiry_leaves_used_coupons_alone(store: Store, clock: ManualClock) -> None:
    await funded(store, points=500)
    coupon = (await coupons.exchange(store, "m-1", 500, "points", key="k1")).coupon
    await coupons.redeem(store, coupon.code, "m-1", "o-1")
    clock.advance(days=60)
    assert await coupons.expire(store) == {"expired": 0, "burned": 0}
    assert (await coupons.get(store, coupon.code)).status == "used"


async def test_expiry_in_shanghai_is_local_midnight(
    make_store: StoreFactory, clock: ManualClock
) -> None:
    store = await make_store("marketplace", timezone="Asia/Shanghai")
    await funded(store, points=500)
    clock.set(datetime(2026, 6, 20, 10, tzinfo=SHANGHAI))
    coupon = (await coupons.exchange(store, "m-1", 500, "points", key="k")).coupon
    assert coupon.expires_at == datetime(2026, 6, 30, 15, 59, 59, tzinfo=UTC)
    clock.set(datetime(2026, 6, 30, 23, 59, 59, tzinfo=SHANGHAI))
    assert await coupons.burn(store) == 0
    clock.set(datetime(2026, 7, 1, 0, 0, 0, tzinfo=SHANGHAI))  # 16:00 UTC on 30 June
    assert await coupons.burn(store) == 1


async def test_of_member_lists_active_first_by_expiry(store: Store, clock: ManualClock) -> None:
    await funded(store, points=1_500)
    clock.set(datetime(2026, 5, 1, 10, tzinfo=UTC))
    a = (await coupons.exchange(store, "m-1", 500, "points", key="a")).coupon
    clock.set(datetime(2026, 4, 1, 10, tzinfo=UTC))
    b = (await coupons.exchange(store, "m-1", 500, "points", key="b")).coupon
    c = (await coupons.exchange(store, "m-1", 500, "points", key="c")).coupon
    await coupons.redeem(store, c.code, "m-1", "o-1")
    listed = await coupons.of_member(store, "m-1")
    assert [x.code for x in listed] == [b.code, a.code, c.code]
    assert [x.code for x in await coupons.of_member(store, "m-1", active_only=True)] == [
        b.code,
        a.code,
    ]
