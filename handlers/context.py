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
    """One per update: the gate fills `profile` before any feature handler runs.

    The language and the services are looked up once per update: a screen asks for tens of
    texts, and each would otherwise work the language out again.
    """

    _profile: Profile | None = None
    _telegram_language: str | None = None
    _lang: str | None = None
    _services: Services | None = None

    @property
    def profile(self) -> Profile | None:
        """Return the profile of the user who sent the update (set by the gate)."""
        return self._profile

    @profile.setter
    def profile(self, value: Profile | None) -> None:
        self._profile, self._lang = value, None  # a new profile may bring a new language

    @property
    def telegram_language(self) -> str | None:
        """Return the language Telegram reports for the user."""
        return self._telegram_language

    @telegram_language.setter
    def telegram_language(self, value: str | None) -> None:
        self._telegram_language, self._lang = value, None

    @property
    def services(self) -> Services:
        """Return the application's services."""
        if self._services is None:
            self._services = self.bot_data[SERVICES_KEY]
        return self._services

    @property
    def store(self) -> Store:
        """Return the store."""
        return self.services.store

    @property
    def member_id(self) -> str | None:
        """Return the linked member of the user who sent the update, or None."""
        return self._profile.member_id if self._profile else None

    @property
    def lang(self) -> str:
        """Return the user's language: their choice, else Telegram's if supported, else default."""
        if self._lang is None:
            chosen = self._profile.language if self._profile else None
            self._lang = choose_language(
                chosen, self._telegram_language, self.services.default_language
            )
        return self._lang

    def t(self, key: str, **values: Any) -> Html:
        """Return a text in the user's language."""
        return self.services.texts.text(key, self.lang, **values)

    def tp(self, key: str, count: int, **values: Any) -> Html:
        """Return a counted text (plural form) in the user's language."""
        return self.services.texts.plural(key, count, self.lang, **values)
