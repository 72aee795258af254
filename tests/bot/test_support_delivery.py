"""Live chat at Telegram's real limits: nothing relayed is lost, throttled or reordered; what
cannot be delivered is said where someone sees it; one member cannot crowd out the rest."""

from __future__ import annotations

from typing import Any

import pytest
from telegram.error import TimedOut
from telegram.ext import Application

from bot.config import Config
from bot.sender import MAX_ATTEMPTS, send_queue
from loyalty.clock import ManualClock
from storage import sends, tickets
from storage.store import Store
from telegram_emulator import EmulatorRequest, Group, Person, TelegramEmulator
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    AGENTS,
    agnes_fixture,
    app_fixture,
    ask,
    desk_fixture,
    live_topics,
    only_topic,
    rich_member,
    running,
    support_config,
    ticket_of,
)


@pytest.fixture
def config() -> Config:
    return support_config()


def texts(messages: list) -> list[str]:  # type: ignore[type-arg]
    return [m.text for m in messages]


# -- order and throttling ------------------------------------------------------------------


async def test_an_agents_burst_of_20_reaches_the_member_complete_and_in_order(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    mark = ann.mark()
    for n in range(1, 21):
        await agnes.send(f"part {n}", chat=desk, thread_id=thread)
    # A private chat takes a burst of 5, then one a second: the rest waited out their 429s.
    intro = "💬 Agnes from our support team is answering you:"  # once, before her first
    assert texts(ann.messages_since(mark)) == [intro] + [f"part {n}" for n in range(1, 21)]


async def test_ten_new_tickets_in_a_minute_wait_for_the_group_not_the_members(
    emu: TelegramEmulator, app: Application, desk: Group, bot_store: Store
) -> None:
    queue = send_queue(app)
    emu.after_update.remove(queue.drain)  # hold the queue: what do members get meanwhile?
    people = [emu.user(2000 + n, f"Member{n}") for n in range(10)]
    for person in people:
        await person.send("/support")
        await person.send(f"help me, I am {person.first_name}")
        # Answered at once, though the group's 20-a-minute budget is long spent by now.
        assert person.last_reply().text.startswith("✉️ Thank you! Your message is with our team")
    assert live_topics(desk) == []  # nothing sent to the group inside a member's handler
    await queue.drain()
    topics = live_topics(desk)
    assert len(topics) == 10  # topics, cards, pins and questions: 40 group requests, 2 minutes
    for person, topic in zip(people, topics, strict=True):
        assert desk.messages(topic.thread_id)[-1].text == f"help me, I am {person.first_name}"
    assert all(r["status"] == "sent" for r in await sends.send_rows(bot_store))


async def test_a_flooding_member_is_told_and_others_are_still_answered(
    emu: TelegramEmulator, ann: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann, "message 1")
    for n in range(2, 41):
        await ann.send(f"message {n}")
    thread = only_topic(desk).thread_id
    relayed = [t for t in texts(desk.messages(thread)) if t.startswith("message")]
    # support.messages_per_minute = 10: the first ten went, in order, the rest were refused.
    assert relayed == [f"message {n}" for n in range(1, 11)]
    refusals = [m.text for m in ann.bot_messages() if m.text.startswith("✋")]
    assert len(refusals) == 1 and "not passed on" in refusals[0]  # told once, not 30 times
    boris = emu.user(1002, "Boris")
    await boris.send("/help")
    assert "/help" not in boris.last_reply().text and boris.last_reply().buttons


async def test_the_member_may_write_again_once_the_minute_passed(
    ann: Person, desk: Group, clock: ManualClock
) -> None:
    await ask(ann, "message 1")
    for n in range(2, 12):
        await ann.send(f"message {n}")
    clock.advance(minutes=1, seconds=1)
    await ann.send("and now?")
    thread = only_topic(desk).thread_id
    assert desk.messages(thread)[-1].text == "and now?"
    assert "message 11" not in texts(desk.messages(thread))


async def test_tickets_a_member_may_open_in_a_day_are_limited(
    ann: Person, agnes: Person, desk: Group, bot_store: Store, clock: ManualClock
) -> None:
    for n in range(5):
        await ask(ann, f"question {n}")
        await agnes.send("/close", chat=desk, thread_id=live_topics(desk)[-1].thread_id)
        clock.advance(hours=1)
    await ann.send("/support")
    assert ann.last_reply().text.startswith("✋ You have opened as many requests")
    await ann.send("one more question")  # a follow-up would open a sixth ticket: refused too
    assert ann.last_reply().text.startswith("✋ You have opened as many requests")
    assert len(live_topics(desk)) == 5
    clock.advance(hours=20)  # the first ticket leaves the 24 hours
    await ask(ann, "finally")
    assert desk.messages(live_topics(desk)[-1].thread_id)[-1].text == "finally"


async def test_queued_sends_survive_a_restart(
    emu: TelegramEmulator, bot_store: Store, config: Config, desk: Group
) -> None:
    ann = emu.user(1001, "Ann")
    async with running(emu, bot_store, config) as first:
        emu.after_update.remove(send_queue(first).drain)  # it stops before sending anything
        await ask(ann, "are you there?")
    assert live_topics(desk) == []
    async with running(emu, bot_store, config) as second:
        await send_queue(second).drain()
    assert desk.messages(only_topic(desk).thread_id)[-1].text == "are you there?"


# -- what cannot be delivered ---------------------------------------------------------------


async def test_a_member_who_blocked_the_bot_is_said_in_the_topic_and_kept_on_the_row(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    ann.block()
    await agnes.send("Are you there?", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text.startswith("⛔ Not delivered: the member blocked the bot")
    (row,) = [r for r in await sends.send_rows(bot_store) if r["kind"] == "relay_out"]
    assert (row["status"], row["error"]) == ("failed", "blocked")


async def test_a_quiz_from_the_member_is_described_to_the_agents(
    ann: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    await ann.send_quiz()
    await ann.send_paid_media()
    thread = only_topic(desk).thread_id
    notes = texts(desk.messages(thread))[-2:]
    assert notes[0].startswith("📎 The member sent a quiz, which Telegram does not let the bot")
    assert notes[1].startswith("📎 The member sent paid media")
    assert "unavailable" not in ann.last_reply().text
    assert [
        m.kind for m in await tickets.messages(bot_store, (await ticket_of(bot_store, ann)).id)
    ][-2:] == ["quiz", "paid_media"]


async def test_an_agent_message_telegram_will_not_copy_is_told_to_both_sides(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send_quiz(chat=desk, thread_id=thread)
    assert ann.last_reply().text.startswith("📎 Our team sent you a quiz, which cannot be shown")
    assert desk.messages(thread)[-1].text.startswith("⚠️ Not delivered: Telegram does not let")
    desk.protect_content()  # "restrict saving content": nothing may be copied out of the group
    await agnes.send("my words", chat=desk, thread_id=thread)
    assert ann.last_reply().text.startswith("📎 Our team sent you a message")
    assert (await ticket_of(bot_store, ann)).first_answer_at is None  # nothing reached them


async def test_the_rating_note_reaches_the_closed_topic_without_the_topic_right(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    # The bot created the topic; without can_manage_topics it may not post in it once closed,
    # but as its creator it may reopen it, post, and close it again.
    desk.set_bot_rights(can_manage_topics=False)
    await agnes.send("/close", chat=desk, thread_id=thread)
    await ann.press("4 ⭐")
    assert desk.messages(thread)[-1].text == "⭐ The member rated the help 4/5."
    assert only_topic(desk).closed


async def test_a_topic_agents_closed_by_hand_is_reopened_for_the_members_message(
    ann: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    desk.set_bot_rights(can_manage_topics=False)
    desk.close_topic(thread)
    await ann.send("still there?")
    assert desk.messages(thread)[-1].text == "still there?"
    assert not only_topic(desk).closed  # the ticket is open: so is its topic


async def test_sends_to_a_chat_keep_their_order_across_a_flood_wait(
    emu: TelegramEmulator, app: Application, ann: Person, agnes: Person, desk: Group
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    queue = send_queue(app)
    emu.after_update.remove(queue.drain)
    for n in range(8):
        await agnes.send(f"a{n}", chat=desk, thread_id=thread)
    await agnes.send("/canned thanks", chat=desk, thread_id=thread)
    await queue.drain()
    got = texts(ann.bot_messages())[-9:]
    assert got == [f"a{n}" for n in range(8)] + ["Thank you for your patience! Anything else?"]


class FlakyRequest(EmulatorRequest):
    """The emulator, with a method that times out its first `failures` calls."""

    def __init__(self, emu: TelegramEmulator, method: str, failures: int) -> None:
        super().__init__(emu)
        self.method, self.failures = method, failures

    async def do_request(self, url: str, method: str, *args: Any, **kwargs: Any) -> Any:
        if url.endswith(f"/{self.method}") and self.failures > 0:
            self.failures -= 1
            raise TimedOut("the network is slow today")
        return await super().do_request(url, method, *args, **kwargs)


@pytest.mark.parametrize(("failures", "delivered"), [(MAX_ATTEMPTS - 1, True), (99, False)])
async def test_a_timeout_is_retried_a_bounded_number_of_times(
    emu: TelegramEmulator,
    bot_store: Store,
    config: Config,
    desk: Group,
    agnes: Person,
    failures: int,
    delivered: bool,
) -> None:
    ann = emu.user(1001, "Ann")
    await ask_without_queue_trouble(emu, bot_store, config, ann)
    thread = only_topic(desk).thread_id
    flaky = FlakyRequest(emu, "copyMessage", failures)
    async with running(emu, bot_store, config, flaky):
        await agnes.send("one answer", chat=desk, thread_id=thread)
    (row,) = [r for r in await sends.send_rows(bot_store) if r["kind"] == "relay_out"]
    if delivered:
        assert ann.last_reply().text == "one answer" and row["status"] == "sent"
        assert row["attempts"] == MAX_ATTEMPTS  # four timeouts, then the one that went
    else:
        assert ann.last_reply().text != "one answer"
        assert (row["status"], row["error"], row["attempts"]) == ("failed", "TimedOut", 5)
        note = desk.messages(thread)[-1].text
        assert note == "⚠️ Not delivered to the member: Telegram refused it (TimedOut)."


async def ask_without_queue_trouble(
    emu: TelegramEmulator, store: Store, config: Config, person: Person
) -> None:
    async with running(emu, store, config):
        await ask(person)


async def test_the_limits_are_told_in_the_members_language(boris: Person, desk: Group) -> None:
    await ask(boris, "сообщение 1")
    for n in range(2, 12):
        await boris.send(f"сообщение {n}")
    assert boris.last_reply().text.startswith("✋ Вы пишете быстрее, чем команда успевает читать")


async def test_a_redelivered_agent_update_reaches_the_member_once(
    emu: TelegramEmulator, ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    thread = only_topic(desk).thread_id
    mark = ann.mark()
    said = await agnes.send("Here you are", chat=desk, thread_id=thread)
    granted = await agnes.send("/grant 10 sorry", chat=desk, thread_id=thread)
    for message in (said, granted):  # Telegram sends an unacknowledged update again
        await emu.emit("message", message.to_dict())
    got = texts(ann.messages_since(mark))
    assert got[0] == "💬 Agnes from our support team is answering you:"  # who answers, once
    assert got[1] == "Here you are" and len(got) == 3
    assert "10 points" in got[2]
    answers = [t for t in texts(desk.messages(thread)) if "changed the points" in t]
    assert len(answers) == 1  # nor is the agents' confirmation repeated


async def test_a_flooding_member_is_told_once_whichever_worker_refuses(
    emu: TelegramEmulator, ann: Person, desk: Group, bot_store: Store, config: Config
) -> None:
    """ "Told once a minute" lived in one Application's bot_data: a second worker (another
    process on the same store) told the member again."""
    await ask(ann, "message 1")
    for n in range(2, 13):
        await ann.send(f"message {n}")
    assert len([m for m in ann.bot_messages() if m.text.startswith("✋")]) == 1
    async with running(emu, bot_store, config):  # the member's next updates reach another
        for n in range(13, 16):
            await ann.send(f"message {n}")
    assert len([m for m in ann.bot_messages() if m.text.startswith("✋")]) == 1
    thread = only_topic(desk).thread_id
    relayed = [t for t in texts(desk.messages(thread)) if t.startswith("message")]
    assert relayed == [f"message {n}" for n in range(1, 11)]
