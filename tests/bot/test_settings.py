"""/settings: language (linked or not), per-kind reminder modes, reminder hour, quiet hours."""

from __future__ import annotations

import pytest

from storage import reminder_settings
from storage.store import Store
from telegram_emulator import Person
from tests.bot.conftest import linked

DEFAULT_MODES = {"daily": "on", "expiry": "on", "burn": "on", "account": "on"}


async def test_settings_show_the_defaults_and_switch_the_language(
    ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await ann.press("⚙️ Settings")  # the main menu's button
    text = ann.last_reply().text
    assert "🌐 Language: English" in text
    assert "⏰ Reminder time: 19:00" in text
    assert "🌙 Quiet hours: 22:00–08:00" in text
    assert "Times are in UTC." in text
    for line in ("📅 Daily check-in: 🔔 on", "⏳ Coupons expiring: 🔔 on",
                 "🔥 Yearly coupon burn: 🔔 on", "💰 Points and level news: 🔔 on"):  # fmt: skip
        assert line in text
    assert ann.last_reply().button_labels[:2] == ["✓ English", "Русский"]
    answer = await ann.press("Русский")
    assert answer is not None and answer.text == "Сохранено"
    assert "🌐 Язык: Русский" in ann.last_reply().text
    assert ann.last_reply().button_labels[:2] == ["English", "✓ Русский"]
    await ann.send("/me")
    assert "ваш аккаунт" in ann.last_reply().text  # the choice outlives the screen


async def test_the_default_language_is_telegrams(boris: Person, bot_store: Store) -> None:
    await linked(bot_store, boris, "m-2")
    await boris.send("/settings")
    reply = boris.last_reply()
    assert "🌐 Язык: Русский" in reply.text and "📅 Ежедневная отметка: 🔔 вкл." in reply.text
    assert reply.button_labels[:2] == ["English", "✓ Русский"]
    await boris.press("English")
    assert "🌐 Language: English" in boris.last_reply().text


async def test_an_unlinked_user_can_still_choose_the_language(emu, app, bot_store: Store) -> None:
    stranger = emu.user(1500, "Sam", language_code="de")  # unsupported: the default, English
    await stranger.send("/settings")
    reply = stranger.last_reply()
    assert "🌐 Language: English" in reply.text
    assert "once your shop account is connected" in reply.text
    assert "Daily check-in" not in reply.text
    assert reply.button_labels[:2] == ["✓ English", "Русский"]
    await stranger.press("Русский")
    assert "после подключения аккаунта магазина" in stranger.last_reply().text
    # A forged reminder button from someone without an account changes nothing.
    await stranger.press_data("set:rem:daily:off")
    assert "не подключён" in stranger.last_reply().text
    assert (await reminder_settings.read(bot_store, stranger.id)).modes == DEFAULT_MODES


async def test_a_reminder_cycles_on_silent_off_and_a_double_tap_is_harmless(
    ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await ann.send("/settings")
    await ann.press("📅 Daily check-in: 🔔 on")
    assert "📅 Daily check-in: 🔕 silent" in ann.last_reply().text
    await ann.press("📅 Daily check-in: 🔕 silent")
    assert "📅 Daily check-in: ✖️ off" in ann.last_reply().text
    stale = ann.last_reply()
    await ann.press("📅 Daily check-in: ✖️ off")
    assert (await reminder_settings.read(bot_store, ann.id)).modes["daily"] == "on"
    # The old screen's button carries the value it sets, not a toggle: pressing it twice
    # sets "on" twice.
    await ann.press_data("set:rem:daily:on", message=stale)
    await ann.press_data("set:rem:daily:on", message=stale)
    await ann.press("🔥 Yearly coupon burn: 🔔 on")
    settings = await reminder_settings.read(bot_store, ann.id)
    assert settings.modes == {**DEFAULT_MODES, "burn": "silent"}


async def test_the_reminder_hour_is_picked_from_a_grid(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await ann.send("/settings")
    await ann.press("⏰ 19:00")
    grid = ann.last_reply()
    assert "When should reminders come?" in grid.text
    assert len(grid.button_labels) == 25 and "✓19:00" in grid.button_labels
    await ann.press("07:00")
    assert "⏰ Reminder time: 07:00" in ann.last_reply().text
    assert (await reminder_settings.read(bot_store, ann.id)).hour == 7
    await ann.press("⏰ 07:00")
    await ann.press("23:00")
    # Said at once, on the screen the choice returns to, and true to what the sender does.
    saved = ann.last_reply().text
    assert "⏰ Reminder time: 23:00" in saved
    assert "23:00 is inside your quiet hours, which end only the next morning at 08:00" in saved
    assert "the check-in reminder would be about a day that is over, so it is not sent" in saved
    await ann.press("⏰ 23:00")
    assert "23:00 is inside your quiet hours, which end" in ann.last_reply().text
    await ann.press("06:00")
    assert "06:00 is inside your quiet hours: reminders will come at 08:00" in (
        ann.last_reply().text
    )
    await ann.press("⏰ 06:00")
    await ann.press("09:00")
    assert "quiet hours:" not in ann.last_reply().text.replace("Quiet hours:", "")


async def test_quiet_hours_are_set_end_by_end_or_turned_off(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await ann.send("/settings")
    await ann.press("🌙 22:00–08:00")
    assert "Nothing is sent between these times" in ann.last_reply().text
    await ann.press("From 22:00")
    await ann.press("23:00")
    assert "🌙 Quiet hours: 23:00–08:00" in ann.last_reply().text
    await ann.press("Until 08:00")
    await ann.press("06:00")
    assert "🌙 Quiet hours: 23:00–06:00" in ann.last_reply().text
    assert (await reminder_settings.read(bot_store, ann.id)).quiet_start == 23 * 60
    await ann.press("No quiet hours")
    assert "🌙 Quiet hours: none" in ann.last_reply().text
    await ann.press("Default (22:00–08:00)")
    settings = await reminder_settings.read(bot_store, ann.id)
    assert (settings.quiet_start, settings.quiet_end) == (None, None)
    await ann.press("« Settings")
    assert "🌙 Quiet hours: 22:00–08:00" in ann.last_reply().text


async def test_everything_can_be_paused_and_resumed(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await ann.send("/settings")
    await ann.press("⏸ Pause all")
    assert "All reminders and notices are paused." in ann.last_reply().text
    assert (await reminder_settings.read(bot_store, ann.id)).paused
    await ann.press("▶️ Resume all")
    assert "paused" not in ann.last_reply().text
    assert not (await reminder_settings.read(bot_store, ann.id)).paused


@pytest.mark.parametrize(
    "data",
    ["set:hour:24", "set:hour:7x", "set:rem:daily:loud", "set:rem:coins:on", "set:lang:de",
     "set:qs:99", "set:quiet:never", "set:all:maybe"],
)  # fmt: skip
async def test_forged_settings_buttons_change_nothing(
    ann: Person, bot_store: Store, data: str
) -> None:
    await linked(bot_store, ann)
    await ann.send("/settings")
    before = await reminder_settings.read(bot_store, ann.id)
    answer = await ann.press_data(data)
    assert answer is not None and "no longer active" in (answer.text or "")
    assert await reminder_settings.read(bot_store, ann.id) == before
