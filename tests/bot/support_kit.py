"""Fixtures for live-chat conversations: a member, two agents and their forum supergroup.

Test modules import the `*_fixture` functions (pytest finds them by their `name`) and define
`config` with `support_config(...)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram.ext import Application

from bot.config import Config
from storage import checkout, coupons, grants, members, tickets
from storage.store import Store
from telegram_emulator import Group, Person, TelegramEmulator, TopicView
from tests.bot.conftest import linked, make_config, running_app
from tests.conftest import delivered_order

AGENTS = -1001000000077
AGNES, BRUNO = 9001, 9002  # Agnes is a support admin, Bruno is not
CANNED = {
    "thanks": "Thank you for your patience! Anything else?",
    "hours": "We work 9-18 <Mon-Fri>",
}


def support_config(preset: str = "marketplace", **support: Any) -> Config:
    section: dict[str, Any] = {
        "agent_chat_id": AGENTS,
        "admin_ids": [AGNES],
        "sla_minutes": 30,
        "canned": CANNED,
    }
    section.update(support)
    return make_config(preset, support=section)


@pytest.fixture(name="desk")
def desk_fixture(emu: TelegramEmulator) -> Group:
    """The agents' forum supergroup (exists before the bot starts, as in production)."""
    return emu.supergroup(AGENTS, "Support desk", forum=True)


running = running_app  # the real Application on the emulator (a second one: a restart)


@pytest.fixture(name="app")
async def app_fixture(
    emu: TelegramEmulator, bot_store: Store, config: Config, desk: Group
) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    async with running(emu, bot_store, config) as application:
        yield application


@pytest.fixture(name="agnes")
def agnes_fixture(emu: TelegramEmulator, desk: Group) -> Person:
    person = emu.user(AGNES, "Agnes", language_code="en")
    desk.add_member(person)
    return person


@pytest.fixture(name="bruno")
def bruno_fixture(emu: TelegramEmulator, desk: Group) -> Person:
    person = emu.user(BRUNO, "Bruno", language_code="ru")
    desk.add_member(person)
    return person


def live_topics(desk: Group) -> list[TopicView]:
    """Every topic that was not deleted, oldest first."""
    return [t for t in desk.topics.values() if not t.deleted]


def only_topic(desk: Group) -> TopicView:
    (topic,) = live_topics(desk)
    return topic


async def ask(
    person: Person, text: str = "Where are my points?", subject: str | None = None
) -> None:
    """/support, optionally pick a subject by its label, then write `text`."""
    await person.send("/support")
    if subject is not None:
        await person.press(subject)
    await person.send(text)


async def rich_member(store: Store, person: Person, member_id: str = "m-1") -> str:
    """A linked member with an order, points, an active coupon (and its ledger rows)."""
    await linked(store, person, member_id, name="Ann Lee")
    await delivered_order(store, member_id, 12_000, "o-1")
    await grants.grant(store, member_id, 1_500, reason="welcome back", actor="test")
    await coupons.exchange(store, member_id, 500, "points", f"x-{member_id}")
    return member_id


async def held_member(store: Store, person: Person, member_id: str = "m-1") -> str:
    """A linked member of the vip-shop programme with points held for an unpaid order."""
    await linked(store, person, member_id)
    await members.verify_email(store, member_id)  # an Unverified member may not pay with points
    await grants.grant(store, member_id, 50, reason="test", actor="test")
    await checkout.hold(store, "h-1", member_id, "o-77", 12)
    return member_id


async def ticket_of(store: Store, person: Person) -> tickets.Ticket:
    state = await tickets.state(store, person.id)
    assert state.latest is not None
    return state.latest


async def ticket_count(store: Store) -> int:
    row = await store.db.read_one("SELECT COUNT(*) FROM tickets")
    assert row is not None
    return int(row[0])
