"""/settings: language, and per-kind reminders (on / silent / off), reminder time, quiet hours.

Everything is set with buttons. Settings belong to the Telegram user, so an unlinked user can
still pick a language; reminders need a linked account. Callback data carries the value to
set (never a toggle), so a double tap or a stale button sets the same thing again.
"""

from __future__ import annotations

from typing import Literal

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import LANGUAGES, Html, join
from handlers.context import BotContext
from handlers.formatting import clock_time
from handlers.menu import link_keyboard, member_or_prompt
from handlers.ui import Row, answer_query, button, keyboard, reply
from loyalty.reminders import CATEGORIES, in_quiet_hours
from storage import reminder_settings, telegram_users
from storage.reminder_settings import Settings

HOUR = r"([01]?\d|2[0-3])"
NEXT_MODE = {"on": "silent", "silent": "off", "off": "on"}


def _zone(context: BotContext) -> str:
    return str(context.store.program.timezone)


def _hour_label(hour: int) -> str:
    return clock_time(hour * 60)


def _quiet_text(context: BotContext, settings: Settings) -> Html:
    start, end = settings.quiet(context.services.reminders)
    if start == end:
        return context.t("settings.quiet_none")
    return context.t("settings.quiet", start=clock_time(start), end=clock_time(end))


def hour_warning(context: BotContext, settings: Settings) -> Html | None:
    """Say what happens to reminders when their hour falls inside the quiet hours, else None.

    They wait for the quiet hours' end; a check-in reminder that would wait into the next day
    is dropped (it would be about a day that is over), as the sender does.
    """
    policy = context.services.reminders
    hour = settings.reminder_hour(policy)
    start, end = settings.quiet(policy)
    if not in_quiet_hours(hour * 60, start, end):
        return None
    key = "settings.hour_in_quiet" if end > hour * 60 else "settings.hour_in_quiet_overnight"
    return context.t(key, time=_hour_label(hour), end=clock_time(end))


def _language_row(context: BotContext) -> Row:
    return [
        button(("✓ " if context.lang == code else "") + context.t(f"settings.lang_{code}"),
               f"set:lang:{code}")
        for code in LANGUAGES
    ]  # fmt: skip


def render(context: BotContext, settings: Settings) -> tuple[Html, InlineKeyboardMarkup]:
    """Return the settings screen and its keyboard."""
    t, policy = context.t, context.services.reminders
    language = t(f"settings.lang_{context.lang}")
    lines = [t("settings.title"), Html(""), t("settings.language", name=language)]
    if context.member_id is None:
        lines += [Html(""), t("settings.not_linked")]
        markup = link_keyboard(context)
        return join(lines), keyboard(_language_row(context), *map(list, markup.inline_keyboard))
    lines += [
        t("settings.hour", time=_hour_label(settings.reminder_hour(policy))),
        _quiet_text(context, settings),
        *filter(None, [hour_warning(context, settings)]),
        t("settings.zone", zone=_zone(context)),
        Html(""),
        t("settings.reminders"),
    ]
    rows: list[Row] = [_language_row(context)]
    for category in CATEGORIES:
        mode = settings.modes[category]
        kind, shown = t(f"settings.kind_{category}"), t(f"settings.mode_{mode}")
        lines.append(t("settings.line", kind=kind, mode=shown))
        rows.append([button(f"{kind}: {shown}", f"set:rem:{category}:{NEXT_MODE[mode]}")])
    lines += [Html(""), t("settings.modes_hint")]
    if settings.paused:
        lines += [Html(""), t("settings.paused")]
    start, end = settings.quiet(policy)
    quiet = "–".join((clock_time(start), clock_time(end))) if start != end else "—"
    rows.append(
        [
            button("⏰ " + _hour_label(settings.reminder_hour(policy)), "set:hours"),
            button("🌙 " + quiet, "set:quiet"),
        ]
    )
    rows.append(
        [button(t("settings.resume"), "set:all:on")]
        if settings.paused
        else [button(t("settings.pause"), "set:all:off")]
    )
    rows.append([button(t("menu.back"), "nav:me")])
    return join(lines), keyboard(*rows)


async def _show(update: Update, context: BotContext) -> None:
    assert update.effective_user is not None
    settings = await reminder_settings.read(context.store, update.effective_user.id)
    text, markup = render(context, settings)
    await reply(update, context, text, markup)


async def show(update: Update, context: BotContext) -> None:
    """Show the settings screen (/settings or the menu button)."""
    await answer_query(update)
    await _show(update, context)


async def set_language(update: Update, context: BotContext) -> None:
    """Switch the language (linked or not) and show the screen again in it."""
    assert update.effective_user is not None and context.matches
    language = context.matches[0].group(1)
    await answer_query(update, context.services.texts.text("settings.saved", language))
    user_id = update.effective_user.id
    await telegram_users.update(context.store, user_id, language=language)
    # Answer in the language just chosen: reload the profile the gate loaded.
    context.profile = await telegram_users.profile(context.store, user_id)
    await _show(update, context)


async def _linked_user(update: Update, context: BotContext, *, saved: bool) -> int | None:
    """Answer the button; return the user id of a linked member, or explain how to link."""
    if context.member_id is None:
        await answer_query(update)
        await member_or_prompt(update, context)
        return None
    await answer_query(update, context.t("settings.saved") if saved else None)
    assert update.effective_user is not None
    return update.effective_user.id


async def set_mode(update: Update, context: BotContext) -> None:
    """Set one kind of reminder on, silent or off."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=True)
    if user_id is not None:
        mode = (context.matches[0].group(1), context.matches[0].group(2))
        await reminder_settings.change(context.store, user_id, mode=mode)
        await _show(update, context)


async def set_paused(update: Update, context: BotContext) -> None:
    """Pause or resume every reminder and notice."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=True)
    if user_id is not None:
        paused = context.matches[0].group(1) == "off"
        await reminder_settings.change(context.store, user_id, paused=paused)
        await _show(update, context)


def _hour_grid(prefix: str, selected: int | None) -> list[Row]:
    return [
        [
            button(("✓" if hour == selected else "") + _hour_label(hour), f"{prefix}:{hour}")
            for hour in range(first, first + 6)
        ]
        for first in range(0, 24, 6)
    ]


def _back(context: BotContext, data: str = "nav:settings") -> Row:
    return [button(context.t("settings.back"), data)]


async def hours(update: Update, context: BotContext) -> None:
    """Offer the reminder hours."""
    user_id = await _linked_user(update, context, saved=False)
    if user_id is None:
        return
    settings = await reminder_settings.read(context.store, user_id)
    policy = context.services.reminders
    hour = settings.reminder_hour(policy)
    lines = [context.t("settings.hour_title", zone=_zone(context))]
    warning = hour_warning(context, settings)
    if warning is not None:
        lines += [Html(""), warning]
    markup = keyboard(*_hour_grid("set:hour", hour), _back(context))
    await reply(update, context, join(lines), markup)


async def set_hour(update: Update, context: BotContext) -> None:
    """Set the reminder hour, then show the settings."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=True)
    if user_id is not None:
        hour = int(context.matches[0].group(1))
        await reminder_settings.change(context.store, user_id, hour=hour)
        await _show(update, context)


async def quiet(update: Update, context: BotContext) -> None:
    """Show the quiet hours and how to change them."""
    user_id = await _linked_user(update, context, saved=False)
    if user_id is not None:
        await _quiet_screen(update, context, await reminder_settings.read(context.store, user_id))


async def _quiet_screen(update: Update, context: BotContext, settings: Settings) -> None:
    t, policy = context.t, context.services.reminders
    start, end = settings.quiet(policy)
    lines = [
        t("settings.quiet_title", zone=_zone(context)),
        Html(""),
        _quiet_text(context, settings),
    ]
    default = t(
        "settings.quiet_default",
        start=clock_time(policy.quiet_start),
        end=clock_time(policy.quiet_end),
    )
    rows: list[Row] = []
    if start != end:
        rows.append(
            [
                button(t("settings.quiet_start", time=clock_time(start)), "set:qs"),
                button(t("settings.quiet_end", time=clock_time(end)), "set:qe"),
            ]
        )
        rows.append([button(t("settings.quiet_off"), "set:quiet:off")])
    if (settings.quiet_start, settings.quiet_end) != (None, None):
        rows.append([button(default, "set:quiet:default")])
    await reply(update, context, join(lines), keyboard(*rows, _back(context)))


async def quiet_pick(update: Update, context: BotContext) -> None:
    """Offer the hours for one end of the quiet hours."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=False)
    if user_id is None:
        return
    which = context.matches[0].group(1)
    settings = await reminder_settings.read(context.store, user_id)
    start, end = settings.quiet(context.services.reminders)
    current = (start if which == "qs" else end) // 60
    title = context.t("settings.pick_start" if which == "qs" else "settings.pick_end")
    markup = keyboard(*_hour_grid(f"set:{which}", current), _back(context, "set:quiet"))
    await reply(update, context, title, markup)


async def set_quiet_end(update: Update, context: BotContext) -> None:
    """Set the start or the end of the quiet hours, then show them."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=True)
    if user_id is None:
        return
    which, minute = context.matches[0].group(1), int(context.matches[0].group(2)) * 60
    start, end = (minute, None) if which == "qs" else (None, minute)  # None: left as it is
    settings = await reminder_settings.change(
        context.store,
        user_id,
        policy=context.services.reminders,
        quiet_start=start,
        quiet_end=end,
    )
    await _quiet_screen(update, context, settings)


async def set_quiet(update: Update, context: BotContext) -> None:
    """Turn quiet hours off, or back to the default."""
    assert context.matches
    user_id = await _linked_user(update, context, saved=True)
    if user_id is None:
        return
    choice: Literal["off", "default"] = "off" if context.matches[0].group(1) == "off" else "default"
    settings = await reminder_settings.change(context.store, user_id, quiet=choice)
    await _quiet_screen(update, context, settings)


def register(app: Application, group: int) -> None:
    """Add /settings and its buttons."""
    app.add_handler(CommandHandler("settings", show), group)
    patterns = {
        r"^nav:settings$": show,
        r"^set:lang:(en|ru)$": set_language,
        r"^set:rem:(daily|expiry|burn|account):(on|silent|off)$": set_mode,
        r"^set:all:(on|off)$": set_paused,
        r"^set:hours$": hours,
        rf"^set:hour:{HOUR}$": set_hour,
        r"^set:quiet$": quiet,
        r"^set:(qs|qe)$": quiet_pick,
        rf"^set:(qs|qe):{HOUR}$": set_quiet_end,
        r"^set:quiet:(off|default)$": set_quiet,
    }
    for pattern, callback in patterns.items():
        app.add_handler(CallbackQueryHandler(callback, pattern=pattern), group)
