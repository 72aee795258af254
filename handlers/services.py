"""What handlers need at run time: the store, the texts and the settings from configuration.

`bot/` builds these from the config file; handlers never read configuration themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from handlers.catalogue import Catalogue
from loyalty.hours import BusinessHours
from loyalty.reminders import ReminderPolicy
from storage.store import Store

T = TypeVar("T")


@dataclass(frozen=True)
class ShopLinks:
    """The shop's own pages the bot points members to."""

    name: str
    account_url: str
    signup_url: str

    def signup_link(self, code: str) -> str:
        """Return the sign-up URL carrying an invite code."""
        return self.signup_url.replace("{code}", code)


@dataclass(frozen=True)
class SupportSettings:
    """Live chat with agents: their forum supergroup, admins, language, hours and canned answers."""

    agent_chat_id: int = 0
    admin_ids: frozenset[int] = frozenset()
    language: str = "en"  # agent-facing texts
    sla_minutes: int = 30
    hours: BusinessHours | None = None  # None: always open
    canned: Mapping[str, str] = field(default_factory=dict)
    # A member writing this soon after a ticket closed is still talking to support: it opens a
    # new ticket linked to the old one. Later, free text goes back to the FAQ.
    follow_up: timedelta = timedelta(hours=24)

    @property
    def enabled(self) -> bool:
        """Tell whether an agent chat is configured."""
        return self.agent_chat_id != 0

    @property
    def sla(self) -> timedelta:
        """Return how long a first answer may take (working time)."""
        return timedelta(minutes=self.sla_minutes)


@dataclass
class Services:
    """Long-lived objects shared by every handler, kept in `application.bot_data`."""

    store: Store
    texts: Catalogue
    shop: ShopLinks
    default_language: str = "en"
    bot_username: str = ""
    support: SupportSettings = field(default_factory=SupportSettings)
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    extras: dict[str, object] = field(default_factory=dict)
    # What handlers build from the programme and the texts alone (keyboards, FAQ answers), by
    # key: neither changes while the bot runs, and PTB's keyboard objects are immutable.
    rendered: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)

    def once(self, key: Hashable, build: Callable[[], T]) -> T:
        """Return what `build` made for `key` the first time (the key names all it reads)."""
        try:
            return self.rendered[key]
        except KeyError:
            value = self.rendered[key] = build()
            return value

    def invite_link(self, code: str) -> str:
        """Return a member's t.me invite link for referral code `code`."""
        return deep_link(self.bot_username, f"ref_{code}")


def deep_link(username: str, payload: str) -> str:
    """Return the t.me deep link that opens the bot with a /start payload (handlers/start.py)."""
    return f"https://t.me/{username}?start={payload}"
