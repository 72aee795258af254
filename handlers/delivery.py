"""How each queued send of live chat is performed, and who hears when one cannot be.

The sender (`bot/sender.py`) calls `perform` for each chat's sends in order and waits out
429s itself; on a failure for good it calls `undelivered`, which tells whom it concerns: the
agents, in the topic, when a member did not get their message; the member when their message
could not reach the agents. Each kind of send is a small function of (bot, services, send).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, Forbidden

from handlers import desk, ui
from handlers.catalogue import Html, escape
from handlers.outgoing import member_text, member_unreachable, topic_note
from handlers.services import Services
from storage import tickets
from storage.logs import kv
from storage.sends import Send
from storage.tickets import Ticket

log = logging.getLogger(__name__)
T = TypeVar("T")
QUEUED = "queued"  # the rate limiter's mark for the send queue's requests (bot/ratelimit.py)
SEND_OPTIONS: dict[str, Any] = {"rate_limit_args": QUEUED}
# Sends to the member's chat: a failure is told to the agents in the ticket's topic.
TO_MEMBER = frozenset({"relay_out", "member_text"})


def copy_refused(error: BadRequest) -> bool:
    """Tell whether Telegram refused to copy the message (quiz, paid media, protected)."""
    text = error.message.lower()
    return "can't be copied" in text or "can't be forwarded" in text


def topic_closed(error: BadRequest) -> bool:
    """Tell whether Telegram refused because the topic is closed."""
    return "topic_closed" in error.message.lower()


async def in_topic(
    bot: Bot,
    services: Services,
    ticket: Ticket,
    post: Callable[[Ticket], Awaitable[T]],
    *,
    recreate: bool,
) -> T | None:
    """Run `post` in the ticket's topic: reopen a closed topic for it (and close it again),
    recreate a deleted one (`recreate`) or skip it (None)."""
    if ticket.thread_id is None:
        if not recreate:
            return None
        ticket = await desk.open_topic(bot, services, ticket)
    assert ticket.chat_id is not None and ticket.thread_id is not None
    try:
        return await post(ticket)
    except BadRequest as exc:
        if topic_closed(exc):
            # The bot may post in a closed topic only with can_manage_topics; it may reopen a
            # topic it created without it. Reopen, post, and close again if the ticket is.
            await bot.reopen_forum_topic(ticket.chat_id, ticket.thread_id, **SEND_OPTIONS)
            try:
                return await post(ticket)
            finally:
                if not (await tickets.get(services.store, ticket.id)).is_open:
                    await bot.close_forum_topic(ticket.chat_id, ticket.thread_id, **SEND_OPTIONS)
        if not desk.thread_gone(exc):
            raise
        if not recreate:
            log.info(
                "note skipped",
                extra=kv(event="note_skipped", ticket=ticket.id, reason="topic_gone"),
            )
            return None
        # Agents deleted the topic: this message recreates it and the conversation goes on.
        log.info("topic gone", extra=kv(event="topic_gone", ticket=ticket.id))
        ticket = await desk.open_topic(bot, services, ticket, replacing=ticket.thread_id)
        return await post(ticket)


def _ticket_id(send: Send) -> int:
    assert send.ticket_id is not None, f"send {send.id} ({send.kind}) has no ticket"
    return send.ticket_id


def _kind(payload: dict[str, Any]) -> str:
    """Return the agent- or member-facing name key of a message's kind."""
    return str(payload.get("kind") or "other")


async def _relay_in(bot: Bot, services: Services, send: Send) -> None:
    p = send.payload
    ticket = await tickets.get(services.store, _ticket_id(send))

    async def post(here: Ticket) -> int:
        chat, thread = here.chat_id, here.thread_id
        assert chat is not None and thread is not None
        if p["text"] is not None:
            sent = await bot.send_message(
                chat, escape(p["text"]), message_thread_id=thread, **SEND_OPTIONS
            )
            return sent.message_id
        try:
            copied = await bot.copy_message(
                chat, p["from_chat"], p["message"], message_thread_id=thread, **SEND_OPTIONS
            )
        except BadRequest as exc:
            if not copy_refused(exc):
                raise
            # Telegram will not copy it (a quiz, paid media): the agents hear what it was.
            what = desk.agent_text(services, f"agents.kind_{_kind_key(p)}")
            note = desk.agent_text(services, "agents.member_sent_uncopyable", kind=what)
            sent = await bot.send_message(chat, note, message_thread_id=thread, **SEND_OPTIONS)
            return sent.message_id
        return copied.message_id

    copy_id = await in_topic(bot, services, ticket, post, recreate=True)
    if copy_id is not None:
        await tickets.set_copy(services.store, p["from_chat"], p["message"], copy_id)


def _kind_key(payload: dict[str, Any]) -> str:
    kind = _kind(payload)
    return kind if kind in UNCOPYABLE_KINDS else "other"


UNCOPYABLE_KINDS = frozenset({"quiz", "poll", "paid_media"})


async def _markup(
    services: Services, ticket: Ticket, name: str | None
) -> InlineKeyboardMarkup | None:
    if name is None:
        return None
    _, profile = await desk.ticket_member(services, ticket)
    lang = desk.member_language(services, profile)
    if name == "rating":
        return desk.rating_keyboard(services, ticket.id, lang)
    return desk.solved_keyboard(services, ticket.id, lang)


async def _relay_out(bot: Bot, services: Services, send: Send) -> None:
    p = send.payload
    ticket = await tickets.get(services.store, _ticket_id(send))
    markup = await _markup(services, ticket, "solved")
    try:
        copied = await bot.copy_message(
            send.chat_id, p["from_chat"], p["message"], reply_markup=markup, **SEND_OPTIONS
        )
    except BadRequest as exc:
        if not copy_refused(exc):
            raise
        # The member hears that something came they cannot see; the agents, that it did not.
        _, profile = await desk.ticket_member(services, ticket)
        lang = desk.member_language(services, profile)
        texts = services.texts
        what = texts.text(f"support.kind_{_kind_key(p)}", lang)
        await bot.send_message(
            send.chat_id,
            texts.text("support.agent_sent_uncopyable", lang, kind=what),
            reply_markup=markup,
            **SEND_OPTIONS,
        )
        what = desk.agent_text(services, f"agents.kind_{_kind_key(p)}")
        await topic_note(
            services, ticket, desk.agent_text(services, "agents.agent_sent_uncopyable", kind=what)
        )
        return
    await _record(services, ticket, p, copied.message_id, kind=_kind(p))


async def _record(
    services: Services, ticket: Ticket, p: dict[str, Any], copy_id: int, *, kind: str
) -> None:
    await tickets.record_message(
        services.store,
        ticket.id,
        direction="agent",
        kind=kind,
        author_id=p["author"],
        source_chat_id=p["from_chat"],
        source_message_id=p["message"],
        copy_chat_id=ticket.telegram_user_id,
        copy_message_id=copy_id,
        text=p.get("text"),
        file_id=p.get("file_id"),
    )


async def _member_text(bot: Bot, services: Services, send: Send) -> None:
    p = send.payload
    ticket = await tickets.get(services.store, _ticket_id(send))
    sent = await bot.send_message(
        send.chat_id,
        p["text"],
        reply_markup=await _markup(services, ticket, p.get("markup")),
        protect_content=p.get("protect") or None,
        **SEND_OPTIONS,
    )
    record = p.get("record")
    if record is not None:
        await _record(services, ticket, record, sent.message_id, kind="text")


async def _reply(bot: Bot, services: Services, send: Send) -> None:
    # An answer Telegram did not take when the handler sent it (handlers/ui.py `_send_later`).
    await ui.call(bot, "sendMessage", {**send.payload, "chat_id": send.chat_id}, **SEND_OPTIONS)


async def _topic_note(bot: Bot, services: Services, send: Send) -> None:
    ticket = await tickets.get(services.store, _ticket_id(send))
    await _note(bot, services, ticket, send.payload["text"])


async def _note(bot: Bot, services: Services, ticket: Ticket, text: Html) -> None:
    async def post(here: Ticket) -> Message:
        assert here.chat_id is not None
        return await bot.send_message(
            here.chat_id, text, message_thread_id=here.thread_id, **SEND_OPTIONS
        )

    await in_topic(bot, services, ticket, post, recreate=False)


async def _group_text(bot: Bot, services: Services, send: Send) -> None:
    thread, text = send.payload["thread"], send.payload["text"]
    ticket = None
    if thread is not None:
        ticket = await tickets.by_topic(services.store, send.chat_id, thread)
    if ticket is not None:
        await _note(bot, services, ticket, text)
        return
    try:
        await bot.send_message(send.chat_id, text, message_thread_id=thread, **SEND_OPTIONS)
    except BadRequest as exc:
        if thread is None or not desk.thread_gone(exc):
            raise
        log.info("answer skipped", extra=kv(event="group_text_skipped", reason="topic_gone"))


async def _card(bot: Bot, services: Services, send: Send) -> None:
    ticket = await tickets.get(services.store, _ticket_id(send))

    async def post(here: Ticket) -> Message:
        return await desk.post_card(bot, services, here)

    await in_topic(bot, services, ticket, post, recreate=False)


async def _finish(bot: Bot, services: Services, send: Send) -> None:
    await desk.finish_topic(bot, services, await tickets.get(services.store, _ticket_id(send)))


async def _rename(bot: Bot, services: Services, send: Send) -> None:
    ticket = await tickets.get(services.store, _ticket_id(send))
    if ticket.chat_id is None or ticket.thread_id is None:
        return
    name = await desk.topic_name(services, ticket)
    try:
        await bot.edit_forum_topic(ticket.chat_id, ticket.thread_id, name=name, **SEND_OPTIONS)
    except BadRequest as exc:
        log.info(
            "topic not renamed",
            extra=kv(event="topic_rename_skipped", ticket=ticket.id, error=exc.message),
        )
        return
    await tickets.rename_topic(services.store, ticket.id, name)


Performer = Callable[[Bot, Services, Send], Awaitable[None]]
PERFORMERS: dict[str, Performer] = {
    "relay_in": _relay_in,
    "relay_out": _relay_out,
    "member_text": _member_text,
    ui.REPLY: _reply,
    "topic_note": _topic_note,
    "group_text": _group_text,
    "card": _card,
    "finish": _finish,
    "rename": _rename,
}


async def perform(bot: Bot, services: Services, send: Send) -> None:
    """Perform one queued send (Telegram's errors propagate to the sender)."""
    await PERFORMERS[send.kind](bot, services, send)


def reason_of(error: BaseException) -> str:
    """Return why a send failed, short, for the row and the agents (no token: no URL)."""
    if isinstance(error, Forbidden):
        return "blocked" if "blocked" in error.message.lower() else error.message
    if isinstance(error, BadRequest):
        return error.message
    return type(error).__name__


async def undelivered(bot: Bot, services: Services, send: Send, error: BaseException) -> None:
    """A send failed for good: tell whom it concerns (the topic, or the member)."""
    reason = reason_of(error)
    log.warning(
        "send failed",
        extra=kv(event="send_failed", kind=send.kind, ticket=send.ticket_id, reason=reason[:80]),
    )
    if send.ticket_id is None:
        return
    ticket = await tickets.get(services.store, send.ticket_id)
    if send.kind in TO_MEMBER:
        if isinstance(error, Forbidden):
            if not await member_unreachable(services, ticket):
                note = desk.agent_text(services, "agents.undelivered_blocked")
                await topic_note(services, ticket, note)
        else:
            await topic_note(
                services, ticket, desk.agent_text(services, "agents.undelivered", reason=reason)
            )
    elif send.kind == "relay_in":
        # The agents' chat is unusable (not a forum, no topic rights, the bot was removed):
        # an operator must fix the configuration; the member hears their message did not go.
        log.error(
            "agent chat unusable",
            extra=kv(event="agent_chat_unusable", ticket=ticket.id, error=reason[:80]),
        )
        _, profile = await desk.ticket_member(services, ticket)
        lang = desk.member_language(services, profile)
        await member_text(services, ticket, services.texts.text("support.not_passed_on", lang))
