"""The agents' member card for a ticket: everything it shows, read in one place.

A read model: it writes nothing, and reads only through the store's reader paths
(`store.db.read` / `store.db.lookup`, by way of the modules that own each table).
`handlers/desk.py` renders it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from storage import checkout, coupons, ledger, members, telegram_users, tickets
from storage.checkout import HeldPoints
from storage.coupons import Coupon
from storage.errors import NotFound
from storage.ledger import Entry
from storage.members import MemberView
from storage.store import Store
from storage.telegram_users import Profile
from storage.tickets import Ticket

CARD_COUPONS = 10
CARD_LEDGER_ROWS = 5


@dataclass(frozen=True)
class MemberCard:
    """What the card shows about the person behind a ticket, as read at `read_at`."""

    ticket: Ticket
    profile: Profile  # the Telegram user: their link and languages
    member: MemberView | None  # None: no shop account linked (or it is gone)
    coupons: list[Coupon]  # active ones, soonest expiry first, at most CARD_COUPONS
    ledger: list[Entry]  # newest first, at most CARD_LEDGER_ROWS
    holds: list[HeldPoints]  # points held for orders not yet captured or released
    previous: Ticket | None  # the ticket this one follows up, if any
    read_at: datetime


async def member_card(store: Store, ticket: Ticket) -> MemberCard:
    """Read the member card of `ticket` (the member linked now, else the one at opening)."""
    profile = await telegram_users.profile(store, ticket.telegram_user_id)
    member_id = profile.member_id or ticket.member_id
    member = None
    if member_id is not None:
        with contextlib.suppress(NotFound):
            member = await members.view(store, member_id)
    active: list[Coupon] = []
    entries: list[Entry] = []
    holds: list[HeldPoints] = []
    if member is not None:
        active = await coupons.of_member(store, member.member_id, active_only=True)
        page = await ledger.history(store, member.member_id, limit=CARD_LEDGER_ROWS)
        entries = page.entries
        holds = await checkout.open_holds(store, member.member_id)
    previous = None
    if ticket.previous_id is not None:
        previous = await tickets.get(store, ticket.previous_id)
    return MemberCard(
        ticket=ticket,
        profile=profile,
        member=member,
        coupons=active[:CARD_COUPONS],
        ledger=entries,
        holds=holds,
        previous=previous,
        read_at=store.now(),
    )
