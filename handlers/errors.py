"""When a handler fails: log it with the traceback, tell the user politely in their language."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter

from handlers.agents import follow_agent_chat
from handlers.context import BotContext
from storage import telegram_users
from storage.logs import kv

log = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log the error (no personal data) and apologise to the user if there is one."""
    error = context.error
    user = update.effective_user if isinstance(update, Update) else None
    if isinstance(error, Forbidden) and user is not None:
        # The user blocked the bot: remember it so jobs skip them until they write again.
        await telegram_users.update(context.store, user.id, unreachable=True)
        log.info("user unreachable", extra=kv(event="user_unreachable", telegram_user_id=user.id))
        return
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, ChatMigrated) and follow_agent_chat(context.services, error.new_chat_id):
        # The agents' group became a supergroup with a new id (Topics turned on): what failed
        # on the old id is done again on the new one, once (the id is followed only once).
        if isinstance(update, Update):
            await context.application.process_update(update)
        return
    # BadRequest subclasses NetworkError in PTB, but a 400 is Telegram answering "no" to one
    # call: the member still deserves an apology, which is another call that can succeed.
    away = isinstance(error, (NetworkError, RetryAfter)) and not isinstance(error, BadRequest)
    if away:
        # Telegram unreachable or throttling: one line, no traceback (the bot's connection
        # state is logged where it changes), and no reply, which would fail the same way.
        log.warning(
            "handler failed: Telegram unreachable",
            extra=kv(
                event="handler_telegram_away", update_id=update_id, error=type(error).__name__
            ),
        )
        return
    log.error(
        "handler failed",
        extra=kv(event="handler_error", update_id=update_id, error=type(error).__name__),
        exc_info=error,
    )
    if not isinstance(update, Update):
        return
    chat = update.effective_chat
    if chat is None:
        return
    if update.callback_query is not None:
        try:
            await update.callback_query.answer(context.t("common.error"), show_alert=True)
            return
        except Exception:  # noqa: S110 (already answered: fall back to a message)
            pass
    try:
        await context.bot.send_message(chat.id, context.t("common.error"))
    except Exception:
        log.warning("apology failed", extra=kv(event="apology_failed", update_id=update_id))
