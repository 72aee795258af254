"""Live chat, the agents' side: card, grants and coupons (admins only), canned answers, bans,
stranger groups, business hours and the SLA flag."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from telegram.ext import Application

from bot.config import Config
from bot.jobs import flag_overdue, sla_job
from handlers.agents import sla_flag_text
from handlers.context import SERVICES_KEY
from loyalty.clock import ManualClock
from storage import coupons, ledger, members
from storage.store import Store
from storage.tickets import Overdue, Ticket
from telegram_emulator import Group, Person, TelegramEmulator
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    AGENTS,
    agnes_fixture,
    app_fixture,
    ask,
    bruno_fixture,
    desk_fixture,
    held_member,
    live_topics,
    only_topic,
    rich_member,
    running,
    support_config,
    ticket_of,
)
from tests.conftest import open_store


@pytest.fixture
def config() -> Config:
    return support_config()


async def test_card_refreshes_with_the_latest_balances(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    first_card = desk.messages(thread)[0]
    await coupons.exchange(bot_store, "m-1", 500, "points", "later")
    await agnes.send("/card", chat=desk, thread_id=thread)
    fresh = desk.messages(thread)[-1]
    assert fresh.pinned and fresh.message_id != first_card.message_id
    assert "Points: 625" in fresh.text and "Points: 1,125" in first_card.text
    assert fresh.text.count(" until ") == 2  # the two active coupons
    assert (await ticket_of(bot_store, ann)).card_message_id == fresh.message_id


async def test_admin_grant_is_in_the_ledger_with_the_agent_and_echoed(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    command = await agnes.send("/grant 250 sorry for the late order", chat=desk, thread_id=thread)
    assert (
        "Our support team added 250 points to your account.\nReason: sorry for the late order"
        in (ann.last_reply().text)
    )
    assert "Balance now: 1,375 points." in ann.last_reply().text
    note = desk.messages(thread)[-1].text
    assert "Agnes changed the points by +250 (sorry for the late order)" in note
    entry = (await ledger.history(bot_store, "m-1", limit=1)).entries[0]
    assert (entry.amount, entry.reason, entry.actor, entry.note) == (
        250, "grant", "agent:9001", "sorry for the late order"
    )  # fmt: skip
    row = await bot_store.db.read_one(
        "SELECT key FROM idempotency WHERE key = ?",
        (f"grant:tg:{AGENTS}:{command.message_id}",),
    )
    assert row is not None
    await agnes.send("/grant -5000 oops", chat=desk, thread_id=thread)
    assert "cannot go below zero" in desk.messages(thread)[-1].text
    for bad in ("/grant", "/grant ten points", "/grant 5", "/grant 0 nothing"):
        await agnes.send(bad, chat=desk, thread_id=thread)
        assert desk.messages(thread)[-1].text.startswith("Usage: /grant N reason")
    assert (await members.view(bot_store, "m-1")).points == 1_375


async def test_non_admin_cannot_grant_or_give_coupons(
    ann: Person, bruno: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    before = ann.mark()
    for command in ("/grant 1000 friend of mine", "/coupon 20 just because"):
        await bruno.send(command, chat=desk, thread_id=thread)
        assert desk.messages(thread)[-1].text == "Only support admins may do this."
    assert ann.messages_since(before) == []
    assert (await members.view(bot_store, "m-1")).points == 1_125
    assert len(await coupons.of_member(bot_store, "m-1")) == 1


async def test_admin_goodwill_coupon_reaches_the_member_protected(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send("/coupon 10 the parcel was damaged", chat=desk, thread_id=thread)
    gift = ann.last_reply()
    assert gift.protect_content and "sent you a $10.00 coupon" in gift.text
    assert "\nReason: the parcel was damaged\nValid until " in gift.text  # not "23:59. reason"
    owned = [c for c in await coupons.of_member(bot_store, "m-1") if c.paid_with == "goodwill"]
    assert len(owned) == 1 and owned[0].code in gift.text and owned[0].value_cents == 1000
    entry = (await ledger.history(bot_store, "m-1", limit=1)).entries[0]
    assert (entry.reason, entry.actor, entry.ref) == (
        "coupon_goodwill",
        "agent:9001",
        owned[0].code,
    )
    assert f"gave a $10.00 goodwill coupon {owned[0].code}" in desk.messages(thread)[-1].text
    await agnes.send("/coupon 7 odd value", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text == "Usage: /coupon 5|10|20 reason."


async def test_grant_for_an_unlinked_user_is_refused(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send("/grant 100 welcome", chat=desk, thread_id=thread)
    assert "has not linked a shop account" in desk.messages(thread)[-1].text


async def test_canned_answers(ann: Person, bruno: Person, desk: Group, bot_store: Store) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await bruno.send("/canned", chat=desk)  # the list works anywhere in the agent chat
    listing = desk.messages()[-1]
    assert listing.thread_id is None and "thanks: Thank you for your patience!" in listing.text
    assert "hours: We work 9-18 <Mon-Fri>" in listing.text
    await bruno.send("/canned hours", chat=desk, thread_id=thread)
    assert ann.last_reply().text == "We work 9-18 <Mon-Fri>"
    assert ann.last_reply().button_labels == ["✅ Problem solved"]
    assert "Canned answer «hours» sent to the member" in desk.messages(thread)[-1].text
    ticket = await ticket_of(bot_store, ann)
    assert ticket.first_answer_at is not None  # a canned answer is a first answer too
    await bruno.send("/canned nope", chat=desk, thread_id=thread)
    assert "There is no canned answer «nope». Available: thanks, hours." in (
        desk.messages(thread)[-1].text
    )
    await bruno.send("/canned thanks", chat=desk)  # outside a ticket: where would it go?
    assert desk.messages()[-1].text == "Use this command inside a ticket's topic."


async def test_ban_stops_the_relay_with_a_polite_answer_and_unban_restores_it(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send("/ban spam", chat=desk, thread_id=thread)
    assert "Agnes banned this user" in desk.messages(thread)[-1].text
    await agnes.send("/ban", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text == "This user is already banned."
    count = len(desk.messages(thread))
    await ann.send("BUY MY STUFF")
    assert "cannot take your messages" in ann.last_reply().text
    await ann.send("/support")
    assert "cannot take your messages" in ann.last_reply().text
    assert len(desk.messages(thread)) == count
    await agnes.send("/unban", chat=desk, thread_id=thread)
    assert "Agnes unbanned this user" in desk.messages(thread)[-1].text
    await ann.send("sorry about that")
    assert desk.messages(thread)[-1].text == "sorry about that"
    await agnes.send("/unban", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text == "This user is not banned."


async def test_commands_outside_a_ticket_and_talk_in_general_stay_with_the_agents(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    before = ann.mark()
    await agnes.send("lunch at 1?", chat=desk)
    for command in ("/close", "/card", "/ban", "/grant 5 x", "/me", "/support"):
        await agnes.send(command, chat=desk)
    texts = [m.text for m in desk.messages() if m.from_bot and m.thread_id is None]
    assert texts.count("Use this command inside a ticket's topic.") == 4
    assert ann.messages_since(before) == []


async def test_closed_ticket_topic_does_not_relay(
    ann: Person, agnes: Person, bruno: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send("/close", chat=desk, thread_id=thread)
    before = ann.mark()
    await bruno.send("one more thing", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text.startswith("⚠️ This ticket is closed")
    assert ann.messages_since(before) == []


async def test_messages_from_a_stranger_group_never_count_as_agents(
    emu: TelegramEmulator,
    app: Application,
    ann: Person,
    agnes: Person,
    desk: Group,  # type: ignore[type-arg]
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    strangers = emu.supergroup(-1009999, "Look-alike", forum=True, members=[agnes])
    lure = await app.bot.create_forum_topic(strangers.chat_id, "Lure")
    assert lure.message_thread_id == thread  # the same thread id: still not the agent chat
    before = ann.mark()
    for text in ("hi from elsewhere", "/close", "/grant 100 x", "/canned thanks", "/me"):
        await agnes.send(text, chat=strangers, thread_id=lure.message_thread_id)
        await agnes.send(text, chat=strangers)
    assert ann.messages_since(before) == []
    assert strangers.bot_messages() == []
    assert (await ticket_of(app.bot_data[SERVICES_KEY].store, ann)).is_open
    # A member typing commands in a group gets nothing either: features are private only.
    emu_group = emu.supergroup(-1008888, "Friends", members=[ann])
    await ann.send("/me", chat=emu_group)
    await ann.send("/support", chat=emu_group)
    assert emu_group.bot_messages() == []


async def test_agent_commands_are_in_the_agent_chat_menu(
    agnes: Person, desk: Group, ann: Person
) -> None:
    names = [c["command"] for c in agnes.menu_commands(chat=desk)]
    assert names == ["close", "card", "grant", "coupon", "canned", "ban", "unban"]
    assert "support" in [c["command"] for c in ann.menu_commands()]


async def test_outside_business_hours_the_member_is_told_when_agents_are_back(
    ann: Person, desk: Group, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 14, 11, tzinfo=UTC))  # a Saturday
    await ann.send("/support")
    assert "Our team is offline right now and back 16 Mar 2026, 09:00" in ann.last_reply().text
    await ann.send("Hello?")
    ack = ann.last_reply().text
    assert "request #1" in ack and "back 16 Mar 2026, 09:00" in ack
    assert len(live_topics(desk)) == 1  # the agents still see it at once


async def test_sla_flag_once_per_ticket_waiting_for_a_first_answer(
    app: Application, ann: Person, boris: Person, agnes: Person, desk: Group,  # type: ignore[type-arg]
    bot_store: Store, clock: ManualClock,
) -> None:  # fmt: skip
    services = app.bot_data[SERVICES_KEY]
    await ask(ann)
    await ask(boris, "Где мои баллы?")
    await agnes.send("On it", chat=desk, thread_id=(await ticket_of(bot_store, ann)).thread_id)
    clock.advance(minutes=29)
    assert await flag_overdue(app.bot, services) == 0
    clock.advance(minutes=2)
    assert await flag_overdue(app.bot, services) == 1
    flag = desk.messages()[-1]
    assert flag.thread_id is None  # in the General topic, linking to the ticket
    assert flag.text == (
        "⏰ Ticket #2 (Борис) has waited 31 minutes for a first answer, all of it in working"
        " hours (the limit: 30 minutes)."
    )
    boris_thread = (await ticket_of(bot_store, boris)).thread_id
    assert f'<a href="https://t.me/c/1000000077/{boris_thread}">#2</a>' in flag.html
    clock.advance(hours=3)
    assert await flag_overdue(app.bot, services) == 0
    # The JobQueue callback the scheduler registers runs the same check.
    await sla_job(SimpleNamespace(bot=app.bot, bot_data=app.bot_data))  # type: ignore[arg-type]
    assert sum("has waited" in m.text for m in desk.messages()) == 1


async def test_sla_counts_working_time_only(
    app: Application,
    ann: Person,
    desk: Group,
    clock: ManualClock,  # type: ignore[type-arg]
) -> None:
    services = app.bot_data[SERVICES_KEY]
    clock.set(datetime(2026, 3, 13, 17, 50, tzinfo=UTC))  # Friday, ten minutes before closing
    await ask(ann)
    clock.set(datetime(2026, 3, 14, 12, tzinfo=UTC))
    assert await flag_overdue(app.bot, services) == 0
    clock.set(datetime(2026, 3, 16, 9, 21, tzinfo=UTC))  # Monday 09:21: 30 working minutes
    assert await flag_overdue(app.bot, services) == 1
    # The flag tells the wall-clock wait and the working time the SLA counted, not one as the
    # other (it used to say "has waited 3811 minutes").
    assert desk.messages()[-1].text == (
        "⏰ Ticket #1 (Ann) has waited 2 days 15 hours 31 minutes for a first answer, 31 minutes"
        " of them in working hours (the limit: 30 minutes of working time)."
    )


async def test_the_sla_flag_in_russian_and_without_working_days(
    app: Application,  # type: ignore[type-arg]
) -> None:
    services = app.bot_data[SERVICES_KEY]
    started = datetime(2026, 3, 13, 17, 50, tzinfo=UTC)  # Friday, ten minutes before closing
    ticket = Ticket(
        id=1, telegram_user_id=1001, member_id=None, status="open", subject=None,
        display_name="Ann", username=None, previous_id=None, chat_id=None, thread_id=None,
        topic_name=None, card_message_id=None, opened_at=started, first_message_at=started,
        sla_due_at=None, first_answer_at=None, sla_flagged_at=None, closed_at=None,
        closed_by=None, rating=None,
    )  # fmt: skip
    weekend = Overdue(ticket, timedelta(hours=63, minutes=31))  # until Monday 09:21
    services.support = replace(services.support, language="ru")
    text, minutes = sla_flag_text(services, weekend)
    assert minutes == 63 * 60 + 31
    assert text == (
        "⏰ Обращение #1 (Ann) ждёт первого ответа 2 дня 15 часов 31 минуту, из них 31 минуту"
        " в рабочее время (ответить нужно за 30 минут рабочего времени)."
    )
    services.support = replace(services.support, language="en", days=())
    text, _ = sla_flag_text(services, weekend)
    assert text == (
        "⏰ Ticket #1 (Ann) has waited 2 days 15 hours 31 minutes for a first answer"
        " (the limit: 30 minutes)."
    )


async def test_card_lists_open_holds(
    emu: TelegramEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    config = support_config("vip-shop")
    store = await open_store(tmp_path / "vip.db", config.program, clock)
    desk = emu.supergroup(AGENTS, "Support desk", forum=True)
    try:
        async with running(emu, store, config):
            ann = emu.user(1001, "Ann")
            await held_member(store, ann)
            await ask(ann, "My order o-77 is stuck")
            card = desk.messages(only_topic(desk).thread_id)[0]
            assert "Open holds:" in card.text
            assert "• 12 points for order o-77, since 10 Mar 2026, 09:00" in card.text
            assert "Points: 43" in card.text  # 50 granted + 5 for the e-mail - 12 held
    finally:
        await store.close()
