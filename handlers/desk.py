"""The agents' desk: a ticket's forum topic, its member card, notes, and sends to the member.

Shared by the member side (`handlers/support.py`: the relay into the topic, "problem solved",
ratings) and the agent side (`handlers/agents.py`: the relay to the member, /close, /card...).
Agent-facing texts are in `support.language`; member-facing ones in the member's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import secrets
import weakref
from collections.abc import AsyncIterator, MutableMapping
from datetime import timedelta
from typing import Any, TypeVar

from telegram import Bot, InlineKeyboardMarkup, Message
from telegram.error import BadRequest, TelegramError

from handlers.catalogue import LANGUAGES, Html, join
from handlers.formatting import moment, money, number
from handlers.services import Services
from handlers.ui import button, keyboard
from storage import leases, members, telegram_users, tickets
from storage.errors import NotFound
from storage.logs import kv
from storage.member_card import MemberCard, member_card
from storage.store import Store
from storage.telegram_users import Profile
from storage.tickets import Ticket

log = logging.getLogger(__name__)
T = TypeVar("T")
MAX_TOPIC_NAME = 128  # Telegram's limit for a forum topic's name
TRANSCRIPT_MESSAGES = 10
TRANSCRIPT_CHARS = 300
_LOCKS_KEY = "support_locks"


# -- texts ---------------------------------------------------------------------------------


def agent_text(services: Services, key: str, **values: Any) -> Html:
    """Return an agent-facing text in the support language."""
    return services.texts.text(key, services.support.language, **values)


def plain(text: Html) -> str:
    """Return catalogue HTML as plain text (topic names are not HTML)."""
    return html.unescape(text)


def member_language(services: Services, profile: Profile) -> str:
    """Return a member's language the way the bot talks to them (their choice, else Telegram's)."""
    if profile.language in LANGUAGES:
        return profile.language
    code = (profile.telegram_language or "")[:2].lower()
    return code if code in LANGUAGES else services.default_language


def solved_keyboard(services: Services, ticket_id: int, language: str) -> InlineKeyboardMarkup:
    """Return the member's "problem solved" button for a ticket."""
    label = services.texts.text("support.solved_button", language)
    return keyboard([button(label, f"sup:solved:{ticket_id}")])


def rating_keyboard(services: Services, ticket_id: int, language: str) -> InlineKeyboardMarkup:
    """Return the 1..5 rating buttons for a closed ticket."""
    return keyboard(
        [
            button(
                services.texts.text("support.rate_label", language, n=n),
                f"sup:rate:{ticket_id}:{n}",
            )
            for n in range(1, 6)
        ]
    )


def topic_url(chat_id: int, thread_id: int) -> str:
    """Return the t.me link to a forum topic of a supergroup (-100... ids)."""
    internal = (
        str(chat_id).removeprefix("-100") if str(chat_id).startswith("-100") else str(-chat_id)
    )
    return f"https://t.me/c/{internal}/{thread_id}"


def ticket_link(ticket: Ticket) -> Html:
    """Return "#N", linked to the ticket's topic when it has one."""
    label = f"#{ticket.id}"
    if ticket.chat_id is None or ticket.thread_id is None:
        return Html(label)
    return Html(f'<a href="{topic_url(ticket.chat_id, ticket.thread_id)}">{label}</a>')


def message_kind(message: Message) -> str:
    """Return what a message carries: text, photo, document, voice, or another attachment."""
    if message.text is not None:
        return "text"
    if message.poll is not None:
        return "quiz" if message.poll.type == "quiz" else "poll"
    if message.paid_media is not None:
        return "paid_media"
    for kind in ("photo", "document", "voice"):
        if getattr(message, kind):
            return kind
    attachment = message.effective_attachment
    return type(attachment).__name__.lower() if attachment is not None else "other"


def file_id(message: Message) -> str | None:
    """Return the Telegram file_id a message carries (the largest photo size), if any."""
    if message.photo:
        return message.photo[-1].file_id
    attachment = message.effective_attachment
    return getattr(attachment, "file_id", None)


# -- per-member serialisation --------------------------------------------------------------


# How long a member's relay lease lasts: longer than opening a topic and copying a message
# takes, even waiting out a flood limit; a worker that died holding it blocks no longer.
RELAY_TERM = timedelta(seconds=30)
RELAY_POLL = (0.02, 0.5)  # first and longest pause between tries for a lease another holds


def _local_lock(bot_data: MutableMapping[Any, Any], telegram_user_id: int) -> asyncio.Lock:
    """Return this process's lock for one member.

    Weak values: a lock lives only while a handler holds it, so idle members cost nothing.
    """
    locks: weakref.WeakValueDictionary[int, asyncio.Lock] = bot_data.setdefault(
        _LOCKS_KEY, weakref.WeakValueDictionary()
    )
    lock = locks.get(telegram_user_id)
    if lock is None:
        lock = asyncio.Lock()
        locks[telegram_user_id] = lock
    return lock


@contextlib.asynccontextmanager
async def member_lock(
    bot_data: MutableMapping[Any, Any], store: Store, telegram_user_id: int
) -> AsyncIterator[None]:
    """Serialise one member's relay across every worker (one topic per ticket, order kept).

    Within a process an asyncio lock queues the member's handlers without touching the
    database; across processes a lease (`relay:<id>`, storage/leases.py) does, taken by the
    lock's holder. A lease left by a dead worker expires after RELAY_TERM; a wait longer
    than that goes on without the lease rather than never answering.
    """
    async with _local_lock(bot_data, telegram_user_id):
        name, holder = f"relay:{telegram_user_id}", secrets.token_hex(8)
        pause, waited, held = RELAY_POLL[0], 0.0, False
        while True:
            held = await leases.acquire(store, name, holder, RELAY_TERM) is not None
            if held or waited > RELAY_TERM.total_seconds():
                break
            # Another worker relays this member's message now: a short wait, not a queue.
            await asyncio.sleep(pause)
            waited += pause
            pause = min(pause * 2, RELAY_POLL[1])
        if not held:
            log.warning("relay lease not taken", extra=kv(event="relay_lease_timeout"))
        try:
            yield
        finally:
            if held:
                await leases.release(store, name, holder)


# -- the member card and the topic ---------------------------------------------------------


async def ticket_member(services: Services, ticket: Ticket) -> tuple[str | None, Profile]:
    """Return the member behind a ticket (the current link, else the one at opening)."""
    profile = await telegram_users.profile(services.store, ticket.telegram_user_id)
    return profile.member_id or ticket.member_id, profile


def subject_text(services: Services, subject: str | None) -> Html:
    """Return the agent-facing name of a ticket's subject."""
    return agent_text(services, f"agents.subject_{subject or 'none'}")


async def topic_name(services: Services, ticket: Ticket) -> str:
    """Name a topic so agents can scan the list: number, member name, level, subject."""
    member_id, _ = await ticket_member(services, ticket)
    level = plain(agent_text(services, "agents.not_linked_short"))
    if member_id is not None:
        with contextlib.suppress(NotFound):
            level = (await members.view(services.store, member_id)).tier.name
    subject = f" · {plain(subject_text(services, ticket.subject))}" if ticket.subject else ""
    # Topic names are plain text: the values are not HTML-escaped here.
    name = f"#{ticket.id} {ticket.display_name} · {level}{subject}"
    return name[:MAX_TOPIC_NAME]


def render_card(services: Services, card: MemberCard) -> Html:
    """Render the member card: who, shop id, level, balances, coupons, ledger, holds, history."""
    lang, ticket, view = services.support.language, card.ticket, card.member
    program = services.store.program
    zone = program.timezone

    def t(key: str, **values: Any) -> Html:
        return agent_text(services, f"agents.{key}", **values)

    def points(n: int) -> Html:
        return services.texts.plural("coupons.points", n, lang)

    username = f" (@{ticket.username})" if ticket.username else ""
    lines = [
        t("card_title", ticket=ticket.id, subject=subject_text(services, ticket.subject)),
        t(
            "card_user",
            name=ticket.display_name,
            username=username,
            telegram_id=ticket.telegram_user_id,
            member_language=member_language(services, card.profile),
        ),
    ]
    if view is None:
        lines.append(t("card_not_linked"))
    else:
        lines += [
            t(
                "card_shop_id",
                member_id=view.member_id,
                shop_name=f" · {view.name}" if view.name else "",
            ),
            t("card_level", level=view.tier.name),
            t("card_balances", points=number(view.points, lang), coins=number(view.coins, lang)),
        ]
        if card.coupons:
            lines.append(t("card_coupons"))
            lines += [
                t(
                    "card_coupon",
                    value=money(c.value_cents, program.currency, lang),
                    code=c.code,
                    expires=moment(c.expires_at, zone, lang),
                )
                for c in card.coupons
            ]
        else:
            lines.append(t("card_no_coupons"))
        if card.ledger:
            lines.append(t("card_ledger"))
            for entry in card.ledger:
                unit = services.texts.plural(f"coupons.{entry.currency}", abs(entry.amount), lang)
                sign = "+" if entry.amount > 0 else ("−" if entry.amount < 0 else "")
                lines.append(
                    t(
                        "card_ledger_row",
                        when=moment(entry.created_at, zone, lang),
                        amount=f"{sign}{unit}",
                        reason=entry.reason,
                        ref=f" · {entry.ref}" if entry.ref else "",
                    )
                )
        else:
            lines.append(t("card_no_ledger"))
        if card.holds:
            lines.append(t("card_holds"))
            lines += [
                t(
                    "card_hold",
                    points=points(h.hold.points),
                    order=h.hold.order_id,
                    since=moment(h.since, zone, lang),
                )
                for h in card.holds
            ]
        else:
            lines.append(t("card_no_holds"))
    previous = card.previous
    if previous is not None:
        closed = moment(previous.closed_at, zone, lang) if previous.closed_at else "—"
        if previous.rating is not None:
            lines.append(
                t(
                    "card_previous_rated",
                    link=ticket_link(previous),
                    closed=closed,
                    rating=previous.rating,
                )
            )
        else:
            lines.append(t("card_previous", link=ticket_link(previous), closed=closed))
    lines += [Html(""), t("card_updated", when=moment(card.read_at, zone, lang))]
    return join(lines)


def thread_gone(error: BadRequest) -> bool:
    """Tell whether Telegram refused because the forum topic no longer exists."""
    text = error.message.lower()
    return "thread not found" in text or "topic_id_invalid" in text or "topic_deleted" in text


async def post_card(bot: Bot, services: Services, ticket: Ticket) -> Message:
    """Post the member card in the ticket's topic and pin it (the newest card stays on top)."""
    assert ticket.chat_id is not None and ticket.thread_id is not None
    text = render_card(services, await member_card(services.store, ticket))
    card = await bot.send_message(ticket.chat_id, text, message_thread_id=ticket.thread_id)
    await tickets.set_card(services.store, ticket.id, card.message_id)
    try:
        await bot.pin_chat_message(ticket.chat_id, card.message_id, disable_notification=True)
    except BadRequest as exc:  # no pin rights: the card is still the topic's first message
        log.warning(
            "card not pinned",
            extra=kv(event="card_pin_failed", ticket=ticket.id, error=exc.message),
        )
    return card


async def open_topic(
    bot: Bot, services: Services, ticket: Ticket, *, replacing: int | None = None
) -> Ticket:
    """Create the ticket's forum topic with its pinned card; return the ticket as stored.

    `replacing` is the deleted topic this one replaces: the new topic then starts with a short
    transcript of the conversation so far, so agents carry on where they were.
    """
    chat_id = services.support.agent_chat_id
    name = await topic_name(services, ticket)
    topic = await bot.create_forum_topic(chat_id, name)
    thread = topic.message_thread_id
    if not await tickets.attach_topic(
        services.store, ticket.id, chat_id, thread, name, replacing=replacing
    ):
        # Another process attached a topic first: keep theirs, drop ours.
        try:
            await bot.delete_forum_topic(chat_id, thread)
        except TelegramError:
            log.warning("topic not dropped", extra=kv(event="topic_drop_failed", ticket=ticket.id))
        return await tickets.get(services.store, ticket.id)
    ticket = await tickets.get(services.store, ticket.id)
    await post_card(bot, services, ticket)
    if replacing is not None:
        transcript = await _transcript(services, ticket)
        if transcript:
            await bot.send_message(chat_id, transcript, message_thread_id=thread)
    log.info(
        "topic opened",
        extra=kv(
            event="topic_opened", ticket=ticket.id, thread=thread, recreated=replacing is not None
        ),
    )
    return await tickets.get(services.store, ticket.id)


async def _transcript(services: Services, ticket: Ticket) -> Html | None:
    history = await tickets.messages(services.store, ticket.id, last=TRANSCRIPT_MESSAGES)
    if not history:
        return None
    lines = [agent_text(services, "agents.recreated")]
    # What reached the other side so far (the message being relayed now is not copied yet).
    for item in (m for m in history if m.copy_message_id is not None):
        text = item.text or ""
        if item.kind != "text":
            media = agent_text(services, "agents.media", kind=item.kind)
            text = f"{media} {text}".strip()
        if len(text) > TRANSCRIPT_CHARS:
            text = text[: TRANSCRIPT_CHARS - 1] + "…"
        lines.append(agent_text(services, f"agents.transcript_{item.direction}", text=text))
    return join(lines)


async def finish_topic(bot: Bot, services: Services, ticket: Ticket) -> None:
    """Mark a closed ticket's topic: ✅ in its name, and closed (best effort)."""
    if ticket.chat_id is None or ticket.thread_id is None:
        return
    closed = agent_text(services, "agents.topic_closed", name=ticket.topic_name or f"#{ticket.id}")
    name = plain(closed)[:MAX_TOPIC_NAME]
    for action in (
        lambda: bot.edit_forum_topic(ticket.chat_id, ticket.thread_id, name=name),
        lambda: bot.close_forum_topic(ticket.chat_id, ticket.thread_id),
    ):
        try:
            await action()
        except BadRequest as exc:  # deleted meanwhile, or already so: nothing to mark
            log.info(
                "topic not marked",
                extra=kv(event="topic_finish_skipped", ticket=ticket.id, error=exc.message),
            )
    await tickets.rename_topic(services.store, ticket.id, name)
