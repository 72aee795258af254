"""Forum topics and the copyMessage relay between members and agents."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot
from telegram.error import BadRequest
from telegram.ext import Application

from telegram_emulator import Group, Person, TelegramEmulator
from tests.emulator.conftest import AGENTS, api_error

App = Application[Any, Any, Any, Any, Any, Any]


@pytest.fixture
def agent(emu: TelegramEmulator) -> Person:
    return emu.user(9001, "Agent Smith")


@pytest.fixture
def agents(emu: TelegramEmulator, agent: Person) -> Group:
    return emu.supergroup(AGENTS, "Agents", forum=True, members=[agent])


async def test_support_relay_both_ways(
    emu: TelegramEmulator, app: App, ann: Person, agent: Person, agents: Group
) -> None:
    await ann.send("/support my order is late")
    assert ann.last_reply().text == "Sent to support"
    (topic,) = agents.topics.values()
    assert (topic.name, topic.closed, topic.deleted) == ("Ann (1001)", False, False)
    (copied,) = agents.messages(topic.thread_id)
    assert copied.text == "/support my order is late" and copied.from_bot

    await agent.send("We are on it", chat=agents, thread_id=topic.thread_id)
    update = emu.update_log[-1]["message"]
    assert update["is_topic_message"] and update["message_thread_id"] == topic.thread_id
    # Telegram marks topic messages as replies to the topic's creation message.
    assert update["reply_to_message"]["forum_topic_created"]["name"] == "Ann (1001)"
    assert ann.last_reply().text == "We are on it"

    photo = await agent.send_photo("the label", chat=agents, thread_id=topic.thread_id)
    assert (ann.last_reply().file_id, ann.last_reply().text) == (photo.file_id, "the label")

    await ann.send("/support thanks")
    assert len(agents.topics) == 1  # the same topic is reused
    assert [m.text for m in agents.bot_messages(topic.thread_id)][-1] == "/support thanks"


async def test_other_groups_are_not_relayed(
    emu: TelegramEmulator, app: App, ann: Person, agent: Person, agents: Group
) -> None:
    await ann.send("/support hello")
    strangers = emu.supergroup(-1009, "Strangers", forum=True, members=[agent])
    topic = await app.bot.create_forum_topic(strangers.chat_id, "Lure")
    mark = ann.mark()
    await agent.send("hi from elsewhere", chat=strangers, thread_id=topic.message_thread_id)
    assert ann.messages_since(mark) == []
    assert [m.text for m in strangers.messages(topic.message_thread_id)] == ["hi from elsewhere"]


async def test_deleted_topic_refuses_the_relay(
    emu: TelegramEmulator, app: App, ann: Person, agents: Group
) -> None:
    await ann.send("/support first")
    thread = agents.topic("Ann (1001)").thread_id
    emu.delete_topic(agents, thread)
    assert agents.topics[thread].deleted
    with api_error(emu, BadRequest, 400, "Bad Request: message thread not found"):
        await app.bot.copy_message(
            AGENTS, ann.id, ann.last_reply().message_id, message_thread_id=thread
        )


async def test_topic_lifecycle(emu: TelegramEmulator, bot: Bot, agents: Group) -> None:
    topic = await bot.create_forum_topic(AGENTS, "Ticket", icon_color=0xFFD67E)
    thread = topic.message_thread_id
    await bot.edit_forum_topic(AGENTS, thread, name="Ticket #1")
    assert agents.topics[thread].name == "Ticket #1"
    with api_error(emu, BadRequest, 400, "Bad Request: TOPIC_NOT_MODIFIED"):
        await bot.edit_forum_topic(AGENTS, thread, name="Ticket #1")
    await bot.close_forum_topic(AGENTS, thread)
    assert agents.topics[thread].closed
    with api_error(emu, BadRequest, 400, "Bad Request: TOPIC_NOT_MODIFIED"):
        await bot.close_forum_topic(AGENTS, thread)
    await bot.send_message(AGENTS, "admins may still post", message_thread_id=thread)
    await bot.reopen_forum_topic(AGENTS, thread)
    await bot.delete_forum_topic(AGENTS, thread)
    with api_error(emu, BadRequest, 400, "Bad Request: TOPIC_ID_INVALID"):
        await bot.reopen_forum_topic(AGENTS, thread)


async def test_closed_topic_without_admin_rights(emu: TelegramEmulator, bot: Bot) -> None:
    group = emu.supergroup(-1005, "Members", forum=True, bot_admin=False)
    with api_error(emu, BadRequest, 400, "Bad Request: not enough rights to create a topic"):
        await bot.create_forum_topic(group.chat_id, "Nope")


async def test_copy_of_each_kind_into_a_topic(
    emu: TelegramEmulator, bot: Bot, started: Person, agents: Group
) -> None:
    thread = (await bot.create_forum_topic(AGENTS, "Files")).message_thread_id
    sources = [
        await started.send_photo("p"),
        await started.send_document("d"),
        await started.send_voice(),
        await started.send("plain <not html>"),
    ]
    for source in sources:
        copied = await bot.copy_message(
            AGENTS, started.id, source.message_id, message_thread_id=thread
        )
        assert copied.message_id > 0
    copies = agents.bot_messages(thread)
    assert [(c.kind, c.file_id, c.text) for c in copies] == [
        (s.kind, s.file_id, s.text) for s in sources
    ]
    assert all(c.thread_id == thread for c in copies)
    recaptioned = await bot.copy_message(
        AGENTS, started.id, sources[0].message_id, caption="<i>new</i>", parse_mode="HTML"
    )
    assert agents.last_bot_message().text == "new" and recaptioned.message_id > 0


async def test_copy_refuses_quizzes_paid_media_and_protected_chats(
    emu: TelegramEmulator, bot: Bot, started: Person, agent: Person, agents: Group
) -> None:
    refused = "Bad Request: message can't be copied"
    quiz = await started.send_quiz()
    paid = await started.send_paid_media()
    for source in (quiz, paid):
        with api_error(emu, BadRequest, 400, refused):
            await bot.copy_message(AGENTS, started.id, source.message_id)
    said = await agent.send("fine", chat=agents)
    assert (await bot.copy_message(started.id, AGENTS, said.message_id)).message_id > 0
    agents.protect_content()
    with api_error(emu, BadRequest, 400, refused):
        await bot.copy_message(started.id, AGENTS, said.message_id)


async def test_can_manage_topics_is_a_right_of_its_own(
    emu: TelegramEmulator, bot: Bot, agents: Group
) -> None:
    own = (await bot.create_forum_topic(AGENTS, "Mine")).message_thread_id
    await bot.close_forum_topic(AGENTS, own)
    agents.set_bot_rights(can_manage_topics=False)  # still an admin, without this one right
    with api_error(emu, BadRequest, 400, "Bad Request: TOPIC_CLOSED"):
        await bot.send_message(AGENTS, "in a closed topic", message_thread_id=own)
    await bot.reopen_forum_topic(AGENTS, own)  # its creator may reopen it without the right
    await bot.send_message(AGENTS, "reopened", message_thread_id=own)
    with api_error(emu, BadRequest, 400, "Bad Request: not enough rights to create a topic"):
        await bot.create_forum_topic(AGENTS, "Another")
