"""What handlers need at run time: the store, the texts and the settings from configuration.

`bot/` builds these from the config file; handlers never read configuration themselves. The
[support] section's type is defined here, where its users are, and `bot/config.py` parses the
file into it: one type, its defaults written once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time, timedelta, tzinfo
from typing import Any, TypeVar

from telegram.ext import filters

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
class SupportConfig:
    """The [support] section: the agents' forum supergroup, admins, language, hours, answers."""

    agent_chat_id: int = 0
    admin_ids: tuple[int, ...] = ()
    language: str = "en"  # agent-facing texts
    sla_minutes: int = 30
    hours_start: time = time(9, 0)
    hours_end: time = time(18, 0)
    days: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri")
    canned: Mapping[str, str] = field(default_factory=dict)
    # Per member, so one cannot crowd out the rest: the agents' group takes 20 messages a
    # minute in all. More is refused and the member told; nothing accepted is dropped.
    messages_per_minute: int = 10
    tickets_per_day: int = 5

    @property
    def enabled(self) -> bool:
        """Tell whether an agent chat is configured."""
        return self.agent_chat_id != 0

    @property
    def ticket_limit(self) -> tuple[int, timedelta]:
        """Return how many tickets a member may open within how long."""
        return self.tickets_per_day, timedelta(days=1)

    @property
    def sla(self) -> timedelta:
        """Return how long a first answer may take (working time)."""
        return timedelta(minutes=self.sla_minutes)

    def hours(self, zone: tzinfo) -> BusinessHours:
        """Return when agents answer, in `zone` (the programme's time zone)."""
        return BusinessHours.from_names(self.hours_start, self.hours_end, self.days, zone)


@dataclass
class Services:
    """Long-lived objects shared by every handler, kept in `application.bot_data`."""

    store: Store
    texts: Catalogue
    shop: ShopLinks
    default_language: str
    bot_username: str  # learnt from Telegram at start-up when the config leaves it empty
    support: SupportConfig
    reminders: ReminderPolicy
    # The card and the console (bot/web): `web_public_url` is the https address Telegram
    # clients reach (Mini App buttons need it; "" = none); `web_base_url` is where a desktop
    # browser reaches the console (the public address, else the server's own).
    web_public_url: str = ""
    web_base_url: str = ""
    console_link_ttl: timedelta = timedelta(minutes=10)
    # What handlers build from the programme and the texts alone (keyboards, FAQ answers), by
    # key: neither changes while the bot runs, and PTB's keyboard objects are immutable.
    rendered: dict[Hashable, Any] = field(default_factory=dict, repr=False, compare=False)
    # The filter the agents' handlers are registered with (handlers/agents.py), so that a move
    # of the agents' chat (`follow_agent_chat`) reaches them too.
    agent_chat_filter: filters.Chat | None = field(default=None, repr=False, compare=False)

    def follow_agent_chat(self, new_chat_id: int) -> bool:
        """Use `new_chat_id` for the agents' chat from now on (Telegram upgraded the group to
        a supergroup, which has a new id); return False if it already was."""
        if not self.support.enabled or self.support.agent_chat_id == new_chat_id:
            return False
        self.support = replace(self.support, agent_chat_id=new_chat_id)
        if self.agent_chat_filter is not None:
            self.agent_chat_filter.chat_ids = {new_chat_id}
        return True

    # Wakes the send queue's sender after a send was queued (bot/sender.py sets it).
    wake_sender: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

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
