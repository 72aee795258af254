"""Answers for what no feature claimed: unknown commands and stale or forged buttons."""

from __future__ import annotations

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from handlers.context import BotContext
from handlers.menu import main_menu
from handlers.ui import answer_or_say, reply


async def stale_button(update: Update, context: BotContext) -> None:
    """A button whose data no feature accepts (old, or forged): say so, change nothing."""
    await answer_or_say(update, context, context.t("common.stale_button"), alert=True)


async def unknown_command(update: Update, context: BotContext) -> None:
    """An unknown /command: list what the bot understands."""
    await reply(update, context, context.t("common.unknown_command"), main_menu(context))


def register(app: Application, group: int) -> None:
    """Add the last-resort handlers (in the last group, after every feature)."""
    app.add_handler(CallbackQueryHandler(stale_button), group)
    app.add_handler(
        MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, unknown_command), group
    )
