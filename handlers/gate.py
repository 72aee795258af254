"""The gate: before any feature runs, load who wrote (link, language, settings) in one read."""

from __future__ import annotations

from telegram import Update

from handlers.context import BotContext
from storage import telegram_users
from storage.telegram_users import normal_username


async def load_profile(update: Update, context: BotContext) -> None:
    """Attach the user's profile to the context; remember them if new or changed."""
    user = update.effective_user
    if user is None or user.is_bot:
        return
    store = context.store
    profile = await telegram_users.profile(store, user.id)
    context.telegram_language = user.language_code
    # Write only when something changed: most updates cost one read and no write.
    if (
        not profile.known
        or profile.unreachable
        or (user.language_code and profile.telegram_language != user.language_code)
        or profile.username != normal_username(user.username)
    ):
        await telegram_users.seen(store, user.id, user.language_code, user.username)
        profile = await telegram_users.profile(store, user.id)
    context.profile = profile
