"""/daily: the check-in once a programme day, the streak, tomorrow's amount, the level."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loyalty.clock import ManualClock
from storage import members
from storage.store import Store
from telegram_emulator import Person, TelegramEmulator
from tests.bot.conftest import linked, make_config
from tests.bot.programmes import running
from tests.conftest import delivered_order


async def test_unlinked_users_are_asked_to_link(ann: Person, boris: Person) -> None:
    await ann.send("/daily")
    assert "not connected" in ann.last_reply().text
    await boris.send("/daily")
    assert "не подключён" in boris.last_reply().text
    await boris.press_data("nav:daily")
    assert "не подключён" in boris.last_reply().text


async def test_check_in_pays_once_then_says_when_the_next_opens(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await ann.send("/daily")
    text = ann.last_reply().text
    assert "Checked in! Today you get 10 coins and 20 points." in text
    assert "Streak: 1 day in a row" in text
    assert "Tomorrow's check-in: 10 coins and 20 points" in text
    assert "Balance: 20 points · 10 coins" in text
    assert [b.callback_data for b in ann.last_reply().buttons[0]] == ["nav:me", "nav:history"]
    await ann.send("/daily")
    again = ann.last_reply().text
    assert "already checked in today" in again
    assert "opens 11 Mar 2026, 00:00 (in 15 hours)" in again
    assert "Balance: 20 points · 10 coins" in again
    clock.advance(hours=14, minutes=59, seconds=30)
    await ann.send("/daily")
    assert "(in 1 minute)" in ann.last_reply().text
    view = await members.view(bot_store, "m-1")
    assert (view.points, view.coins) == (20, 10)


async def test_streak_grows_then_restarts_after_a_missed_day_in_russian(
    boris: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, boris, "m-2")
    for _ in range(3):
        await boris.send("/daily")
        clock.advance(days=1)
    text = boris.last_reply().text
    assert "Сегодня вы получаете 15 монет и 20 баллов." in text
    assert "Серия: 3 дня подряд" in text
    assert "Завтрашняя отметка: 15 монет и 20 баллов" in text
    assert "Баланс: 60 баллов · 35 монет" in text
    await boris.send("/daily")
    assert "Серия: 4 дня подряд" in boris.last_reply().text
    await boris.send("/daily")
    already = boris.last_reply().text
    assert "Сегодня вы уже отметились" in already and "через 15 часов" in already
    clock.advance(days=2)  # a missed day
    await boris.send("/daily")
    text = boris.last_reply().text
    assert "Серия: 1 день подряд" in text and "получаете 10 монет и 20 баллов" in text


async def test_day_boundary_is_midnight_in_the_programme_zone(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    # 09:00 UTC is 17:00 in Shanghai: the next programme day starts at 16:00 UTC.
    async with running(make_config(timezone="Asia/Shanghai"), tmp_path, clock, emu) as store:
        ann = emu.user(1001, "Ann", language_code="en")
        await linked(store, ann)
        await ann.send("/daily")
        clock.set(datetime(2026, 3, 10, 15, 59, tzinfo=UTC))
        await ann.send("/daily")
        assert "opens 11 Mar 2026, 00:00 (in 1 minute)" in ann.last_reply().text
        clock.set(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))
        await ann.send("/daily")
        text = ann.last_reply().text
        assert "Checked in!" in text and "Streak: 2 days in a row" in text
        assert (await members.view(store, "m-1")).coins == 20


async def test_same_instants_are_one_day_in_utc(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await ann.send("/daily")
    clock.set(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))
    await ann.send("/daily")
    assert "already checked in" in ann.last_reply().text
    assert "opens 11 Mar 2026, 00:00 (in 8 hours)" in ann.last_reply().text


async def test_a_level_change_from_the_check_in_is_mentioned(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await delivered_order(bot_store, "m-1", 8_500)  # 85 + 5 points: A1
    await ann.send("/daily")  # +20: 110 points, A2
    assert "Your level is now A2!" in ann.last_reply().text
    assert (await members.view(bot_store, "m-1")).tier.code == "A2"
    await ann.send("/daily")
    assert "level" not in ann.last_reply().text


async def test_menu_button_and_a_double_tap_claim_once(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    menu = ann.last_reply()
    answers = await asyncio.gather(
        ann.press("📅 Daily check-in", message=menu), ann.press("📅 Daily check-in", message=menu)
    )
    assert all(a is not None for a in answers)
    assert (await members.view(bot_store, "m-1")).coins == 10
    text = ann.last_reply().text
    assert ann.last_reply().message_id == menu.message_id  # the menu was edited in place
    assert "Checked in!" in text or "already checked in" in text


async def test_wrong_input_around_the_check_in(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await ann.send("/daily")
    claimed = ann.last_reply()
    # Text where a button was expected: the FAQ answers, nothing is claimed again.
    await ann.send("yes please")
    assert "not sure I understood" in ann.last_reply().text
    answer = await ann.press_data("nav:daily:again", message=claimed)
    assert answer is not None and "no longer active" in answer.text
    await ann.send("/daily extra words")
    assert "already checked in" in ann.last_reply().text
    assert (await members.view(bot_store, "m-1")).coins == 10


async def test_vip_shop_has_no_daily_check_in(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config("vip-shop"), tmp_path, clock, emu) as store:
        vera = emu.user(2001, "Vera", language_code="en")
        vlad = emu.user(2002, "Влад", language_code="ru")
        await linked(store, vera, "v-1")
        await linked(store, vlad, "v-2")
        await vera.send("/daily")
        assert "This programme has no daily check-in" in vera.last_reply().text
        assert "coin" not in vera.last_reply().text
        await vlad.send("/daily")
        assert "В этой программе нет ежедневной отметки" in vlad.last_reply().text
        view = await members.view(store, "v-1")
        assert (view.points, view.coins, view.last_claim_day) == (0, 0, None)


async def test_tomorrow_follows_the_configured_schedule(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    program = {"preset": "marketplace", "earning": {"daily_checkin_points": 0},
               "coins": {"streak": [3, 40]}}  # fmt: skip
    async with running(make_config(program=program), tmp_path, clock, emu) as store:
        ann = emu.user(1001, "Ann", language_code="en")
        await linked(store, ann)
        await ann.send("/daily")
        text = ann.last_reply().text
        assert "Today you get 3 coins." in text and "Tomorrow's check-in: 40 coins" in text
        assert "point" not in text.split("Balance")[0]
        clock.advance(timedelta(days=1))
        await ann.send("/daily")
        assert "Tomorrow's check-in: 40 coins" in ann.last_reply().text
