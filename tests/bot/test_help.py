"""/help and free text: FAQ answers from the programme (both presets), order look-ups."""

from __future__ import annotations

from pathlib import Path

from loyalty.clock import ManualClock
from storage import checkout, grants
from storage.store import Store
from telegram_emulator import Person, TelegramEmulator
from tests.bot.conftest import linked, make_config
from tests.bot.programmes import running
from tests.conftest import delivered_order, member, send

QUESTIONS_EN = [
    "💡 How do I earn points?",
    "🛍 How do I spend points?",
    "🏅 What do the levels give?",
    "💳 My payment failed: where are my points?",
    "🔎 Points missing for an order?",
    "💬 Talk to a person",
]


def plain(text: str) -> str:
    """Return text with the locale's no-break spaces ("1\xa0000", "5,00\xa0$") as spaces."""
    return text.replace("\xa0", " ").replace("\u202f", " ")


async def answer_to(person: Person, question: str) -> str:
    """Open /help, press a question, return the answer."""
    await person.send("/help")
    await person.press(question)
    return person.last_reply().text


# --- the menu ------------------------------------------------------------------------------


async def test_help_menu_in_both_languages_even_unlinked(ann: Person, boris: Person) -> None:
    await ann.send("/help")
    menu = ann.last_reply()
    assert "Questions and answers · Marketplace points" in menu.text
    assert menu.button_labels == QUESTIONS_EN  # no "« Menu": not linked yet
    talk = [b for row in menu.buttons for b in row if b.label == "💬 Talk to a person"]
    assert talk[0].callback_data == "nav:support"
    await boris.send("/help")
    assert "Вопросы и ответы" in boris.last_reply().text
    assert "💬 Написать оператору" in boris.last_reply().button_labels
    await ann.press("💡 How do I earn points?")
    assert "How to earn points" in ann.last_reply().text


async def test_help_from_the_menu_button_and_back(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await ann.press("❓ Help")
    assert ann.last_reply().button_labels[-1] == "« Menu"
    await ann.press("🏅 What do the levels give?")
    await ann.press("« All questions")
    assert "Questions and answers" in ann.last_reply().text


async def test_forged_help_buttons_get_an_answer(ann: Person) -> None:
    await ann.send("/help")
    for data in ("help:bogus", "help:earn:1", "help:", "nav:help2"):
        answer = await ann.press_data(data)
        assert answer is not None and "no longer active" in answer.text, data


# --- answers from the programme ------------------------------------------------------------


async def test_marketplace_answers_in_english(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    earn = await answer_to(ann, "💡 How do I earn points?")
    for line in (
        "1 point per whole $1.00 of a delivered order over $2.00",
        "1 point for a review of a delivered order",
        "5 points extra on each day an order of yours over $2.00 is delivered",
        "20 points for the daily check-in",
        "10, 10, 15, 15, 20, 20, 30 for days 1–7 in a row, then 30 coins a day",
        "50 points when a friend signs up through your invite link",
        "taken back if it is returned or not delivered",
    ):
        assert line in earn, line
    assert "📅 Daily check-in" in ann.last_reply().button_labels
    spend = await answer_to(ann, "🛍 How do I spend points?")
    for line in (
        "$5.00 coupon for 500 points or 500 coins",
        "$20.00 coupon for 2,000 points or 2,000 coins",
        "At most 3 coupons a day.",
        "valid for 30 days",
        "burn at the end of June 30",
    ):
        assert line in spend, line
    assert "checkout" not in spend
    levels = await answer_to(ann, "🏅 What do the levels give?")
    assert "points you earned in the last 365 days" in levels
    assert "A1: from 1 point and a delivered order over $2.00" in levels
    assert "A3: from 500 points\n • Personal e-mails" in levels
    assert "Fast refund for orders up to $25" in levels and "Accelerated review" in levels
    payment = await answer_to(ann, "💳 My payment failed: where are my points?")
    assert "credited when it is delivered, not when it is paid" in payment
    assert "held" not in payment  # this programme has no checkout holds
    assert "Used a coupon" in payment


async def test_marketplace_answers_in_russian(boris: Person) -> None:
    earn = plain(await answer_to(boris, "💡 Как заработать баллы?"))
    assert "1 балл за каждый полный 1,00 $ доставленного заказа дороже 2,00 $" in earn
    assert "50 баллов, когда друг зарегистрируется" in earn
    spend = plain(await answer_to(boris, "🛍 Как потратить баллы?"))
    assert "купон 10,00 $ за 1 000 баллов или 1 000 монет" in spend
    assert "Не больше 3 купонов в день." in spend and "30 июня" in spend
    levels = await answer_to(boris, "🏅 Что дают уровни?")
    assert "A2: 100 баллов и больше" in levels and "за последние 365 дней" in levels


async def test_vip_shop_answers_never_mention_coupons_or_coins(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config("vip-shop"), tmp_path, clock, emu) as store:
        vera = emu.user(2001, "Vera", language_code="en")
        await linked(store, vera, "v-1")
        await send(store, "member.email_verified", member_id="v-1")
        await send(store, "order.placed", order_id="P-1", member_id="v-1", amount_cents=20_000)
        await checkout.hold(store, "h-1", "v-1", "P-1", 4)
        texts = {}
        for question in QUESTIONS_EN[:4]:
            texts[question] = await answer_to(vera, question)
            assert "coupon" not in texts[question].lower(), question
            assert "coin" not in texts[question].lower(), question
            assert "/daily" not in texts[question], question
        earn, spend, levels, payment = texts.values()
        assert "1% of the order's amount in points for a review" in earn
        assert "5 points for verifying your e-mail address" in earn
        assert "5 points when a friend you invited gets their first order delivered" in earn
        assert "per whole" not in earn  # orders earn nothing by themselves here
        for line in (
            "Pay part of an order with points at checkout (1 point = $1.00)",
            "2% of an order under $50.00",
            "3% of an order from $50.00 to $99.99",
            "4% of an order from $100.00 to $199.99",
            "5% of an order of $200.00 or more",
            "Paying with points starts at level Regular.",
        ):
            assert line in spend, line
        assert "what you spent on delivered orders over all time" in levels
        assert "Unverified: where everyone starts\n • no perks yet" in levels
        assert "Regular: a verified e-mail\n • 0.5% off every order" in levels
        assert "VIP-D: from $200.00 spent" in levels and "Top-VIP: from $5,000.00 spent" in levels
        assert "held points come back to your balance automatically" in payment
        assert "Right now 4 points of yours are held for unpaid orders." in payment
        missing = await answer_to(vera, "🔎 Points missing for an order?")
        assert "an order does not earn points by itself" in missing
        assert "earns 1% of its amount in points" in missing


async def test_vip_shop_answers_in_russian(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config("vip-shop"), tmp_path, clock, emu):
        vlad = emu.user(2002, "Влад", language_code="ru")
        spend = await answer_to(vlad, "🛍 Как потратить баллы?")
        assert "5\xa0%" not in spend  # one percent style for every share
        spend = plain(spend)
        assert "2% заказа дешевле 50,00 $" in spend
        assert "купон" not in spend and "монет" not in spend
        levels = plain(await answer_to(vlad, "🏅 Что дают уровни?"))
        assert "VIP-C: покупки от 800,00 $" in levels and "Скидка 2% на каждый заказ" in levels
        payment = await answer_to(vlad, "💳 Оплата не прошла: где мои баллы?")
        assert "автоматически вернутся на баланс" in payment and "купон" not in payment


async def test_answers_follow_the_configured_programme(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    program = {
        "preset": "marketplace",
        "earning": {"order_points_per_dollar": 2, "order_min_cents": 1000, "referrer_points": 0},
        "coins": {"streak": [5, 50]},
        "coupons": {"daily_limit": 1, "burn_date": "12-31"},
    }
    async with running(make_config(program=program), tmp_path, clock, emu):
        ann = emu.user(1001, "Ann", language_code="en")
        earn = await answer_to(ann, "💡 How do I earn points?")
        assert "2 points per whole $1.00 of a delivered order over $10.00" in earn
        assert "5, 50 for days 1–2 in a row, then 50 coins a day" in earn
        assert "invite" not in earn
        spend = await answer_to(ann, "🛍 How do I spend points?")
        assert "At most 1 coupon a day." in spend and "December 31" in spend


# --- free text -----------------------------------------------------------------------------


async def test_free_text_matches_an_faq_in_either_language(ann: Person, boris: Person) -> None:
    cases = [
        (ann, "How can I earn more points?", "How to earn points"),
        (ann, "can I use points for a coupon", "How to spend points"),
        (ann, "what perks does my LEVEL give", "Levels"),
        (ann, "my payment failed, where are my points??", "My payment failed"),
        (ann, "как заработать баллы", "How to earn points"),  # Russian words, English user
        (boris, "Как потратить баллы?", "Как потратить баллы"),
        (boris, "что дают уровни", "Уровни"),
        (boris, "Оплата не прошла, где мои баллы?", "Оплата не прошла"),
        (boris, "i didn’t get my points", "Не пришли баллы за заказ?"),
    ]
    for person, text, expected in cases:
        await person.send(text)
        assert expected in person.last_reply().text, text


async def test_anything_else_offers_the_faq_and_a_person(ann: Person, boris: Person) -> None:
    await ann.send("what's the weather like in Paris")
    reply = ann.last_reply()
    assert "not sure I understood" in reply.text
    assert reply.button_labels[:6] == QUESTIONS_EN
    await boris.send("какая сегодня погода")
    assert "Я не совсем понял вопрос" in boris.last_reply().text
    assert "💬 Написать оператору" in boris.last_reply().button_labels
    # "learn" is not "earn": keywords match at the start of a word.
    await ann.send("I want to learn more")
    assert "not sure I understood" in ann.last_reply().text


async def test_a_greeting_is_greeted_back_with_the_questions(ann: Person, boris: Person) -> None:
    for text in ("hello", "Hi!", "hey there", "Good morning", "hello, is anybody there"):
        await ann.send(text)
        reply = ann.last_reply()
        assert reply.text.startswith("👋 Hello! I'm the Marketplace points bot."), text
        assert reply.button_labels[:6] == QUESTIONS_EN
    for text in ("Привет", "добрый день!"):
        await boris.send(text)
        assert boris.last_reply().text.startswith("👋 Здравствуйте!"), text
    # A greeting with a question is the question: "hi" is also not the start of "history".
    await ann.send("hi, how do I earn points?")
    assert "How to earn points" in ann.last_reply().text
    await ann.send("history of my coupons please")
    assert "Hello!" not in ann.last_reply().text


async def test_when_do_my_points_expire(ann: Person, boris: Person) -> None:
    await ann.send("when do my points expire?")
    answer = ann.last_reply().text
    assert answer.startswith("⏳ What expires, and when")
    assert "Your points and coins do not expire" in answer
    assert "Your level counts only the points earned in the last 365 days" in answer
    assert "A coupon is valid for 30 days from the day it is issued." in answer
    assert "Every year all coupons burn at the end of June 30" in answer
    await ann.send("how long is my coupon valid until?")
    assert ann.last_reply().text == answer  # about coupons, but about their expiry first
    await boris.send("когда сгорят мои баллы?")
    assert "Баллы и монеты не сгорают" in boris.last_reply().text


async def test_commands_and_unknown_commands_are_not_free_text(
    ann: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await ann.send("/me")
    assert "your account" in ann.last_reply().text
    await ann.send("/earn")
    assert "I don't know that command" in ann.last_reply().text


# --- points missing for an order -----------------------------------------------------------


async def test_order_in_a_question_is_looked_up(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await delivered_order(bot_store, "m-1", 12_345, "A-1002")
    await ann.send("Points missing for order A-1002?")
    text = ann.last_reply().text
    assert "Order A-1002 for $123.45, placed 10 Mar 2026" in text
    assert "Status: delivered on 10 Mar 2026." in text
    assert "It earned 128 points" in text and "A review of it will earn 1 point." in text
    assert ann.last_reply().button_labels == [
        "🔎 Check another order", "💬 Talk to a person", "« All questions"
    ]  # fmt: skip


async def test_russian_order_question_and_statuses(boris: Person, bot_store: Store) -> None:
    await linked(bot_store, boris, "m-2")
    await send(bot_store, "order.placed", order_id="77", member_id="m-2", amount_cents=5_050)
    await boris.send("где баллы за заказ 77")
    text = plain(boris.last_reply().text)
    assert "Заказ 77 на 50,50 $" in text and "Статус: оформлен, ещё не оплачен." in text
    assert "Баллы придут, когда заказ доставят: вы получите 50 баллов." in text
    await send(bot_store, "order.paid", order_id="77")
    await boris.send("заказ №77")
    assert "Статус: оплачен, ещё не доставлен." in boris.last_reply().text
    await send(bot_store, "order.delivered", order_id="77")
    await grants.grant(bot_store, "m-2", -40, reason="spent", actor="t")  # 15 points left
    await send(bot_store, "order.returned", order_id="77")
    await boris.send("где баллы за заказ 77?")
    text = boris.last_reply().text
    assert "Статус: возвращён." in text
    assert "Он принёс 55 баллов; списано 15 баллов" in text
    assert "Ещё 40 баллов не списано: вы их уже потратили." in text


async def test_small_and_cancelled_orders(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await delivered_order(bot_store, "m-1", 150, "tiny-1")
    await ann.send("order tiny-1")
    assert "Orders of $2.00 or less earn no points." in ann.last_reply().text
    await send(bot_store, "order.placed", order_id="c-9", member_id="m-1", amount_cents=900)
    await send(bot_store, "order.cancelled", order_id="c-9")
    await ann.send("where are the points for order c-9")
    assert "Status: cancelled. A cancelled order earns no points." in ann.last_reply().text


async def test_choosing_the_faq_then_sending_just_the_number(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await delivered_order(bot_store, "m-1", 3_000, "10023")
    text = await answer_to(ann, "🔎 Points missing for an order?")
    assert "1 point per whole $1.00 of a delivered order over $2.00" in text
    assert "Send me the order number" in text
    await ann.send("#10023")
    assert "It earned 35 points" in ann.last_reply().text
    await ann.send("no idea, sorry")  # wrong input while a number is expected
    assert "send just the order number" in ann.last_reply().text
    await ann.send("10023")
    assert "Order 10023" in ann.last_reply().text
    await ann.send("1" * 4000 + "%")  # far too long for an order id (and no slow regex)
    assert "send just the order number" in ann.last_reply().text
    clock.advance(minutes=31)  # the question is long gone: a bare number is no longer an order
    await ann.send("10023")
    assert "not sure I understood" in ann.last_reply().text


async def test_another_members_order_is_not_found_like_an_unknown_one(
    ann: Person, boris: Person, bot_store: Store
) -> None:
    await linked(bot_store, ann)
    await linked(bot_store, boris, "m-2")
    await delivered_order(bot_store, "m-2", 99_900, "B-500")
    await ann.send("points missing for order B-500")
    theirs = ann.last_reply().text
    await ann.send("points missing for order B-501")
    unknown = ann.last_reply().text
    assert "could not find order B-500" in theirs
    assert theirs.replace("B-500", "X") == unknown.replace("B-501", "X")
    assert "999" not in theirs and "delivered" not in theirs
    await boris.send("где баллы за заказ B-500")
    assert "Заказ B-500" in boris.last_reply().text


async def test_unlinked_user_asking_about_an_order_is_asked_to_link(
    ann: Person, boris: Person, bot_store: Store
) -> None:
    await member(bot_store, "m-1")
    await delivered_order(bot_store, "m-1", 5_000, "o-5")
    await ann.send("points missing for order o-5")
    assert "not connected" in ann.last_reply().text
    await boris.send("/help")
    await boris.press("🔎 Не пришли баллы за заказ?")
    await boris.send("o-5")
    assert "не подключён" in boris.last_reply().text


async def test_vip_orders_show_holds_and_reviews(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config("vip-shop"), tmp_path, clock, emu) as store:
        vera = emu.user(2001, "Vera", language_code="en")
        await linked(store, vera, "v-1")
        await send(store, "member.email_verified", member_id="v-1")
        await grants.grant(store, "v-1", 20, reason="seed", actor="t")
        await send(store, "order.placed", order_id="P-1", member_id="v-1", amount_cents=20_000)
        await checkout.hold(store, "h-1", "v-1", "P-1", 6)
        await vera.send("my payment failed for order P-1")
        text = vera.last_reply().text
        assert "Status: placed, not paid yet." in text
        assert "In this programme an order earns no points by itself." in text
        assert "6 points of yours are held for it" in text
        await send(store, "order.cancelled", order_id="P-1")
        await vera.send("order P-1?")
        text = vera.last_reply().text
        assert "Status: cancelled." in text
        assert "Points held for it came back to your balance: 6 points." in text
        await delivered_order(store, "v-1", 45_000, "P-2")
        await vera.send("order P-2")
        assert "A review of it will earn 4 points." in vera.last_reply().text


async def test_free_text_in_a_group_is_left_alone(emu: TelegramEmulator, ann: Person) -> None:
    # Agents talk in their group: an FAQ answer there would reach the wrong people.
    agents = emu.supergroup(-1001234, "Agents", forum=True, members=[ann])
    await ann.send("how do I earn points?", chat=agents)
    assert agents.bot_messages() == []
