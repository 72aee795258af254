"""Every handler in its group: the gate first, then the features, then the fallbacks."""

from __future__ import annotations

from telegram import BotCommand, Update
from telegram.ext import Application, TypeHandler

from handlers import coupons, fallback, me, settings, start
from handlers.catalogue import LANGUAGES, Catalogue
from handlers.errors import on_error
from handlers.gate import load_profile

# Group order is policy: the gate loads who wrote before any feature runs (a lower group
# always runs first); all member features share one group so that exactly one answers, and
# the fallbacks are added last to it so they only see what no feature claimed.
GATE_GROUP = -10
FEATURE_GROUP = 0
FEATURES = (start, me, coupons, settings)
COMMANDS = ("start", "me", "coupons", "daily", "history", "support", "settings", "help", "unlink")


def register(app: Application) -> None:  # type: ignore[type-arg]
    """Add every handler and the error handler to the application."""
    app.add_handler(TypeHandler(Update, load_profile), GATE_GROUP)
    for feature in FEATURES:
        feature.register(app, FEATURE_GROUP)
    fallback.register(app, FEATURE_GROUP)
    app.add_error_handler(on_error)  # type: ignore[arg-type]


def menu_commands(texts: Catalogue, language: str) -> list[BotCommand]:
    """Return the command menu in one language."""
    return [BotCommand(name, texts.text(f"commands.{name}", language)) for name in COMMANDS]


async def set_commands(app: Application, texts: Catalogue) -> None:  # type: ignore[type-arg]
    """Set the command menu for every language (and the default for all others)."""
    await app.bot.set_my_commands(menu_commands(texts, LANGUAGES[0]))
    for language in LANGUAGES:
        await app.bot.set_my_commands(menu_commands(texts, language), language_code=language)
