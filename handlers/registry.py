"""Every handler in its group: the gate first, then the features, then the fallbacks."""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, TypeHandler

from handlers import (
    agents,
    console,
    coupons,
    daily,
    fallback,
    help,
    history,
    me,
    settings,
    start,
    support,
)
from handlers.catalogue import LANGUAGES, Catalogue
from handlers.errors import on_error
from handlers.gate import load_profile
from storage.logs import kv

log = logging.getLogger(__name__)

# Group order is policy (a lower group always runs first):
# - AGENT_GROUP: the agent chat's handlers, filtered to `support.agent_chat_id` alone; each one
#   stops the update once handled. They need no member profile, so they come before the gate.
# - GROUP_CHATS_GATE: every other update from a group or channel stops here (a stranger group,
#   or what no agent handler took): member features are private-chat only, so a /me typed in
#   a group never shows a balance there, and no other group's message counts as an agent's.
# - GATE_GROUP loads who wrote before any member handler runs.
# - RELAY_GROUP: a member message that belongs to a support ticket goes to the agents and stops
#   here, so the FAQ's free-text handler in the feature group does not answer it as well.
# - FEATURE_GROUP: all member features share one group so that exactly one answers, and the
#   fallbacks are added last to it so they only see what no feature claimed.
AGENT_GROUP = -20
GROUP_CHATS_GATE = -19
GATE_GROUP = -10
RELAY_GROUP = -5
FEATURE_GROUP = 0
FEATURES = (start, me, coupons, daily, history, help, settings, support, console)
COMMANDS = ("start", "me", "coupons", "daily", "history", "support", "settings", "help", "unlink")


def register(app: Application) -> None:
    """Add every handler and the error handler to the application."""
    agents.register(app, AGENT_GROUP)
    app.add_handler(TypeHandler(Update, agents.ignore_other_chats), GROUP_CHATS_GATE)
    app.add_handler(TypeHandler(Update, load_profile), GATE_GROUP)
    support.register_relay(app, RELAY_GROUP)
    for feature in FEATURES:
        feature.register(app, FEATURE_GROUP)
    # Free text answers whatever plain message no feature claimed (a feature that takes text,
    # such as a live-chat reply, must be registered before it), and the fallbacks stay last.
    help.register_free_text(app, FEATURE_GROUP)
    fallback.register(app, FEATURE_GROUP)
    app.add_error_handler(on_error)


def menu_commands(texts: Catalogue, language: str) -> list[BotCommand]:
    """Return the command menu in one language."""
    return [BotCommand(name, texts.text(f"commands.{name}", language)) for name in COMMANDS]


async def set_admin_commands(
    app: Application, texts: Catalogue, admin_ids: tuple[int, ...]
) -> None:
    """Add /console to each admin's own command menu (once they have a chat with the bot)."""
    commands = [
        *menu_commands(texts, LANGUAGES[0]),
        BotCommand("console", texts.text("commands.console", LANGUAGES[0])),
    ]
    for admin_id in admin_ids:
        try:
            await app.bot.set_my_commands(commands, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # an admin who never wrote to the bot: no chat yet
            log.info(
                "admin commands not set",
                extra=kv(event="admin_commands_skipped", error=type(exc).__name__),
            )


async def set_commands(app: Application, texts: Catalogue) -> None:
    """Set the command menu for every language (and the default for all others)."""
    await app.bot.set_my_commands(menu_commands(texts, LANGUAGES[0]))
    for language in LANGUAGES:
        await app.bot.set_my_commands(menu_commands(texts, language), language_code=language)
