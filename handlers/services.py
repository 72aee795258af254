"""What handlers need at run time: the store, the texts and the settings from configuration.

`bot/` builds these from the config file; handlers never read configuration themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from handlers.catalogue import Catalogue
from loyalty.reminders import ReminderPolicy
from storage.store import Store


@dataclass(frozen=True)
class ShopLinks:
    """The shop's own pages the bot points members to."""

    name: str
    account_url: str
    signup_url: str

    def signup_link(self, code: str) -> str:
        """Return the sign-up URL carrying an invite code."""
        return self.signup_url.replace("{code}", code)


@dataclass
class Services:
    """Long-lived objects shared by every handler, kept in `application.bot_data`."""

    store: Store
    texts: Catalogue
    shop: ShopLinks
    default_language: str = "en"
    bot_username: str = ""
    reminders: ReminderPolicy = field(default_factory=ReminderPolicy)
    extras: dict[str, object] = field(default_factory=dict)

    def invite_link(self, code: str) -> str:
        """Return a member's t.me invite link for referral code `code`."""
        return f"https://t.me/{self.bot_username}?start=ref_{code}"
