"""/coupons: choose, confirm, get the code; double taps, stale and forged buttons, limits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from loyalty.clock import ManualClock
from storage import check, coupons, grants, members
from storage.store import Store
from telegram_emulator import Person
from tests.bot.conftest import linked


async def rich_member(store: Store, person: Person, points: int = 3000, coins: int = 0) -> str:
    member_id = await linked(store, person)
    await grants.grant(store, member_id, points, reason="test", actor="test")
    if coins:
        await grants.grant(store, member_id, coins, reason="test", actor="test", currency="coins")
    return member_id


async def test_exchange_with_confirmation_sends_protected_code(
    ann: Person, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ann.send("/coupons")
    menu = ann.last_reply()
    assert "You have 3,000 points, 0 coins" in menu.text
    assert "$5.00 · 500 points" in menu.button_labels
    await ann.press("$10.00 · 1,000 points")
    confirm = ann.last_reply()
    assert "Exchange 1,000 points for a $10.00 coupon?" in confirm.text
    assert "Balance after: 2,000 points" in confirm.text
    assert "Valid until 9 Apr 2026, 23:59" in confirm.text.replace("Valid until:", "Valid until")
    assert "burns once a year" not in confirm.text
    answer = await ann.press("✅ Confirm")
    assert answer is not None and answer.text == "Coupon issued!"
    done, code_message = ann.bot_messages()[-2:]
    assert "Your $10.00 coupon is ready" in done.text and "Balance now: 2,000 points" in done.text
    assert code_message.protect_content
    owned = await coupons.of_member(bot_store, "m-1")
    assert len(owned) == 1 and owned[0].code in code_message.text
    assert (await members.view(bot_store, "m-1")).points == 2000


async def test_burn_cuts_the_validity_short_and_says_so(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 6, 20, 12, tzinfo=UTC))
    await rich_member(bot_store, ann)
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 points")
    text = ann.last_reply().text
    assert "valid only until 30 Jun 2026, 23:59" in text


async def test_double_tap_spends_once(ann: Person, bot_store: Store) -> None:
    await rich_member(bot_store, ann)
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 points")
    confirmation = ann.last_reply()
    answers = await asyncio.gather(
        ann.press("✅ Confirm", message=confirmation), ann.press("✅ Confirm", message=confirmation)
    )
    texts = sorted(a.text for a in answers if a is not None)
    assert texts == ["Already done: your coupon is in the chat.", "Coupon issued!"]
    assert len(await coupons.of_member(bot_store, "m-1")) == 1
    assert (await members.view(bot_store, "m-1")).points == 2500
    assert sum("Coupon $5.00:" in m.text for m in ann.bot_messages()) == 1
    assert await check.check(bot_store) == []


async def test_stale_confirmation_shows_a_fresh_preview(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await rich_member(bot_store, ann)
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 points")
    old = ann.last_reply()
    clock.advance(minutes=30)
    answer = await ann.press("✅ Confirm", message=old)
    assert answer is not None and "old" in answer.text
    assert "Exchange 500 points" in ann.last_reply().text
    assert await coupons.of_member(bot_store, "m-1") == []


async def test_forged_buttons_never_spend(ann: Person, boris: Person, bot_store: Store) -> None:
    await rich_member(bot_store, ann)
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 points")
    confirmation = ann.last_reply()
    stamp = confirmation.buttons[0][0].callback_data.rsplit(":", 1)[1]
    await ann.press("✅ Confirm", message=confirmation)
    # Same message, another value: the key was used for another request.
    forged = await ann.press_data(f"cpn:ok:2000:p:{stamp}", message=confirmation)
    assert forged is not None and "no longer valid" in forged.text
    for data in ("cpn:ok:700:p:" + stamp, "cpn:pick:1:p", "cpn:ok:500:x:1", "cpn:ok:500:p:m-2"):
        answer = await ann.press_data(data, message=confirmation)
        assert answer is not None
    # Boris (not linked) replays Ann's button data: he is asked to link, nothing is spent.
    await boris.send("/start")
    await boris.press_data(f"cpn:ok:500:p:{stamp}", message=boris.last_reply())
    assert "не подключён" in boris.last_reply().text
    assert len(await coupons.of_member(bot_store, "m-1")) == 1
    assert (await members.view(bot_store, "m-1")).points == 2500


async def test_fourth_coupon_of_the_day_is_refused(ann: Person, bot_store: Store) -> None:
    await rich_member(bot_store, ann, points=10_000)
    for _ in range(3):
        await ann.send("/coupons")
        await ann.press("$5.00 · 500 points")
        await ann.press("✅ Confirm")
    await ann.send("/coupons")
    assert "Exchanges left today: 0 of 3" in ann.last_reply().text
    await ann.press("$5.00 · 500 points")
    assert "used all 3 coupon exchanges" in ann.last_reply().text
    assert "27 Mar 2026, 00:00" not in ann.last_reply().text
    assert "11 Mar 2026, 00:00" in ann.last_reply().text
    assert len(await coupons.of_member(bot_store, "m-1")) == 3


async def test_not_enough_points_and_coins(ann: Person, bot_store: Store) -> None:
    await rich_member(bot_store, ann, points=400, coins=600)
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 points")
    assert "it needs 500 points, you have 400 points" in ann.last_reply().text
    await ann.send("/coupons")
    await ann.press("$5.00 · 500 coins")
    assert "Exchange 500 coins" in ann.last_reply().text
    await ann.press("✅ Confirm")
    assert (await members.view(bot_store, "m-1")).coins == 100


async def test_my_coupons_list_in_russian(
    boris: Person, bot_store: Store, clock: ManualClock
) -> None:
    await rich_member(bot_store, boris, points=5000)
    await coupons.exchange(bot_store, "m-1", 500, "points", "a")
    used = await coupons.exchange(bot_store, "m-1", 1000, "points", "b")
    await coupons.redeem(bot_store, used.coupon.code, "m-1", "o-1")
    clock.advance(timedelta(days=40))
    await coupons.expire(bot_store)
    await boris.send("/coupons")
    await boris.press("📋 Мои купоны")
    text = boris.last_reply().text
    assert "Ваши купоны" in text and "истёк" in text and "использован" in text
    assert boris.last_reply().protect_content


async def test_text_instead_of_a_button_and_unlinked(ann: Person) -> None:
    await ann.send("/coupons")
    assert "not connected" in ann.last_reply().text
