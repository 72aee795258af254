"""The shop API as a Starlette app: routes, middleware and error rendering, built per store."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Match, Route
from starlette.types import Scope

from bot.api.context import ApiContext, TelegramWebhook
from bot.api.errors import (
    ApiError,
    on_api_error,
    on_http_exception,
    on_operation_error,
    on_unexpected,
)
from bot.api.limits import (
    CONNECTOR_MAX_BODY,
    CONNECTOR_PREFIX,
    DEFAULT_READ_TIMEOUT,
    BearerAuth,
    RequestLimits,
)
from bot.api.metrics import ApiMetrics, Observe
from bot.api.routes import checkout, coupons, events, members, system
from bot.config import Config
from bot.connectors import webhooks
from bot.connectors.webhooks import Connectors
from bot.web.context import WebContext
from bot.web.initdata import secret_key
from bot.web.routes import ROUTES as WEB_ROUTES
from handlers.catalogue import Catalogue
from storage.errors import OperationError
from storage.store import Store

ROUTES = [
    Route("/api/v1/events", events.post_event, methods=["POST"]),
    Route("/api/v1/members/{member_id}", members.get_member, methods=["GET"]),
    Route("/api/v1/members/{member_id}/link-token", members.post_link_token, methods=["POST"]),
    Route("/api/v1/checkout/quote", checkout.post_quote, methods=["POST"]),
    Route("/api/v1/checkout/holds", checkout.post_hold, methods=["POST"]),
    Route("/api/v1/checkout/holds/{hold_id}/capture", checkout.post_capture, methods=["POST"]),
    Route("/api/v1/checkout/holds/{hold_id}/release", checkout.post_release, methods=["POST"]),
    Route("/api/v1/coupons/{code}", coupons.get_coupon, methods=["GET"]),
    Route("/api/v1/coupons/{code}/redeem", coupons.post_redeem, methods=["POST"]),
    Route("/api/v1/openapi.json", system.get_openapi, methods=["GET"]),
    Route("/healthz", system.get_health, methods=["GET"]),
    Route("/metrics", system.get_metrics, methods=["GET"]),
    Route("/telegram/webhook", system.post_telegram_webhook, methods=["POST"]),
    Route("/connectors/woocommerce", webhooks.post_woocommerce, methods=["POST"]),
    Route("/connectors/shopify", webhooks.post_shopify, methods=["POST"]),
]
# The card and the console are served by the same app, but they are not the shop API: they are
# not in its OpenAPI document (ROUTES is), and the bearer key does not guard them.
ALL_ROUTES = [*ROUTES, *WEB_ROUTES]
_TEMPLATES: dict[object, str] = {route.endpoint: route.path for route in ALL_ROUTES}


def route_template(scope: Scope) -> str | None:
    """Return the template of the route `scope` was for (None when no route fits its path).

    Requests answered before routing (401, 413, 408) are matched here, so that they are
    counted under their route too.
    """
    template = _TEMPLATES.get(scope.get("endpoint"))
    if template is None:
        for route in ALL_ROUTES:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return route.path
    return template


def build_api(
    config: Config,
    store: Store,
    *,
    api_key: str,
    bot_username: str | Callable[[], str],
    telegram_webhook: TelegramWebhook | None = None,
    webhook_secret: str | None = None,
    telegram: Callable[[], str] | None = None,
    metrics_registry: CollectorRegistry | None = None,
    read_timeout: float = DEFAULT_READ_TIMEOUT,
    connectors: Connectors | None = None,
    bot_token: str = "",
    session_secret: bytes | None = None,
    texts: Catalogue | None = None,
) -> Starlette:
    """Return the shop API for `store`: every endpoint of INTERFACES.md section 3.

    `api_key` is the shop's bearer key. `bot_username` (or a callable giving it once known)
    makes link-token URLs (empty: link tokens answer 503). `telegram` gives the bot's link
    state for /healthz (`bot.telegram_link`; None: this process runs no bot).
    `telegram_webhook`, an `async (update: dict) -> None`, takes Telegram
    updates at POST /telegram/webhook, checked against `webhook_secret` (without it the route
    answers 404). Metrics go to `metrics_registry` (default: a fresh registry of this app).
    `connectors` (default: built from `[connectors.*]`, secrets from the environment) serve
    the platforms' webhooks at /connectors/woocommerce and /connectors/shopify.

    The member's card (/app/) checks Telegram's initData with `bot_token` (empty: the card
    answers 503); the console (/console/) signs its cookies with `session_secret` (None: a
    random one, so sessions end with the process). The console's overview shows `telegram`'s
    state too.
    """
    if telegram_webhook is not None and not webhook_secret:
        raise ValueError("a Telegram webhook needs a secret token")
    metrics = ApiMetrics(metrics_registry)
    context = ApiContext(
        store=store,
        api_key=api_key,
        username_of_bot=bot_username if callable(bot_username) else lambda: bot_username,
        link_ttl=timedelta(minutes=config.server.link_token_minutes),
        metrics=metrics,
        link_tokens_per_hour=config.server.link_tokens_per_hour,
        hold_lifetime=timedelta(minutes=config.server.hold_minutes),
        telegram_webhook=telegram_webhook,
        webhook_secret=webhook_secret,
        telegram=telegram,
    )
    # Outermost first: every answer (401, 413, 408 included) is counted and logged once.
    middleware = [
        Middleware(Observe, metrics=metrics, route_of=route_template),
        Middleware(BearerAuth, api_key=api_key),
        Middleware(
            RequestLimits,
            max_body_bytes=config.server.max_body_bytes,
            body_timeout=read_timeout,
            larger={CONNECTOR_PREFIX: max(CONNECTOR_MAX_BODY, config.server.max_body_bytes)},
        ),
    ]
    app = Starlette(
        routes=ALL_ROUTES,
        middleware=middleware,
        exception_handlers={
            ApiError: on_api_error,
            OperationError: on_operation_error,
            HTTPException: on_http_exception,
            Exception: on_unexpected,
        },
    )
    # An API answers the URL it was given: no 307 to the path without a trailing slash.
    app.router.redirect_slashes = False
    app.state.api = context
    if connectors is None and config.connectors.any_enabled:
        connectors = Connectors.build(config.connectors, store.program.currency, metrics.registry)
    app.state.connectors = connectors
    app.state.web = WebContext(
        store=store,
        texts=texts or Catalogue.load(),
        default_language=config.bot.default_language,
        init_key=secret_key(bot_token) if bot_token else None,
        init_max_age=timedelta(seconds=config.web.init_data_max_age_seconds),
        session_secret=session_secret or secrets.token_bytes(32),
        session_ttl=timedelta(hours=config.web.session_hours),
        admin_ids=frozenset(config.support.admin_ids),
        secure_cookies=config.web.public_url.startswith("https://"),
        connectors=tuple(
            name
            for name, section in (
                ("woocommerce", config.connectors.woocommerce),
                ("shopify", config.connectors.shopify),
            )
            if section.enabled
        ),
    )
    return app
