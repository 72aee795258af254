"""What live chat says, queued: relays both ways, notes, answers and topic changes.

Handlers never wait for the agents' group's budget (20 messages a minute, topic creation and
pins included) or for a member's chat: they queue the send (`storage/sends.py`) and return;
the sender (`bot/sender.py`) performs each chat's sends in order (`handlers/delivery.py`).
Texts are rendered when the send is queued (in the language of the moment); keyboards when
it is performed.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Message

from handlers import desk
from handlers.catalogue import Html, join
from handlers.services import Services
from storage import sends, telegram_users, tickets
from storage.logs import kv
from storage.sends import Queued
from storage.tickets import Ticket

log = logging.getLogger(__name__)


# -- queueing (handlers call these) --------------------------------------------------------


async def _queue(
    services: Services,
    chat_id: int,
    kind: str,
    payload: dict[str, Any],
    ticket: int | None,
    key: str | None = None,
) -> None:
    await sends.enqueue(services.store, chat_id, kind, payload, ticket_id=ticket, dedupe_key=key)
    services.wake_sender()


def relay_in(services: Services, message: Message, *, text: str | None = None) -> Queued:
    """Return the send that copies a member message into its ticket's topic (created first
    when it has none), to queue with the message's record (`tickets.record_message`)."""
    payload = {
        "from_chat": message.chat.id,
        "message": message.message_id,
        "text": text,
        "kind": "text" if text is not None else desk.message_kind(message),
    }
    return Queued(services.support.agent_chat_id, "relay_in", payload)


async def relay_out(services: Services, ticket: Ticket, message: Message, author_id: int) -> None:
    """Queue an agent's topic message for the member; it is recorded once delivered."""
    payload = {
        "from_chat": message.chat.id,
        "message": message.message_id,
        "kind": desk.message_kind(message),
        "author": author_id,
        "text": message.text or message.caption,
        "file_id": desk.file_id(message),
    }
    # Keyed by the agent's message: a redelivered update does not reach the member twice.
    key = f"relay_out:{message.chat.id}:{message.message_id}"
    await _queue(services, ticket.telegram_user_id, "relay_out", payload, ticket.id, key)


async def member_text(
    services: Services,
    ticket: Ticket,
    text: Html,
    *,
    markup: str | None = None,
    protect: bool = False,
    record: dict[str, Any] | None = None,
    key: str | None = None,
) -> None:
    """Queue a text for the ticket's member; `markup` names a keyboard ("solved", "rating");
    `record` (source chat, message, author, text) is recorded as an agent message once sent;
    `key` names its cause (an agent's command), so the same cause queues it once."""
    send = _member_text(ticket, text, markup=markup, protect=protect, record=record)
    await _queue(services, send.chat_id, send.kind, send.payload, ticket.id, key)


def _member_text(
    ticket: Ticket,
    text: Html,
    *,
    markup: str | None = None,
    protect: bool = False,
    record: dict[str, Any] | None = None,
) -> Queued:
    payload = {"text": text, "markup": markup, "protect": protect, "record": record}
    return Queued(ticket.telegram_user_id, "member_text", payload)


async def topic_note(services: Services, ticket: Ticket, text: Html) -> None:
    """Queue a note in the ticket's topic (none is posted if the ticket never had one)."""
    await _queue(services, services.support.agent_chat_id, "topic_note", {"text": text}, ticket.id)


async def group_text(
    services: Services, thread_id: int | None, text: Html, *, key: str | None = None
) -> None:
    """Queue an answer in the agents' chat: in a topic, or the General topic (None); `key`
    names its cause, so the same cause queues it once."""
    payload = {"thread": thread_id, "text": text}
    await _queue(services, services.support.agent_chat_id, "group_text", payload, None, key)


async def topic_action(services: Services, ticket: Ticket, kind: str) -> None:
    """Queue "card" (a fresh pinned card), "finish" (✅ and closed) or "rename" for a topic."""
    await _queue(services, services.support.agent_chat_id, kind, {}, ticket.id)


async def member_unreachable(services: Services, ticket: Ticket) -> bool:
    """The member blocked the bot: mark them unreachable, close the ticket, tell the agents.

    Returns False when the ticket was closed already (the agents were told then).
    """
    await telegram_users.update(services.store, ticket.telegram_user_id, unreachable=True)
    note = desk.agent_text(services, "agents.member_blocked")
    _, now_closed = await tickets.close(
        services.store, ticket.id, by="blocked", then=_closing(services, note)
    )
    log.info("member blocked the bot", extra=kv(event="ticket_member_blocked", ticket=ticket.id))
    services.wake_sender()
    return now_closed


def _closing(services: Services, note: Html) -> list[Queued]:
    """Return the sends that tell the agents a ticket closed: the note, then ✅ on the topic."""
    chat = services.support.agent_chat_id
    return [Queued(chat, "topic_note", {"text": note}), Queued(chat, "finish", {})]


async def close_ticket(
    services: Services, ticket: Ticket, *, by: str, agent_name: str | None = None
) -> bool:
    """Close a ticket from either side: note and mark the topic, ask the member for a rating.

    Returns False if it was closed already (a second /close or a stale button).
    """
    if agent_name is not None:
        note = desk.agent_text(services, "agents.closed_by_agent", agent=agent_name)
    else:
        note = desk.agent_text(services, "agents.closed_by_member")
    _, profile = await desk.ticket_member(services, ticket)
    lang = desk.member_language(services, profile)
    texts = services.texts
    key = "support.closed_by_agent" if agent_name is not None else "support.closed_by_member"
    message = texts.text(key, lang, ticket=ticket.id)
    markup = None
    if ticket.first_message_at is not None:  # nothing to rate when nothing was asked
        message = join([message, texts.text("support.rate_prompt", lang)], "\n\n")
        markup = "rating"
    # Closed and said in one transaction: a crash never leaves a silent close.
    then = [*_closing(services, note), _member_text(ticket, message, markup=markup)]
    closed, now_closed = await tickets.close(services.store, ticket.id, by=by, then=then)
    if not now_closed:
        return False
    log.info(
        "ticket closed", extra=kv(event="ticket_closed", ticket=closed.id, by=by.split(":", 1)[0])
    )
    services.wake_sender()
    return True
