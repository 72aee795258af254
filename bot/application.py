"""Build the Telegram Application exactly as production runs it (tests swap the request)."""

from __future__ import annotations

import enum
import logging
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
from telegram.request import BaseRequest

from bot import budget
from bot.config import Config, secret
from bot.logs import kv
from bot.ratelimit import FairRateLimiter
from handlers.agents import set_agent_commands
from handlers.catalogue import Catalogue
from handlers.context import SERVICES_KEY, BotContext
from handlers.registry import register, set_commands
from handlers.services import Services, ShopLinks
from storage.store import Store

log = logging.getLogger(__name__)


class _Default(enum.Enum):
    """The sentinel "the bot's own rate limiter" (an enum member, so type checkers narrow it)."""

    RATE_LIMITER = enum.auto()


DEFAULT = _Default.RATE_LIMITER


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
    )


def build_application(
    config: Config,
    store: Store,
    request: BaseRequest | None = None,
    *,
    token: str | None = None,
    get_updates_request: BaseRequest | None = None,
    rate_limiter: BaseRateLimiter[Any] | _Default | None = DEFAULT,
    role: str = "all",
) -> Application:
    """Return the bot's Application; `request` replaces the HTTP transport (the emulator).

    `role` sets the part of the bot-wide message budget this process may use (bot/budget.py).
    """
    # ExtBot[Any]: rate_limiter() below changes the bot's type parameter (PTB's builder typing).
    builder: ApplicationBuilder[ExtBot[Any], BotContext, Any, Any, Any, Any] = (
        Application.builder()
        .token(token or secret(config.telegram.token_env, "telegram.token_env"))
        .base_url(config.telegram.base_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML, tzinfo=config.program.timezone))
        .context_types(ContextTypes(context=BotContext))
        .post_init(start_up)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(get_updates_request or request)
    if rate_limiter is DEFAULT:
        # Telegram's own windows for everything; the fan-out paced at the configured rate and
        # always behind members' answers (see bot/ratelimit.py for why not AIORateLimiter).
        part = budget.share(config, role)
        rate_limiter = FairRateLimiter(
            bulk_per_second=part.bulk_per_second,
            overall_per_second=part.overall_per_second,
            group_per_minute=part.group_per_minute,
        )
    if rate_limiter is not None:
        builder = builder.rate_limiter(rate_limiter)
    app = builder.build()
    app.bot_data[SERVICES_KEY] = build_services(config, store)
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
    log.info("bot started", extra=kv(event="bot_started", username=services.bot_username))
