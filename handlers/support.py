"""Live chat, the member's side: /support, choosing a topic, the relay to the agents' topic,
"problem solved" and the rating.

The relay runs in its own handler group before the features (see `handlers/registry.py`): a
message that belongs to a ticket goes to the agents and stops there, so the FAQ's free-text
handler does not answer it as well. Anything else passes on untouched.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Message, Update, User
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import desk, outgoing
from handlers.catalogue import Html, join
from handlers.context import BotContext
from handlers.formatting import moment
from handlers.services import Services
from handlers.ui import answer_or_say, answer_query, button, keyboard, reply
from storage import tickets
from storage.errors import Conflict, NotFound, Refused
from storage.logs import kv
from storage.tickets import SUBJECTS, Ticket

log = logging.getLogger(__name__)
SUBJECT = r"^sup:subj:(\d{1,12}):(points|coupon|order|other)$"
SOLVED = r"^sup:solved:(\d{1,12})$"
RATE = r"^sup:rate:(\d{1,12}):([1-5])$"
# A member writing this soon after a ticket closed is still talking to support: it opens a new
# ticket linked to the old one. Later, free text goes back to the FAQ.
FOLLOW_UP = timedelta(hours=24)


def offline_note(context: BotContext) -> Html | None:
    """Return "our team is back at ..." outside business hours, else None."""
    hours = context.services.support.hours(context.store.program.timezone)
    now = context.store.now()
    back = hours.next_open(now)
    if back is None or back == now:
        return None
    return context.t("support.offline", when=moment(back, hours.zone, context.lang))


async def open_ticket(context: BotContext, user: User) -> tuple[Ticket, bool] | None:
    """Open (or find) the user's ticket, linked to their member when they have one.

    None when the user opened as many tickets as they may in a day: they were told when
    they may open the next one.
    """
    try:
        ticket, created = await tickets.open_or_get(
            context.store,
            user.id,
            display_name=user.full_name,
            username=user.username,
            member_id=context.member_id,
            limit=context.services.support.ticket_limit,
        )
    except Refused as refusal:
        log.info("ticket refused", extra=kv(event="ticket_limit"))
        zone = context.store.program.timezone
        when = moment(refusal.context["until"], zone, context.lang)
        await context.bot.send_message(user.id, context.t("support.ticket_limit", when=when))
        return None
    if created:
        log.info(
            "ticket opened",
            extra=kv(
                event="ticket_opened",
                ticket=ticket.id,
                linked=ticket.member_id is not None,
                previous=ticket.previous_id,
            ),
        )
    return ticket, created


async def to_agents(
    context: BotContext, ticket: Ticket, message: Message, *, text: str | None = None
) -> None:
    """Record a member message and queue it for the ticket's topic (which the sender creates
    or recreates as needed); the first message of a ticket is acknowledged to the member.

    The caller holds the member's lock, so messages are recorded and queued in their order.
    `text` replaces the message's own text (the words after /support). Past the member's
    limit a message is refused, and they are told, never silently dropped.
    """
    services, store = context.services, context.store
    support = services.support
    recorded = await tickets.record_message(
        store,
        ticket.id,
        direction="member",
        kind="text" if text is not None else desk.message_kind(message),
        author_id=message.from_user.id if message.from_user else ticket.telegram_user_id,
        source_chat_id=message.chat.id,
        source_message_id=message.message_id,
        copy_chat_id=support.agent_chat_id,
        text=text if text is not None else (message.text or message.caption),
        file_id=desk.file_id(message),
        hours=support.hours(store.program.timezone),
        sla=support.sla,
        relay=outgoing.relay_in(services, message, text=text),
        per_minute=support.messages_per_minute,
    )
    if recorded.refused_until is not None:
        if recorded.tell:  # once a window: the refusal says until when nothing is passed on
            when = moment(recorded.refused_until, store.program.timezone, context.lang)
            await context.bot.send_message(
                message.chat.id, context.t("support.slow_down", when=when)
            )
        log.info("support message refused", extra=kv(event="support_message_limit"))
        return
    if recorded.duplicate:
        return  # a redelivered update: it was queued the first time
    services.wake_sender()
    if recorded.first_of_direction:
        lines = [context.t("support.received", ticket=ticket.id)]
        offline = offline_note(context)
        if offline is not None:
            lines.append(offline)
        markup = desk.solved_keyboard(services, ticket.id, context.lang)
        await context.bot.send_message(message.chat.id, join(lines, "\n\n"), reply_markup=markup)


async def relay(update: Update, context: BotContext) -> None:
    """A member's message: to the agents if it belongs to a ticket (then stop), else pass on."""
    message, user = update.message, update.effective_user
    services: Services = context.services
    if message is None or user is None or not services.support.enabled:
        return
    if context.profile is not None and not context.profile.support:
        return  # never had a ticket, not banned (the gate read it): the features answer
    state = await tickets.state(context.store, user.id)
    follow_up = state.closed_within(context.store.now(), FOLLOW_UP)
    if state.open is None and follow_up is None:
        return  # not talking to support: the features (FAQ, ...) answer
    if state.banned:
        await reply(update, context, context.t("support.banned"))
        raise ApplicationHandlerStop
    async with desk.member_lock(context.bot_data, context.store, user.id):
        # Under the lock: the open ticket as it is now (an agent may just have closed it).
        # Writing after a ticket closed opens a new one, linked to the old one.
        opened = await open_ticket(context, user)
        if opened is not None:
            await to_agents(context, opened[0], message)
    raise ApplicationHandlerStop


async def start_support(update: Update, context: BotContext) -> None:
    """/support [question] or the "talk to a person" button: open a ticket, ask the topic."""
    await answer_query(update)
    user = update.effective_user
    if user is None:
        return
    support = context.services.support
    if not support.enabled:
        await reply(update, context, context.t("support.unavailable"))
        return
    state = await tickets.state(context.store, user.id)
    if state.banned:
        await reply(update, context, context.t("support.banned"))
        return
    question = " ".join(context.args or []).strip() if update.message else ""
    async with desk.member_lock(context.bot_data, context.store, user.id):
        opened = await open_ticket(context, user)
        if opened is None:
            return
        ticket = opened[0]
        if question and update.message is not None:
            await to_agents(context, ticket, update.message, text=question)
            return
    if ticket.first_message_at is not None:
        markup = desk.solved_keyboard(context.services, ticket.id, context.lang)
        await reply(update, context, context.t("support.already_open", ticket=ticket.id), markup)
        return
    lines = [context.t("support.choose")]
    offline = offline_note(context)
    if offline is not None:
        lines.append(offline)
    options = [
        button(context.t(f"support.subject_{s}"), f"sup:subj:{ticket.id}:{s}") for s in SUBJECTS
    ]
    await reply(update, context, join(lines, "\n\n"), keyboard(options[:2], options[2:]))


async def choose_subject(update: Update, context: BotContext) -> None:
    """The member picked what the ticket is about."""
    await answer_query(update)
    user = update.effective_user
    if user is None or not context.matches:
        return
    ticket_id, subject = int(context.matches[0].group(1)), context.matches[0].group(2)
    try:
        ticket = await tickets.set_subject(context.store, ticket_id, user.id, subject)
    except NotFound:
        await reply(update, context, context.t("common.stale_button"))
        return
    except Conflict:
        await reply(update, context, context.t("support.already_closed"))
        return
    label = context.t(f"support.subject_{subject}")
    await reply(update, context, context.t("support.subject_chosen", subject=label))
    # Keep the topic's name accurate (queued: the agents' chat has its own budget; a topic
    # not created yet is named right when it is).
    await outgoing.topic_action(context.services, ticket, "rename")


async def solved(update: Update, context: BotContext) -> None:
    """The member's "problem solved" button closes their ticket."""
    query, user = update.callback_query, update.effective_user
    if query is None or user is None or not context.matches:
        return
    ticket_id = int(context.matches[0].group(1))
    try:
        ticket = await tickets.get(context.store, ticket_id)
        if ticket.telegram_user_id != user.id:
            raise NotFound("not theirs")
    except NotFound:
        await answer_or_say(update, context, context.t("common.stale_button"), alert=True)
        return
    if not ticket.is_open:
        await answer_or_say(update, context, context.t("support.already_closed"), alert=True)
        return
    await answer_query(update)
    closed = await outgoing.close_ticket(context.services, ticket, by="member")
    if not closed:
        await reply(update, context, context.t("support.already_closed"), edit=False)


async def rate(update: Update, context: BotContext) -> None:
    """A rating button: record it once and show it in the ticket's topic."""
    user = update.effective_user
    if user is None or not context.matches:
        return
    ticket_id, stars = int(context.matches[0].group(1)), int(context.matches[0].group(2))
    try:
        ticket = await tickets.rate(context.store, ticket_id, user.id, stars)
    except Refused:
        await answer_or_say(update, context, context.t("support.already_rated"), alert=True)
        return
    except (NotFound, Conflict):
        await answer_or_say(update, context, context.t("common.stale_button"), alert=True)
        return
    await answer_query(update)
    log.info("ticket rated", extra=kv(event="ticket_rated", ticket=ticket.id, stars=stars))
    await reply(update, context, context.t("support.rated", n=stars))
    text = desk.agent_text(context.services, "agents.rated", n=stars)
    await outgoing.topic_note(context.services, ticket, text)


def register_relay(app: Application, group: int) -> None:
    """Add the relay of members' messages to the agents (a group before the features)."""
    relayable = (
        filters.UpdateType.MESSAGE
        & filters.ChatType.PRIVATE
        & ~filters.COMMAND
        & ~filters.StatusUpdate.ALL
    )
    app.add_handler(MessageHandler(relayable, relay), group)


def register(app: Application, group: int) -> None:
    """Add /support, the "talk to a person" button, topic choice, "problem solved", rating."""
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler("support", start_support, filters=private), group)
    app.add_handler(CallbackQueryHandler(start_support, pattern=r"^nav:support$"), group)
    app.add_handler(CallbackQueryHandler(choose_subject, pattern=SUBJECT), group)
    app.add_handler(CallbackQueryHandler(solved, pattern=SOLVED), group)
    app.add_handler(CallbackQueryHandler(rate, pattern=RATE), group)
