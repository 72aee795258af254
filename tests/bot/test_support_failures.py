"""Live chat when things break: a member who blocked the bot, a deleted topic, no agent chat,
a restart in the middle of a ticket; and agents working in Russian."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Config
from bot.jobs import flag_overdue
from handlers.context import SERVICES_KEY
from handlers.formatting import money, number
from loyalty.clock import ManualClock
from storage import telegram_users, tickets
from storage.store import Store
from telegram_emulator import Group, Person, TelegramEmulator
from tests.bot.conftest import linked, make_config
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    agnes_fixture,
    app_fixture,
    ask,
    bruno_fixture,
    desk_fixture,
    live_topics,
    only_topic,
    rich_member,
    running,
    support_config,
    ticket_count,
    ticket_of,
)
from tests.conftest import open_store


@pytest.fixture
def config() -> Config:
    return support_config()


async def test_member_who_blocked_the_bot_closes_the_ticket(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    ann.block()
    await agnes.send("Are you there?", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text.startswith("⛔ Not delivered: the member blocked the bot")
    topic = only_topic(desk)
    assert topic.closed and topic.name.startswith("✅")
    ticket = await ticket_of(bot_store, ann)
    assert (ticket.status, ticket.closed_by) == ("closed", "blocked")
    assert (await telegram_users.profile(bot_store, ann.id)).unreachable
    # The agent message was not delivered, so it is not recorded as an answer.
    assert ticket.first_answer_at is None
    await agnes.send("Hello?", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text.startswith("⚠️ This ticket is closed")


async def test_block_noticed_by_a_grant_echo_also_closes(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    ann.block()
    await agnes.send("/grant 10 sorry", chat=desk, thread_id=thread)
    texts = [m.text for m in desk.messages(thread)[-2:]]
    # The agent's confirmation first; the echo to the member failed after it, and says so.
    assert "changed the points" in texts[0]
    assert texts[1].startswith("⛔ Not delivered: the member blocked the bot")
    assert not (await ticket_of(bot_store, ann)).is_open


async def test_deleted_topic_is_recreated_by_the_next_message(
    emu: TelegramEmulator, ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann, "My points are missing")
    old = only_topic(desk).thread_id
    await agnes.send("Which order?", chat=desk, thread_id=old)
    emu.delete_topic(desk, old)
    await ann.send("Order o-1")
    topic = only_topic(desk)
    assert topic.thread_id != old and topic.name.startswith("#1 Ann")
    card, transcript, copy = desk.messages(topic.thread_id)
    assert card.pinned and "Shop id: m-1" in card.text
    assert transcript.text.splitlines() == [
        "♻️ The previous topic of this ticket was deleted. The conversation so far:",
        "👤 My points are missing",
        "🎧 Which order?",
    ]
    assert copy.text == "Order o-1"
    ticket = await ticket_of(bot_store, ann)
    assert ticket.thread_id == topic.thread_id and ticket.is_open and ticket.id == 1
    await agnes.send("Found it, crediting now", chat=desk, thread_id=topic.thread_id)
    assert ann.last_reply().text == "Found it, crediting now"
    assert await ticket_count(bot_store) == 1


async def test_closing_after_the_topic_was_deleted_still_reaches_the_member(
    emu: TelegramEmulator, ann: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    emu.delete_topic(desk, only_topic(desk).thread_id)
    await ann.press("✅ Problem solved")
    assert "Request #1 is closed" in ann.last_reply().text
    await ann.press("2 ⭐")
    assert (await ticket_of(bot_store, ann)).rating == 2


async def test_no_agent_chat_means_support_is_unavailable(
    emu: TelegramEmulator, bot_store: Store
) -> None:
    async with running(emu, bot_store, make_config()) as app:
        ann = emu.user(1001, "Ann")
        await ann.send("/support")
        assert ann.last_reply().text.startswith("Sorry, live support is not available")
        await ann.send("/start")
        await ann.press_data("nav:support", message=ann.last_reply())
        assert ann.last_reply().text.startswith("Sorry, live support is not available")
        await ann.send("hello?")  # free text is not swallowed: the FAQ answers it
        assert "common questions" in ann.last_reply().text
        assert await ticket_count(bot_store) == 0
        assert await flag_overdue(app.bot, app.bot_data[SERVICES_KEY]) == 0


async def test_restart_in_the_middle_of_a_ticket_carries_on(
    emu: TelegramEmulator, tmp_path: Path, clock: ManualClock
) -> None:
    config = support_config()
    desk = emu.supergroup(-1001000000077, "Support desk", forum=True)
    agnes = emu.user(9001, "Agnes")
    ann = emu.user(1001, "Ann")
    first_store = await open_store(tmp_path / "bot.db", config.program, clock)
    async with running(emu, first_store, config):
        await linked(first_store, ann)
        await ask(ann, "Where are my points?", "💰 Points missing")
        thread = only_topic(desk).thread_id
        await agnes.send("Looking into it", chat=desk, thread_id=thread)
    await first_store.close()

    second_store = await open_store(tmp_path / "bot.db", config.program, clock)
    try:
        async with running(emu, second_store, config):
            await ann.send("It was order o-5")
            assert len(desk.topics) == 1
            assert desk.messages(thread)[-1].text == "It was order o-5"
            await agnes.send("Credited!", chat=desk, thread_id=thread)
            assert ann.last_reply().text == "Credited!"
            await agnes.send("/close", chat=desk, thread_id=thread)
            await ann.press("5 ⭐")
            assert desk.messages(thread)[-1].text == "⭐ The member rated the help 5/5."
            ticket = await ticket_of(second_store, ann)
            stored = await tickets.messages(second_store, ticket.id)
            assert [m.text for m in stored] == [
                "Where are my points?", "Looking into it", "It was order o-5", "Credited!"
            ]  # fmt: skip
            assert (ticket.rating, ticket.subject, ticket.member_id) == (5, "points", "m-1")
    finally:
        await second_store.close()


async def test_agents_in_russian(emu: TelegramEmulator, bot_store: Store) -> None:
    config = support_config(language="ru")
    desk = emu.supergroup(-1001000000077, "Поддержка", forum=True)
    agnes = emu.user(9001, "Агнесса", language_code="ru")
    async with running(emu, bot_store, config):
        ann = emu.user(1001, "Ann")
        await rich_member(bot_store, ann)
        await ask(ann, "Where are my points?", "💰 Points missing")
        topic = only_topic(desk)
        assert topic.name.endswith("· не начислены баллы")
        card = desk.messages(topic.thread_id)[0]
        expected = (
            "Обращение №1", "язык: en", "Id в магазине: m-1", "Уровень:", "Активные купоны:",
            f"Баллы: {number(1125, 'ru')}", money(500, "USD", "ru"), "Последние записи журнала",
        )  # fmt: skip
        for line in expected:
            assert line in card.text, line
        await agnes.send("/grant", chat=desk, thread_id=topic.thread_id)
        assert desk.messages(topic.thread_id)[-1].text.startswith("Формат: /grant N причина")
        await agnes.send("/grant 100 извините", chat=desk, thread_id=topic.thread_id)
        assert "Агнесса изменил(а) баллы на +100" in desk.messages(topic.thread_id)[-1].text
        # The member still reads English: agent language and member language are separate.
        assert "Our support team added 100 points" in ann.last_reply().text
        assert next(c["description"] for c in agnes.menu_commands(chat=desk)) == (
            "Закрыть обращение и попросить оценку"
        )
        await agnes.send("/close", chat=desk, thread_id=topic.thread_id)
        assert "Агнесса закрыл(а) обращение" in desk.messages(topic.thread_id)[-1].text
        assert live_topics(desk)[0].name.startswith("✅ #1")


async def test_an_unusable_agent_chat_tells_the_member_instead_of_failing(
    emu: TelegramEmulator, bot_store: Store
) -> None:
    emu.supergroup(-1001000000077, "Not a forum", forum=False)
    async with running(emu, bot_store, support_config()):
        ann = emu.user(1001, "Ann")
        await ann.send("/support Where are my points?")
        assert ann.last_reply().text.startswith("⚠️ Sorry, your message could not reach our team")
        await ann.send("hello?")
        assert ann.last_reply().text.startswith("⚠️ Sorry, your message could not reach our team")
