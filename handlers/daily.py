"""/daily: the check-in (coins by streak and the daily-visit points), once a programme day."""

from __future__ import annotations

from datetime import timedelta

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import Html, duration, join
from handlers.context import BotContext
from handlers.formatting import moment
from handlers.menu import member_or_prompt
from handlers.ui import answer_query, button, keyboard, reply
from storage import daily
from storage.daily import Claim
from storage.members import LevelChange

MINUTE = timedelta(minutes=1)


def amounts(context: BotContext, coins: int, points: int) -> Html:
    """Render "15 coins and 20 points", leaving out what is zero."""
    parts = []
    if coins:
        parts.append(context.tp("units.coins", coins))
    if points:
        parts.append(context.tp("units.points", points))
    if len(parts) == 2:
        return context.t("daily.and", first=parts[0], second=parts[1])
    return parts[0] if parts else context.tp("units.points", 0)


def wait(context: BotContext, delta: timedelta) -> Html:
    """Render a wait as hours and minutes, rounded up to a whole minute ("in 1 minute")."""
    return duration(context.services.texts, max(1, -(-delta // MINUTE)), context.lang)


def level_text(context: BotContext, change: LevelChange) -> Html:
    """Mention a level change the check-in caused."""
    tier = context.store.program.levels.by_code(change.new_code)
    name = tier.name if tier else change.new_code
    return context.t("daily.level_up" if change.up else "daily.level_down", level=name)


def render(context: BotContext, claim: Claim) -> Html:
    """Render a check-in: what it paid (or when the next opens), the streak, tomorrow's amount."""
    program, lang, t = context.store.program, context.lang, context.t
    coins_on = program.coins.enabled
    tomorrow = amounts(context, claim.tomorrow_coins, program.earning.daily_checkin_points)
    if claim.claimed:
        lines = [t("daily.claimed", amount=amounts(context, claim.coins, claim.points))]
    else:
        opens = moment(claim.next_claim_at, program.timezone, lang)
        lines = [
            t(
                "daily.already",
                at=opens,
                wait=wait(context, claim.next_claim_at - context.store.now()),
            )
        ]
    if coins_on:
        # The streak only changes what coins pay; points for the visit are the same every day.
        lines.append(context.tp("daily.streak", claim.streak))
    lines.append(t("daily.tomorrow", amount=tomorrow))
    if coins_on:
        lines.append(t("daily.streak_rule"))
    balance = [context.tp("units.points", claim.points_balance)]
    if coins_on:
        balance.append(context.tp("units.coins", claim.coins_balance))
    lines += [Html(""), t("daily.balance", balance=join(balance, " · "))]
    if claim.level_change is not None:
        lines += [Html(""), level_text(context, claim.level_change)]
    return join(lines)


def _keyboard(context: BotContext) -> InlineKeyboardMarkup:
    t = context.t
    rows = [[button(t("menu.me"), "nav:me"), button(t("menu.history"), "nav:history")]]
    if context.store.program.coupons.enabled:
        rows.append([button(t("menu.coupons"), "nav:coupons")])
    return keyboard(*rows)


async def check_in(update: Update, context: BotContext) -> None:
    """Claim today's check-in, or say when the next one opens."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    t = context.t
    if not daily.enabled(context.store):
        markup = keyboard([button(t("menu.me"), "nav:me"), button(t("menu.help"), "nav:help")])
        await reply(update, context, t("daily.disabled"), markup)
        return
    claim = await daily.claim(context.store, member_id)
    markup = context.services.once(("daily.keyboard", context.lang), lambda: _keyboard(context))
    await reply(update, context, render(context, claim), markup)


def register(app: Application, group: int) -> None:
    """Add /daily and its menu button."""
    app.add_handler(CommandHandler("daily", check_in), group)
    app.add_handler(CallbackQueryHandler(check_in, pattern=r"^nav:daily$"), group)
