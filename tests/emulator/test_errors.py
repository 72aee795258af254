"""Every error the product can meet comes back as PTB's exception with Telegram's text."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken

from telegram_emulator import ManualClock, Person, TelegramEmulator
from telegram_emulator.request import EmulatorRequest
from tests.emulator.conftest import api_error


def keyboard(*data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(d, callback_data=d)] for d in data])


async def test_empty_text(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    for text in ("", "  \n ", "<b></b>"):
        with api_error(emu, BadRequest, 400, "Bad Request: message text is empty"):
            await bot.send_message(started.id, text, parse_mode="HTML")


async def test_text_longer_than_4096_characters(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    await bot.send_message(started.id, "é" * 4096)  # characters count, not bytes
    with api_error(emu, BadRequest, 400, "Bad Request: message is too long"):
        await bot.send_message(started.id, "x" * 4097)
    # The limit applies to the visible text, after the HTML tags are gone.
    await bot.send_message(started.id, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")


async def test_callback_data_over_64_bytes(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    await bot.send_message(started.id, "ok", reply_markup=keyboard("x" * 64))
    with api_error(emu, BadRequest, 400, "Bad Request: BUTTON_DATA_INVALID"):
        await bot.send_message(started.id, "no", reply_markup=keyboard("é" * 33))  # 66 bytes


async def test_more_than_100_buttons(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    await bot.send_message(started.id, "ok", reply_markup=keyboard(*map(str, range(100))))
    with api_error(emu, BadRequest, 400, "Bad Request: REPLY_MARKUP_TOO_LONG"):
        await bot.send_message(started.id, "no", reply_markup=keyboard(*map(str, range(101))))


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        (
            {"inline_keyboard": [{"text": "a", "callback_data": "a"}]},
            'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an '
            "Array of Arrays",
        ),
        (
            {"inline_keyboard": [[{"text": "label only"}]]},
            "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the "
            "inline keyboard",
        ),
        (
            {"inline_keyboard": [[{"callback_data": "x"}]]},
            "Bad Request: can't parse inline keyboard button: Can't find field \"text\"",
        ),
        ({"nothing": True}, "Bad Request: can't parse reply keyboard markup JSON object"),
    ],
)
@pytest.mark.filterwarnings("ignore:Please use 'Bot.send_message'")
async def test_bad_keyboards(
    emu: TelegramEmulator, bot: Bot, started: Person, markup: dict[str, Any], description: str
) -> None:
    # PTB's own classes refuse to build these, so send the raw JSON as a forged client would.
    with api_error(emu, BadRequest, 400, description):
        await bot.do_api_request(
            "send_message",
            api_kwargs={"chat_id": started.id, "text": "x", "reply_markup": markup},
        )


async def test_message_to_edit_not_found(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    description = "Bad Request: message to edit not found"
    with api_error(emu, BadRequest, 400, description):
        await bot.edit_message_text("new", chat_id=started.id, message_id=999)
    sent = await bot.send_message(started.id, "old")
    await sent.delete()
    with api_error(emu, BadRequest, 400, description):
        await sent.edit_text("new")


async def test_message_is_not_modified(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    sent = await bot.send_message(
        started.id, "<b>same</b>", parse_mode="HTML", reply_markup=keyboard("a")
    )
    description = (
        "Bad Request: message is not modified: specified new message content and reply markup "
        "are exactly the same as a current content and reply markup of the message"
    )
    with api_error(emu, BadRequest, 400, description):
        # Different HTML, same visible text and entities: Telegram compares the result.
        await sent.edit_text("<strong>same</strong>", parse_mode="HTML", reply_markup=keyboard("a"))
    with api_error(emu, BadRequest, 400, description):
        await sent.edit_reply_markup(keyboard("a"))
    # Without reply_markup an edit removes the keyboard, so that one is a change.
    edited = await sent.edit_text("<b>same</b>", parse_mode="HTML")
    assert edited.reply_markup is None
    assert started.last_reply().buttons == []


async def test_chat_not_found(emu: TelegramEmulator, bot: Bot) -> None:
    with api_error(emu, BadRequest, 400, "Bad Request: chat not found"):
        await bot.send_message(424242, "hello?")
    with api_error(emu, BadRequest, 400, "Bad Request: chat not found"):
        await bot.get_chat(-100999)


async def test_message_thread_not_found(emu: TelegramEmulator, bot: Bot) -> None:
    group = emu.supergroup(-1002, "Agents", forum=True)
    description = "Bad Request: message thread not found"
    with api_error(emu, BadRequest, 400, description):
        await bot.send_message(group.chat_id, "x", message_thread_id=999)
    topic = await bot.create_forum_topic(group.chat_id, "Ticket 1")
    await bot.send_message(group.chat_id, "first", message_thread_id=topic.message_thread_id)
    emu.delete_topic(group, topic.message_thread_id)
    with api_error(emu, BadRequest, 400, description):
        await bot.send_message(group.chat_id, "again", message_thread_id=topic.message_thread_id)
    assert group.messages(topic.message_thread_id) == []


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<p>para</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("é <b>x</i>", 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ],
)
async def test_bad_html(
    emu: TelegramEmulator, bot: Bot, started: Person, html: str, reason: str
) -> None:
    with api_error(emu, BadRequest, 400, f"Bad Request: can't parse entities: {reason}"):
        await bot.send_message(started.id, html, parse_mode="HTML")


async def test_good_html_keeps_source_and_visible_text(bot: Bot, started: Person) -> None:
    html = (
        "<b>B</b> <strong>S</strong> <i>I</i> <em>E</em> <u>U</u> <ins>N</ins> <s>S</s> "
        '<strike>K</strike> <del>D</del> <span class="tg-spoiler">P</span> '
        '<tg-spoiler>Q</tg-spoiler> <a href="https://t.me/x?a=1&amp;b=2">link</a> <code>c</code> '
        '<pre><code class="language-python">print(1)</code></pre> <blockquote>quote</blockquote> '
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> 1 &lt; 2 &amp;&amp; 3 &gt; 2'
    )
    sent = await bot.send_message(started.id, html, parse_mode="HTML")
    view = started.last_reply()
    assert view.html == html
    assert view.text == "B S I E U N S K D P Q link c print(1) quote 👍 1 < 2 && 3 > 2"
    kinds = [e.type for e in sent.entities]
    assert kinds.count("bold") == 2 and kinds.count("spoiler") == 2
    link = next(e for e in sent.entities if e.type == "text_link")
    assert link.url == "https://t.me/x?a=1&b=2"
    pre = next(e for e in sent.entities if e.type == "pre")
    assert pre.language == "python"
    assert sent.parse_entity(link) == "link"  # offsets are right in UTF-16 units


async def test_unknown_or_reused_callback_query(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    description = (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    with api_error(emu, BadRequest, 400, description):
        await bot.answer_callback_query("12345")
    await started.send("/menu")
    answer = await started.press("Coupons")  # the sample bot answers it
    assert answer is not None and answer.show_alert
    query_id = emu.update_log[-1]["callback_query"]["id"]
    with api_error(emu, BadRequest, 400, description):
        await bot.answer_callback_query(query_id, "twice")


async def test_callback_query_expires_on_the_clock(
    emu: TelegramEmulator, bot: Bot, started: Person, clock: ManualClock
) -> None:
    emu.disconnect()  # let the press go unanswered
    await bot.send_message(started.id, "menu", reply_markup=keyboard("a"))
    assert await started.press("a", timeout=0) is None
    query_id = emu.update_log[-1]["callback_query"]["id"]
    clock.advance(16)
    with api_error(
        emu,
        BadRequest,
        400,
        "Bad Request: query is too old and response timeout expired or query ID is invalid",
    ):
        await bot.answer_callback_query(query_id)


async def test_blocked_user_is_forbidden(emu: TelegramEmulator, bot: Bot, started: Person) -> None:
    started.block()
    with api_error(emu, Forbidden, 403, "Forbidden: bot was blocked by the user"):
        await bot.send_message(started.id, "still there?")
    with api_error(emu, Forbidden, 403, "Forbidden: bot was blocked by the user"):
        await bot.send_photo(started.id, emu.new_photo().file_id)
    started.unblock()
    await bot.send_message(started.id, "welcome back")


async def test_bot_cannot_initiate_a_conversation(emu: TelegramEmulator, bot: Bot) -> None:
    bob = emu.user(2002, "Bob")
    with api_error(emu, Forbidden, 403, "Forbidden: bot can't initiate conversation with a user"):
        await bot.send_message(bob.id, "hi Bob")
    await bob.send("hello")  # the echo reply is the bot's first message to Bob
    assert bob.last_reply().text == "hello"


async def test_unknown_method_is_404(emu: TelegramEmulator, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("launch_rockets")
    status, body = await emu.handle(emu.token, "launchRockets", {})
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


async def test_wrong_token(emu: TelegramEmulator) -> None:
    status, body = await emu.handle("654321:WRONG", "getMe", {})
    assert (status, body["description"]) == (401, "Unauthorized")
    status, _ = await emu.handle("not-a-token", "getMe", {})
    assert status == 404
    stranger = Bot("654321:WRONG", request=EmulatorRequest(emu))
    with pytest.raises(InvalidToken):
        await stranger.get_me()


@pytest.mark.parametrize(
    ("call", "description"),
    [
        (
            lambda bot, chat: bot.send_photo(chat, "AgAC-no-such-file"),
            "Bad Request: wrong file identifier/HTTP URL specified",
        ),
        (
            lambda bot, chat: bot.send_message(chat, "x", parse_mode="Bogus"),
            "Bad Request: unsupported parse_mode",
        ),
        (
            lambda bot, chat: bot.send_chat_action(chat, "dancing"),
            "Bad Request: wrong parameter action in request",
        ),
        (
            lambda bot, chat: bot.send_message(chat, "x", reply_to_message_id=777),
            "Bad Request: message to be replied not found",
        ),
        (
            lambda bot, chat: bot.delete_message(chat, 777),
            "Bad Request: message to delete not found",
        ),
        (
            lambda bot, chat: bot.copy_message(chat, chat, 777),
            "Bad Request: message to copy not found",
        ),
        (
            lambda bot, chat: bot.pin_chat_message(chat, 777),
            "Bad Request: message to pin not found",
        ),
        (
            lambda bot, chat: bot.create_forum_topic(chat, "Topic"),
            "Bad Request: the chat is not a forum",
        ),
    ],
)
async def test_more_bad_requests(
    emu: TelegramEmulator, bot: Bot, started: Person, call: Any, description: str
) -> None:
    with api_error(emu, BadRequest, 400, description):
        await call(bot, started.id)


async def test_file_of_the_wrong_type_and_long_caption(
    emu: TelegramEmulator, bot: Bot, started: Person
) -> None:
    document = emu.new_file("document", 10, file_name="a.pdf", mime_type="application/pdf")
    with api_error(emu, BadRequest, 400, "Bad Request: can't use file of type Document as Photo"):
        await bot.send_photo(started.id, document.file_id)
    with api_error(emu, BadRequest, 400, "Bad Request: message caption is too long"):
        await bot.send_document(started.id, document.file_id, caption="c" * 1025)
