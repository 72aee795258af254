"""Build the Telegram Application exactly as production runs it (tests swap the request)."""

from __future__ import annotations

import enum
import logging
from datetime import timedelta
from typing import Any

from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    ContextTypes,
    Defaults,
    ExtBot,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot import budget
from bot.config import Config, secret
from bot.logs import kv
from bot.ratelimit import REAL_TIME, FairRateLimiter, Timer
from bot.sender import SEND_QUEUE_KEY, SendQueue
from bot.telegram_link import TelegramStatus, WatchedRequest
from bot.updates import PerChatUpdates
from handlers.agents import set_agent_commands
from handlers.catalogue import Catalogue
from handlers.console import set_card_menu_button
from handlers.context import SERVICES_KEY, BotContext
from handlers.registry import register, set_admin_commands, set_commands
from handlers.services import Services, ShopLinks
from storage.store import Store

log = logging.getLogger(__name__)


class _Default(enum.Enum):
    """The sentinel "the bot's own rate limiter" (an enum member, so type checkers narrow it)."""

    RATE_LIMITER = enum.auto()


DEFAULT = _Default.RATE_LIMITER
TELEGRAM_STATUS_KEY = "telegram_status"


def build_services(config: Config, store: Store, texts: Catalogue | None = None) -> Services:
    """Turn configuration into what handlers need."""
    shop = config.shop
    return Services(
        store=store,
        texts=texts or Catalogue.load(),
        shop=ShopLinks(name=shop.name, account_url=shop.account_url, signup_url=shop.signup_url),
        default_language=config.bot.default_language,
        bot_username=config.telegram.bot_username,
        support=config.support,
        reminders=config.reminders.policy(),
        web_public_url=config.web.public_url,
        web_base_url=config.web.public_url or local_url(config.server.host, config.server.port),
        console_link_ttl=timedelta(minutes=config.web.login_link_minutes),
    )


def local_url(host: str, port: int) -> str:
    """Return the API server's own address, for a browser on the same machine or network."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 (a comparison)
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def build_application(
    config: Config,
    store: Store,
    request: BaseRequest | None = None,
    *,
    token: str | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | _Default | None = DEFAULT,
    status: TelegramStatus | None = None,
    timer: Timer = REAL_TIME,
    role: str = "all",
) -> Application:
    """Return the bot's Application; `request` replaces the HTTP transport (the emulator),
    `timer` the clock the bot waits on (a test's hand clock); `role` sets the part of the
    bot-wide message budget this process may use (bot/budget.py).

    Every call goes through a `WatchedRequest` that keeps `status` (a new one unless given;
    `app.bot_data[TELEGRAM_STATUS_KEY]`) up to date with what Telegram last answered.
    """
    status = status or TelegramStatus()
    # PTB's own defaults when none is given: a pool of 256 for calls, 1 for the long poll.
    calls = request or HTTPXRequest(connection_pool_size=256)
    polls = get_updates_request or request or HTTPXRequest(connection_pool_size=1)
    # ExtBot[Any]: rate_limiter() below changes the bot's type parameter (PTB's builder typing).
    builder: ApplicationBuilder[ExtBot[Any], BotContext, Any, Any, Any, Any] = (
        Application.builder()
        .token(token or secret(config.telegram.token_env, "telegram.token_env"))
        .base_url(config.telegram.base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=config.program.timezone))
        .context_types(ContextTypes(context=BotContext))
        .post_init(start_up)
        # Chats side by side, each chat's updates in order (see bot/updates.py).
        .concurrent_updates(PerChatUpdates())
    )
    builder = builder.request(WatchedRequest(calls, status)).get_updates_request(
        WatchedRequest(polls, status)
    )
    if rate_limiter is DEFAULT:
        # Telegram's own windows for everything; the fan-out paced at the configured rate and
        # always behind members' answers (see bot/ratelimit.py for why not AIORateLimiter).
        part = budget.share(config, role)
        rate_limiter = FairRateLimiter(
            bulk_per_second=part.bulk_per_second,
            overall_per_second=part.overall_per_second,
            group_per_minute=part.group_per_minute,
            timer=timer,
        )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    app.bot_data[SERVICES_KEY] = build_services(config, store)
    app.bot_data[TELEGRAM_STATUS_KEY] = status
    # What live chat says goes through the send queue, chat by chat (bot/sender.py).
    app.bot_data[SEND_QUEUE_KEY] = SendQueue(app, timer=timer)
    register(app)
    return app


async def start_up(app: Application) -> None:
    """Work done once the bot is initialised: learn its username, set the command menus.

    `post_init` runs only under run_polling/run_webhook, so tests and the service call this
    directly after `initialize()`.
    """
    services: Services = app.bot_data[SERVICES_KEY]
    if not services.bot_username:
        services.bot_username = app.bot.username
    await set_commands(app, services.texts)
    await set_agent_commands(app.bot, services)
    await set_card_menu_button(app.bot, services)
    await set_admin_commands(app, services.texts, services.support.admin_ids)
    log.info("bot started", extra=kv(event="bot_started", username=services.bot_username))
