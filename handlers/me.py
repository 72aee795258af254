"""/me: balances, level and perks, progress to the next level, today's exchanges, the burn."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import Html, join
from handlers.console import card_button
from handlers.context import BotContext
from handlers.formatting import day, moment, money, number
from handlers.menu import member_or_prompt
from handlers.ui import answer_query, button, keyboard, reply
from loyalty.program import Requirement
from storage import members
from storage.members import MemberView


def requirement_text(context: BotContext, requirement: Requirement) -> Html:
    """Describe a level requirement the member still lacks."""
    if requirement.kind == "email_verified":
        return context.t("me.needs_email")
    program = context.store.program
    amount = money(requirement.cents, program.currency, context.lang)
    return context.t("me.needs_order", amount=amount)


def render(context: BotContext, view: MemberView, name: str) -> Html:
    """Render the member's account summary."""
    program, lang, t = context.store.program, context.lang, context.t
    lines = [t("me.title", name=name), Html("")]
    lines.append(t("me.points", points=number(view.points, lang)))
    if program.coins.enabled:
        lines.append(t("me.coins", coins=number(view.coins, lang)))
    if view.points_held:
        lines.append(t("me.held", points=number(view.points_held, lang)))
    lines += [Html(""), t("me.level", level=view.tier.name)]
    perks = [t("me.perk", text=p.text_for(lang)) for p in view.tier.perks]
    if perks:
        lines += [t("me.perks"), *perks]
    if view.next is None:
        lines.append(t("me.top_level"))
    elif program.levels.basis == "points":
        lines.append(
            context.tp("me.points_to_next", view.next.points_needed, level=view.next.tier.name)
            if view.next.points_needed
            else t("me.next_ready", level=view.next.tier.name)
        )
    else:
        spend = money(view.next.spend_needed_cents, program.currency, lang)
        lines.append(
            t("me.spend_to_next", amount=spend, level=view.next.tier.name)
            if view.next.spend_needed_cents
            else t("me.next_ready", level=view.next.tier.name)
        )
    if view.next is not None:
        lines += [requirement_text(context, r) for r in view.next.missing]
    if program.coupons.enabled:
        lines += [
            Html(""),
            t(
                "me.exchanges_left",
                left=view.exchanges_left_today,
                limit=program.coupons.daily_limit,
                resets=moment(view.day_resets_at, program.timezone, lang),
            ),
        ]
        if view.next_burn_at is not None:
            lines.append(
                t("me.burn", date=day(view.next_burn_at.astimezone(program.timezone).date(), lang))
            )
    return join(lines)


async def show(update: Update, context: BotContext) -> None:
    """Show the member's account."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    view = await members.view(context.store, member_id)
    user = update.effective_user
    name = view.name or (user.first_name if user else member_id)
    markup = context.services.once(("me.keyboard", context.lang), lambda: _keyboard(context))
    await reply(update, context, render(context, view, name), markup)


def _keyboard(context: BotContext) -> InlineKeyboardMarkup:
    t, program = context.t, context.store.program
    rows = []
    if program.coupons.enabled:
        rows.append(
            [button(t("menu.coupons"), "nav:coupons"), button(t("menu.daily"), "nav:daily")]
        )
    elif program.coins.enabled or program.earning.daily_checkin_points:
        rows.append([button(t("menu.daily"), "nav:daily")])
    rows.append([button(t("menu.history"), "nav:history"), button(t("me.invite"), "nav:invite")])
    card = card_button(context.services, t("card.button"))
    if card is not None:
        rows.insert(0, [card])
    return keyboard(*rows)


def register(app: Application, group: int) -> None:
    """Add /me and its menu button."""
    app.add_handler(CommandHandler("me", show), group)
    app.add_handler(CallbackQueryHandler(show, pattern=r"^nav:me$"), group)
