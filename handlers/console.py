"""/console for admins: a one-time sign-in link to the owner's console and its Mini App button;
the member card's Mini App entry points (the /me button and the chat's menu button)."""

from __future__ import annotations

import logging

from telegram import (
    Bot,
    InlineKeyboardButton,
    LinkPreviewOptions,
    MenuButtonWebApp,
    Update,
    WebAppInfo,
)
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler

from handlers.catalogue import DEFAULT_LANGUAGE
from handlers.context import BotContext
from handlers.services import Services
from handlers.ui import keyboard, reply
from storage import console_logins
from storage.logs import kv

log = logging.getLogger(__name__)


def card_url(services: Services) -> str | None:
    """Return the card's https address for Mini App buttons, or None without a public URL."""
    return f"{services.web_public_url}/app/" if services.web_public_url else None


def card_button(services: Services, label: str) -> InlineKeyboardButton | None:
    """Return the "card" Mini App button for /me, or None without a public URL."""
    url = card_url(services)
    return InlineKeyboardButton(label, web_app=WebAppInfo(url)) if url else None


async def set_card_menu_button(bot: Bot, services: Services) -> None:
    """Make the card every private chat's menu button, when there is a public https URL."""
    url = card_url(services)
    if url is None:
        return
    label = services.texts.text("card.menu_button", DEFAULT_LANGUAGE)
    try:
        await bot.set_chat_menu_button(menu_button=MenuButtonWebApp(label, WebAppInfo(url)))
    except TelegramError as exc:  # the bot works without it; say so where someone looks
        log.warning("menu button not set", extra=kv(event="menu_button_failed", error=str(exc)))


async def console(update: Update, context: BotContext) -> None:
    """Give an admin a one-time console link (and the Mini App button behind https)."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None:
        return
    services = context.services
    if user.id not in services.support.admin_ids:
        await reply(update, context, context.t("console.admins_only"))
        return
    if chat.type != ChatType.PRIVATE:
        await reply(update, context, context.t("console.private_only"))
        return
    login = await console_logins.create(context.store, user.id, services.console_link_ttl)
    # The token rides in the fragment: browsers never send it to a server, so neither a link
    # preview nor an access log can use it up or keep it.
    link = f"{services.web_base_url}/console/#login={login.token}"
    minutes = int(services.console_link_ttl.total_seconds() // 60)
    markup = None
    if services.web_public_url:
        app_url = f"{services.web_public_url}/console/"
        markup = keyboard(
            [InlineKeyboardButton(context.t("console.open"), web_app=WebAppInfo(app_url))]
        )
    await context.bot.send_message(
        chat.id,
        context.t("console.link", link=link, minutes=minutes),
        reply_markup=markup,
        protect_content=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    log.info("console link", extra=kv(event="console_link", admin_id=user.id))


def register(app: Application, group: int) -> None:
    """Add /console."""
    app.add_handler(CommandHandler("console", console), group)
