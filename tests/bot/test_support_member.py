"""Live chat, the member's side: opening, the relay both ways, closing, rating, the race."""

from __future__ import annotations

import asyncio

import pytest

from bot.config import Config
from loyalty.clock import ManualClock
from storage import members, tickets
from storage.store import Store
from telegram_emulator import Group, Person
from tests.bot.conftest import linked
from tests.bot.support_kit import (  # noqa: F401 (fixtures, found by name)
    AGENTS,
    agnes_fixture,
    app_fixture,
    ask,
    bruno_fixture,
    desk_fixture,
    live_topics,
    only_topic,
    rich_member,
    support_config,
    ticket_count,
    ticket_of,
)


@pytest.fixture
def config() -> Config:
    return support_config()


async def test_support_asks_the_topic_then_relays_with_a_pinned_member_card(
    ann: Person, desk: Group, bot_store: Store
) -> None:
    await rich_member(bot_store, ann)
    await ann.send("/support")
    prompt = ann.last_reply()
    assert "What is it about?" in prompt.text
    assert prompt.button_labels == [
        "💰 Points missing", "🎟 Coupon problem", "📦 An order", "💬 Something else"
    ]  # fmt: skip
    assert live_topics(desk) == []  # nothing for agents until the member writes
    await ann.press("💰 Points missing")
    assert "Topic: 💰 Points missing." in ann.last_reply().text
    await ann.send("Where are my points for order o-1?")

    topic = only_topic(desk)
    level = (await members.view(bot_store, "m-1")).tier.name
    assert topic.name == f"#1 Ann · {level} · points missing"
    card, copy = desk.messages(topic.thread_id)
    assert card.pinned and copy.text == "Where are my points for order o-1?"
    expected = (
        "Ticket #1 · points missing", "Shop id: m-1 · Ann Lee", f"Level: {level}", "Telegram 1001",
        "language: en", "Active coupons:", "$5.00", "Last ledger rows:",
        "+1,500 points: adjustment (welcome back)", "−500 points spent on a $5.00 coupon",
        "+120 points earned for order o-1", "No open holds",
    )  # fmt: skip
    for line in expected:
        assert line in card.text, line
    assert "· grant" not in card.text and "· coupon" not in card.text  # words, not codes
    ack = ann.last_reply()
    assert "Your message is with our team (request #1)" in ack.text
    assert ack.button_labels == ["✅ Problem solved"]
    ticket = await ticket_of(bot_store, ann)
    assert (ticket.member_id, ticket.subject, ticket.thread_id) == (
        "m-1",
        "points",
        topic.thread_id,
    )


async def test_help_button_opens_support_and_plain_writing_skips_the_topic_choice(
    ann: Person, desk: Group, bot_store: Store
) -> None:
    await ann.send("/start")
    # The "talk to a person" button of /help and of the FAQ fallback carries nav:support.
    await ann.press_data("nav:support", message=ann.last_reply())
    assert "What is it about?" in ann.last_reply().text
    await ann.send("My coupon code does not work")
    topic = only_topic(desk)
    assert topic.name == "#1 Ann · not linked"
    card = desk.messages(topic.thread_id)[0]
    assert "no topic chosen" in card.text and "Not linked to a shop account" in card.text
    assert (await ticket_of(bot_store, ann)).member_id is None


async def test_support_with_a_question_sends_it_at_once(ann: Person, desk: Group) -> None:
    await ann.send("/support my order <b>o-9</b> is late")
    topic = only_topic(desk)
    assert desk.messages(topic.thread_id)[-1].text == "my order <b>o-9</b> is late"
    assert "request #1" in ann.last_reply().text
    await ann.send("/support")
    assert "You are already talking with our team (request #1)" in ann.last_reply().text
    assert len(live_topics(desk)) == 1


async def test_each_kind_relays_both_ways(
    ann: Person, agnes: Person, bruno: Person, desk: Group, bot_store: Store
) -> None:
    await ann.send("/support")
    sent = [
        await ann.send("hello"),
        await ann.send_photo("the receipt"),
        await ann.send_document("invoice", file_name="invoice.pdf"),
        await ann.send_voice(),
    ]
    thread = only_topic(desk).thread_id
    copies = desk.bot_messages(thread)[1:]  # after the card
    assert [(c.kind, c.file_id, c.text) for c in copies] == [
        (s.kind, s.file_id, s.text) for s in sent
    ]
    answers = [
        await agnes.send("Got it, checking", chat=desk, thread_id=thread),
        await bruno.send_photo("here is how", chat=desk, thread_id=thread),
        await agnes.send_document("the rules", chat=desk, thread_id=thread),
        await bruno.send_voice(chat=desk, thread_id=thread),
    ]
    shown = ann.bot_messages()[-6:]
    # Who answers, once per agent, just before their first message; the messages are copies.
    intros = [m.text for m in shown if m.text.endswith("from our support team is answering you:")]
    assert intros == [
        "💬 Agnes from our support team is answering you:",
        "💬 Bruno from our support team is answering you:",
    ]
    received = [m for m in shown if m.text not in intros]
    assert [(r.kind, r.file_id, r.text) for r in received] == [
        (a.kind, a.file_id, a.text) for a in answers
    ]
    assert all(r.button_labels == ["✅ Problem solved"] for r in received)
    ticket = await ticket_of(bot_store, ann)
    stored = await tickets.messages(bot_store, ticket.id)
    assert [(m.direction, m.kind, m.author_id) for m in stored] == [
        ("member", "text", ann.id), ("member", "photo", ann.id), ("member", "document", ann.id),
        ("member", "voice", ann.id), ("agent", "text", agnes.id), ("agent", "photo", bruno.id),
        ("agent", "document", agnes.id), ("agent", "voice", bruno.id),
    ]  # fmt: skip
    assert [m.file_id for m in stored][1:4] == [s.file_id for s in sent[1:]]
    assert ticket.first_answer_at is not None
    # Only the first member message is acknowledged: no noise after each one.
    assert sum("is with our team" in m.text for m in ann.bot_messages()) == 1


async def test_two_quick_messages_open_one_ticket_and_one_topic(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await ann.send("/support")
    await asyncio.gather(ann.send("first"), ann.send("second"))
    assert await ticket_count(bot_store) == 1
    thread = only_topic(desk).thread_id
    assert [m.text for m in desk.bot_messages(thread)[1:]] == ["first", "second"]
    await agnes.send("/close", chat=desk, thread_id=thread)
    # Right after closing, two quick messages again: one new ticket, one new topic.
    await asyncio.gather(ann.send("one more"), ann.send("thing"), ann.send("please"))
    assert await ticket_count(bot_store) == 2
    assert len(desk.topics) == 2
    new = (await ticket_of(bot_store, ann)).thread_id
    assert new is not None and new != thread
    assert sorted(m.text for m in desk.bot_messages(new)[1:]) == ["one more", "please", "thing"]


async def test_agent_close_asks_a_rating_that_lands_in_the_topic(
    ann: Person, bruno: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await bruno.send("Fixed, sorry!", chat=desk, thread_id=thread)
    await bruno.send("/close", chat=desk, thread_id=thread)
    topic = only_topic(desk)
    assert topic.closed and topic.name.startswith("✅ #1 Ann")
    assert "Ticket closed by Bruno" in desk.messages(thread)[-1].text
    prompt = ann.last_reply()
    assert "closed request #1" in prompt.text and "How would you rate" in prompt.text
    answer = await ann.press("4 ⭐")
    assert answer is not None
    assert ann.last_reply().text == "Thank you for your rating: 4 of 5. ⭐"
    assert desk.messages(thread)[-1].text == "⭐ The member rated the help 4/5."
    again = await ann.press_data(
        f"sup:rate:{(await ticket_of(bot_store, ann)).id}:1", message=prompt
    )
    assert again is not None and again.text == "You have already rated this request. Thank you!"
    ticket = await ticket_of(bot_store, ann)
    assert (ticket.status, ticket.closed_by, ticket.rating) == ("closed", f"agent:{bruno.id}", 4)
    await bruno.send("/close", chat=desk, thread_id=thread)
    assert desk.messages(thread)[-1].text == "This ticket is already closed."


async def test_problem_solved_button_closes_from_the_member_side(
    ann: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    thread = only_topic(desk).thread_id
    await agnes.send("Points are back", chat=desk, thread_id=thread)
    answer = await ann.press("✅ Problem solved")
    assert answer is not None
    assert "Glad it is sorted! Request #1 is closed." in ann.last_reply().text
    assert desk.messages(thread)[-1].text.startswith("✅ The member marked the problem solved")
    assert only_topic(desk).closed
    copy = next(m for m in ann.bot_messages() if m.text == "Points are back")
    stale = await ann.press("✅ Problem solved", message=copy)
    assert stale is not None and "already closed" in stale.text and stale.show_alert
    await ann.press("5 ⭐")
    assert (await ticket_of(bot_store, ann)).rating == 5


async def test_closing_before_writing_asks_no_rating(
    ann: Person, desk: Group, bot_store: Store
) -> None:
    await ann.send("/support")
    ticket = await ticket_of(bot_store, ann)
    await ann.press_data(f"sup:solved:{ticket.id}", message=ann.last_reply())
    assert ann.last_reply().text == "Glad it is sorted! Request #1 is closed."
    assert ann.last_reply().buttons == [] and live_topics(desk) == []


async def test_writing_after_closing_opens_a_new_ticket_linked_to_the_old_one(
    ann: Person, agnes: Person, desk: Group, bot_store: Store, clock: ManualClock
) -> None:
    await rich_member(bot_store, ann)
    await ask(ann)
    old = only_topic(desk).thread_id
    await agnes.send("/close", chat=desk, thread_id=old)
    await ann.press("3 ⭐")
    clock.advance(hours=2)
    await ann.send("Actually, one more question")
    new = await ticket_of(bot_store, ann)
    assert new.id == 2 and new.previous_id == 1 and new.thread_id != old
    card = desk.messages(new.thread_id)[0]
    assert "Previous ticket: #1, closed 10 Mar 2026, 09:00, rated 3/5" in card.text
    assert f'<a href="https://t.me/c/1000000077/{old}">#1</a>' in card.html
    assert desk.messages(new.thread_id)[-1].text == "Actually, one more question"
    # A day later free text is not support any more (the FAQ answers it): no third ticket.
    await agnes.send("/close", chat=desk, thread_id=new.thread_id)
    clock.advance(days=2)
    await ann.send("what are coins?")
    assert await ticket_count(bot_store) == 2
    # /support still opens one, linked to the last.
    await ann.send("/support")
    assert (await ticket_of(bot_store, ann)).previous_id == 2


async def test_forged_support_buttons_change_nothing(
    ann: Person, boris: Person, desk: Group, bot_store: Store
) -> None:
    await ask(ann)
    ticket = await ticket_of(bot_store, ann)
    await boris.send("/start")
    menu = boris.last_reply()
    for data in (f"sup:solved:{ticket.id}", "sup:solved:999", f"sup:rate:{ticket.id}:5"):
        answer = await boris.press_data(data, message=menu)
        assert answer is not None and answer.show_alert
        assert (
            answer.text
            == "Эта кнопка больше не активна. Воспользуйтесь последним сообщением или меню."
        )
    await boris.press_data(f"sup:subj:{ticket.id}:order", message=menu)
    assert menu.text.startswith("Эта кнопка больше не активна")
    for data in ("sup:rate:1:9", "sup:subj:1:refund"):  # no pattern takes these: the fallback
        answer = await boris.press_data(data, message=menu)
        assert answer is not None and answer.show_alert
    after = await ticket_of(bot_store, ann)
    assert after.is_open and after.subject is None and after.rating is None
    assert await ticket_count(bot_store) == 1
    # Ann's own rating button while the ticket is still open is stale too.
    answer = await ann.press_data(f"sup:rate:{ticket.id}:5", message=ann.last_reply())
    assert answer is not None and answer.show_alert


async def test_russian_member_gets_russian_texts_and_agents_keep_theirs(
    boris: Person, agnes: Person, desk: Group, bot_store: Store
) -> None:
    await linked(bot_store, boris, "m-2", name="Борис")
    await boris.send("/support")
    assert "О чём ваш вопрос?" in boris.last_reply().text
    await boris.press("🎟 Проблема с купоном")
    assert "Тема: 🎟 Проблема с купоном." in boris.last_reply().text
    await boris.send("Купон не работает")
    assert "обращение №1" in boris.last_reply().text
    topic = only_topic(desk)
    assert topic.name == "#1 Борис · A0 · coupon problem"
    card = desk.messages(topic.thread_id)[0]
    assert "language: ru" in card.text and "Shop id: m-2 · Борис" in card.text
    await agnes.send("/close", chat=desk, thread_id=topic.thread_id)
    assert "Наша команда закрыла обращение №1" in boris.last_reply().text
    assert boris.last_reply().button_labels[0] == "1 ⭐"
    await boris.press("5 ⭐")
    assert boris.last_reply().text == "Спасибо за оценку: 5 из 5. ⭐"


async def test_ticket_messages_never_reach_the_free_text_faq(
    ann: Person, agnes: Person, desk: Group
) -> None:
    await ann.send("how do I earn points?")  # no ticket: the FAQ answers
    assert "How to earn" in ann.last_reply().text
    await ask(ann, "my points are missing")
    mark = ann.mark()
    await ann.send("how do I earn points?")  # inside a ticket: it goes to the agents only
    assert ann.messages_since(mark) == []
    thread = only_topic(desk).thread_id
    await agnes.send("checking", chat=desk, thread_id=thread)
    await agnes.send("coffee?", chat=desk)
    relayed = [m.text for m in desk.bot_messages(thread)[1:]]
    assert relayed == ["my points are missing", "how do I earn points?"]


async def test_a_subject_picked_after_writing_renames_the_topic(
    ann: Person, desk: Group, bot_store: Store
) -> None:
    await ann.send("/support")
    prompt = ann.last_reply()
    await ann.send("It is about my parcel")
    assert only_topic(desk).name == "#1 Ann · not linked"
    await ann.press("📦 An order", message=prompt)
    assert only_topic(desk).name == "#1 Ann · not linked · order"
    ticket = await ticket_of(bot_store, ann)
    assert (ticket.subject, ticket.topic_name) == ("order", "#1 Ann · not linked · order")
