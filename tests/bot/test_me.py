"""/me: balances, level, perks, progress, today's exchanges and the burn, from the programme."""

from __future__ import annotations

from pathlib import Path

from storage import coupons
from storage.store import Store
from telegram_emulator import Person
from tests.bot.conftest import linked, make_config
from tests.conftest import delivered_order, open_store, send


async def test_unlinked_member_is_asked_to_link(ann: Person) -> None:
    await ann.send("/me")
    assert "not connected" in ann.last_reply().text


async def test_new_member_needs_a_delivered_order_for_a1(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann, name="Ann")
    await ann.send("/me")
    text = ann.last_reply().text
    assert "Ann, your account" in text
    assert "Points: 0" in text and "Coins: 0" in text
    assert "Level: A0" in text
    assert "Personal e-mails about discounts" in text
    assert "1 more point to A1" in text
    assert "delivered order over $2.00" in text
    assert "Coupon exchanges left today: 3 of 3" in text
    assert "burn at the end of 30 Jun 2026" in text


async def test_progress_and_perks_follow_the_programme(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await delivered_order(bot_store, "m-1", 115_000)  # 1150 + 5 points: A3
    await coupons.exchange(bot_store, "m-1", 500, "points", "k1")  # spending does not demote
    await ann.send("/me")
    text = ann.last_reply().text
    assert "Points: 655" in text
    assert "Level: A3" in text
    assert "Fast refund for orders up to $25" in text
    assert "845 more points to A4" in text
    assert "exchanges left today: 2 of 3" in text


async def test_russian_plurals_and_numbers(boris: Person, bot_store: Store) -> None:
    await linked(bot_store, boris, "m-2")
    await delivered_order(bot_store, "m-2", 160_000)  # 1600 + 5
    await boris.send("/me")
    text = boris.last_reply().text
    assert "Баллы: 1\xa0605" in text
    assert "Ещё 395 баллов до уровня A4" in text
    assert text.endswith("сгорают в конце дня 30 июн. 2026")
    await delivered_order(bot_store, "m-2", 39_300)  # +393 +0 (same day): 1998
    await boris.send("/me")
    assert "Ещё 2 балла до уровня A4" in boris.last_reply().text


async def test_spend_programme_shows_spend_and_discount(tmp_path: Path, clock, emu) -> None:
    from tests.bot.conftest import running_app

    config = make_config("vip-shop")
    store = await open_store(tmp_path / "vip.db", config.program, clock)
    async with running_app(emu, store, config):
        vera = emu.user(2001, "Vera")
        await linked(store, vera, "v-1")
        await vera.send("/me")
        text = vera.last_reply().text
        assert "Level: Unverified" in text and "verify your e-mail" in text
        assert "Coins" not in text and "Coupon exchanges" not in text
        await send(store, "member.email_verified", member_id="v-1")
        await delivered_order(store, "v-1", 15_000)
        await vera.send("/me")
        text = vera.last_reply().text
        assert "Points: 5" in text
        assert "Level: Regular" in text and "0.5% off every order" in text
        assert "Spend $50.00 more to reach VIP-D" in text
    await store.close()
