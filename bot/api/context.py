"""What every route needs, built once per app and reached through `request.app.state.api`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request

from bot.api.metrics import LOG_FIELDS, ApiMetrics
from storage.store import Store

TelegramWebhook = Callable[[dict[str, Any]], Awaitable[None]]


class MalformedUpdate(ValueError):
    """A webhook body that is JSON but not a Telegram update (the webhook answers 400)."""


@dataclass(frozen=True)
class ApiContext:
    """The store, the settings and the collaborators of one API app."""

    store: Store
    api_key: str
    username_of_bot: Callable[[], str]  # learnt from Telegram once it answers
    link_ttl: timedelta
    metrics: ApiMetrics
    link_tokens_per_hour: int = 10
    hold_lifetime: timedelta = timedelta(days=1)
    telegram_webhook: TelegramWebhook | None = None
    webhook_secret: str | None = None
    telegram: Callable[[], str] | None = None  # the bot's link state; None: no bot here

    @property
    def bot_username(self) -> str:
        """Return the bot's username ("" while unknown)."""
        return self.username_of_bot()

    def local(self, instant: datetime) -> str:
        """Format an instant as ISO 8601 in the programme's time zone, to the second."""
        return instant.astimezone(self.store.program.timezone).isoformat(timespec="seconds")


def api(request: Request) -> ApiContext:
    """Return the context of the app serving `request`."""
    return request.app.state.api


def note(request: Request, **fields: Any) -> None:
    """Add fields to the request's log line (ids and outcomes only, never personal data)."""
    request.scope.setdefault(LOG_FIELDS, {}).update(
        (key, value) for key, value in fields.items() if value is not None
    )
