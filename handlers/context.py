"""The typed callback context: services, the user's profile and language, text lookup."""

from __future__ import annotations

from typing import Any

from telegram.ext import CallbackContext, ExtBot

from handlers.catalogue import Html, choose_language
from handlers.services import Services
from storage.store import Store
from storage.telegram_users import Profile

SERVICES_KEY = "services"


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """One per update: the gate fills `profile` before any feature handler runs."""

    profile: Profile | None = None
    telegram_language: str | None = None

    @property
    def services(self) -> Services:
        """Return the application's services."""
        return self.bot_data[SERVICES_KEY]  # type: ignore[no-any-return]

    @property
    def store(self) -> Store:
        """Return the store."""
        return self.services.store

    @property
    def member_id(self) -> str | None:
        """Return the linked member of the user who sent the update, or None."""
        return self.profile.member_id if self.profile else None

    @property
    def lang(self) -> str:
        """Return the user's language: their choice, else Telegram's if supported, else default."""
        chosen = self.profile.language if self.profile else None
        return choose_language(chosen, self.telegram_language, self.services.default_language)

    def t(self, key: str, **values: Any) -> Html:
        """Return a text in the user's language."""
        return self.services.texts.text(key, self.lang, **values)

    def tp(self, key: str, count: int, **values: Any) -> Html:
        """Return a counted text (plural form) in the user's language."""
        return self.services.texts.plural(key, count, self.lang, **values)
