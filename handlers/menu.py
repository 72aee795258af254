"""The main menu: buttons to every feature, shown after linking and on /start."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from handlers.context import BotContext
from handlers.ui import button, keyboard, link, reply


def main_menu(context: BotContext) -> InlineKeyboardMarkup:
    """Return the main menu keyboard in the user's language."""
    return context.services.once(("menu.main", context.lang), lambda: _main_menu(context))


def _main_menu(context: BotContext) -> InlineKeyboardMarkup:
    t = context.t
    return keyboard(
        [button(t("menu.me"), "nav:me"), button(t("menu.coupons"), "nav:coupons")],
        [button(t("menu.daily"), "nav:daily"), button(t("menu.history"), "nav:history")],
        [button(t("menu.help"), "nav:help"), button(t("menu.settings"), "nav:settings")],
    )


def link_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    """Return the keyboard that sends an unlinked user to the shop's account page."""
    return context.services.once(
        ("menu.link", context.lang),
        lambda: keyboard(
            [link(context.t("start.open_account"), context.services.shop.account_url)],
            [button(context.t("menu.help"), "nav:help")],
        ),
    )


async def member_or_prompt(update: Update, context: BotContext) -> str | None:
    """Return the linked member id; for an unlinked user, explain how to link and return None."""
    if context.member_id is not None:
        return context.member_id
    text = context.t("start.not_linked", shop=context.services.shop.name)
    await reply(update, context, text, link_keyboard(context))
    return None
