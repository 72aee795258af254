"""Live chat, the agents' side: their forum supergroup (`support.agent_chat_id`).

What an agent writes in a ticket's topic is copied to the member; commands in a topic act on
its ticket: /close, /card, /grant and /coupon (admins only), /canned, /ban, /unban. Every
handler here is filtered to the agent chat, so a message from any other group never counts as
an agent's, and each one stops the update once handled (see `handlers/registry.py`).

`flag_overdue_ticket` posts the SLA flag the scheduler's check (`bot/jobs.py`) asks for.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.constants import ChatType
from telegram.error import ChatMigrated, TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CommandHandler,
    MessageHandler,
    filters,
)

from handlers import desk, outgoing
from handlers.catalogue import Html, duration, escape, join
from handlers.context import SERVICES_KEY, BotContext
from handlers.formatting import moment, money
from handlers.services import Services
from storage import coupons, grants, tickets
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.logs import kv
from storage.tickets import Overdue, Ticket

log = logging.getLogger(__name__)
# What PTB's handlers take: an `async def`, i.e. a coroutine function (not any awaitable).
Callback = Callable[[Update, BotContext], Coroutine[Any, Any, None]]
MINUTE = timedelta(minutes=1)
AMOUNT = re.compile(r"^[+-]?\d{1,8}$")
AGENT_COMMANDS = ("close", "card", "grant", "coupon", "canned", "ban", "unban")


def _stops(callback: Callback) -> Callback:
    """Run an agent-chat handler, then stop the update: nothing else may act on it."""

    @functools.wraps(callback)
    async def wrapped(update: Update, context: BotContext) -> None:
        await callback(update, context)
        raise ApplicationHandlerStop

    return wrapped


def _by_name(commands: dict[str, Callback]) -> Callback:
    """Return one callback that runs the command the message starts with."""

    async def route(update: Update, context: BotContext) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None and message.entities
        # CommandHandler matched: the text starts with a bot command entity, "/name@bot".
        name = message.text[1 : message.entities[0].length].split("@")[0].lower()
        await commands[name](update, context)

    return route


def _t(context: BotContext, key: str, /, **values: object) -> Html:
    return desk.agent_text(context.services, f"agents.{key}", **values)


async def _say(update: Update, context: BotContext, text: Html) -> None:
    """Answer in the topic (or the General topic) the command came from."""
    message = update.effective_message
    if message is None:
        return
    thread = message.message_thread_id if message.is_topic_message else None
    # Queued: the agents' chat has a budget of its own (20 a minute), members must not wait.
    # Keyed by the command and the answer: a redelivered command is not answered twice.
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    key = f"say:{message.chat.id}:{message.message_id}:{digest}"
    await outgoing.group_text(context.services, thread, text, key=key)


async def _here(update: Update, context: BotContext, *, quiet: bool = False) -> Ticket | None:
    """Return the ticket whose topic the message is in; otherwise say so (unless quiet)."""
    message = update.effective_message
    ticket = None
    if message is not None and message.is_topic_message and message.message_thread_id:
        ticket = await tickets.by_topic(context.store, message.chat.id, message.message_thread_id)
    if ticket is None and not quiet:
        await _say(update, context, _t(context, "not_a_ticket"))
    return ticket


async def _admin(update: Update, context: BotContext) -> bool:
    user = update.effective_user
    if user is not None and user.id in context.services.support.admin_ids:
        return True
    await _say(update, context, _t(context, "admins_only"))
    return False


def _agent(update: Update) -> tuple[int, str]:
    user = update.effective_user
    assert user is not None
    return user.id, user.first_name


async def _member_language(context: BotContext, ticket: Ticket) -> str:
    _, profile = await desk.ticket_member(context.services, ticket)
    return desk.member_language(context.services, profile)


# -- the relay ------------------------------------------------------------------------------


async def relay(update: Update, context: BotContext) -> None:
    """An agent's message in a ticket's topic: copy it to the member and record it."""
    message, user = update.message, update.effective_user
    if message is None or user is None or user.is_bot:
        return
    ticket = await _here(update, context, quiet=True)
    if ticket is None:
        return  # the General topic, or a topic that is not a ticket: the agents' own talk
    if not ticket.is_open:
        await _say(update, context, _t(context, "closed_not_sent"))
        return
    # The member hears who answers: once per agent and ticket, just before that agent's first
    # message (the dedupe key), so a copy stays a copy (Telegram's refusals, protected groups).
    intro = context.services.texts.text(
        "support.agent_signature", await _member_language(context, ticket), agent=user.first_name
    )
    await outgoing.member_text(
        context.services, ticket, intro, key=f"agent_intro:{ticket.id}:{user.id}"
    )
    # Queued for the member's chat, in order; recorded as an answer once delivered, and the
    # agents hear in the topic if it could not be.
    await outgoing.relay_out(context.services, ticket, message, user.id)


# -- commands -------------------------------------------------------------------------------


async def close(update: Update, context: BotContext) -> None:
    """/close: close the ticket, mark the topic, ask the member for a rating."""
    ticket = await _here(update, context)
    if ticket is None:
        return
    agent_id, name = _agent(update)
    done = ticket.is_open and await outgoing.close_ticket(
        context.services, ticket, by=f"agent:{agent_id}", agent_name=name
    )
    if not done:
        await _say(update, context, _t(context, "already_closed"))


async def card(update: Update, context: BotContext) -> None:
    """/card: post the member card afresh and pin it."""
    ticket = await _here(update, context)
    if ticket is not None:
        await outgoing.topic_action(context.services, ticket, "card")


async def _echo(
    update: Update, context: BotContext, ticket: Ticket, text: Html, *, protect: bool = False
) -> None:
    """Tell the member what an agent's command did (once, whatever redelivers the command)."""
    key = f"echo:{_key(update)}"
    await outgoing.member_text(context.services, ticket, text, protect=protect, key=key)


def _key(update: Update) -> str:
    """An idempotency key from the command message: a redelivered update changes nothing."""
    message = update.effective_message
    assert message is not None
    return f"tg:{message.chat.id}:{message.message_id}"


async def grant(update: Update, context: BotContext) -> None:
    """/grant N reason (admins): add or take points, in the ledger with the agent as actor."""
    ticket = await _here(update, context)
    if ticket is None or not await _admin(update, context):
        return
    args = context.args or []
    reason = " ".join(args[1:]).strip()
    if not args or not AMOUNT.match(args[0]) or int(args[0]) == 0 or not reason:
        await _say(update, context, _t(context, "grant_usage"))
        return
    amount = int(args[0])
    member_id, _ = await desk.ticket_member(context.services, ticket)
    if member_id is None:
        await _say(update, context, _t(context, "not_linked"))
        return
    agent_id, name = _agent(update)
    texts, lang = context.services.texts, context.services.support.language
    try:
        result = await grants.grant(
            context.store, member_id, amount, reason=reason, actor=f"agent:{agent_id}",
            key=_key(update),
        )  # fmt: skip
    except Refused as refusal:
        balance = texts.plural("coupons.points", int(refusal.context.get("balance", 0)), lang)
        await _say(update, context, _t(context, "grant_insufficient", balance=balance))
        return
    except (Invalid, Conflict, NotFound) as error:
        await _say(update, context, _t(context, "grant_invalid", problem=error.message))
        return
    log.info("points granted", extra=kv(event="support_grant", ticket=ticket.id, amount=amount))
    member_lang = await _member_language(context, ticket)
    key = "support.grant_added" if amount > 0 else "support.grant_removed"
    echo = texts.text(
        key,
        member_lang,
        amount=texts.plural("coupons.points", abs(amount), member_lang),
        reason=reason,
        balance=texts.plural("coupons.points", result.balance_after, member_lang),
    )
    await _echo(update, context, ticket, echo)
    signed = f"+{amount}" if amount > 0 else f"−{abs(amount)}"
    balance = texts.plural("coupons.points", result.balance_after, lang)
    done = _t(context, "granted", agent=name, amount=signed, reason=reason, balance=balance)
    await _say(update, context, done)


async def goodwill_coupon(update: Update, context: BotContext) -> None:
    """/coupon 5|10|20 reason (admins): a coupon on the house, sent to the member."""
    ticket = await _here(update, context)
    if ticket is None or not await _admin(update, context):
        return
    program = context.store.program
    if not program.coupons.enabled:
        await _say(update, context, _t(context, "coupons_disabled"))
        return
    values = [o.value_cents for o in program.coupons.options]
    usage = _t(context, "coupon_usage", values="|".join(str(v // 100) for v in values))
    args = context.args or []
    reason = " ".join(args[1:]).strip()
    if not args or not args[0].isdigit() or int(args[0]) * 100 not in values or not reason:
        await _say(update, context, usage)
        return
    member_id, _ = await desk.ticket_member(context.services, ticket)
    if member_id is None:
        await _say(update, context, _t(context, "not_linked"))
        return
    agent_id, name = _agent(update)
    try:
        coupon = await coupons.issue_goodwill(
            context.store, member_id, int(args[0]) * 100, reason=reason,
            actor=f"agent:{agent_id}", key=_key(update),
        )  # fmt: skip
    except (Invalid, Conflict, NotFound, Refused) as error:
        await _say(update, context, _t(context, "grant_invalid", problem=error.message))
        return
    log.info(
        "coupon given",
        extra=kv(event="support_coupon", ticket=ticket.id, value_cents=coupon.value_cents),
    )
    texts, zone = context.services.texts, program.timezone
    member_lang, lang = await _member_language(context, ticket), context.services.support.language
    echo = texts.text(
        "support.coupon_gift",
        member_lang,
        value=money(coupon.value_cents, program.currency, member_lang),
        code=coupon.code,
        expires=moment(coupon.expires_at, zone, member_lang),
        reason=reason,
    )
    await _echo(update, context, ticket, echo, protect=True)
    done = _t(
        context,
        "coupon_issued",
        agent=name,
        value=money(coupon.value_cents, program.currency, lang),
        code=coupon.code,
        expires=moment(coupon.expires_at, zone, lang),
        reason=reason,
    )
    await _say(update, context, done)


async def canned(update: Update, context: BotContext) -> None:
    """/canned lists the canned answers; /canned KEY sends one to the member."""
    answers = context.services.support.canned
    args = context.args or []
    if not args:
        if not answers:
            await _say(update, context, _t(context, "canned_none"))
            return
        lines = [_t(context, "canned_list")]
        lines += [_t(context, "canned_item", answer=k, text=v) for k, v in answers.items()]
        await _say(update, context, join(lines))
        return
    key = args[0]
    if key not in answers:
        available = ", ".join(answers) or "—"
        await _say(update, context, _t(context, "canned_unknown", answer=key, available=available))
        return
    ticket = await _here(update, context)
    if ticket is None:
        return
    if not ticket.is_open:
        await _say(update, context, _t(context, "closed_not_sent"))
        return
    text = answers[key]
    message = update.effective_message
    assert message is not None
    record = {"from_chat": message.chat.id, "message": message.message_id,
              "author": _agent(update)[0], "text": text}  # fmt: skip
    await outgoing.member_text(
        context.services, ticket, escape(text), markup="solved", record=record,
        key=f"canned:{_key(update)}",
    )  # fmt: skip
    await _say(update, context, _t(context, "canned_sent", answer=key, text=text))


async def ban(update: Update, context: BotContext) -> None:
    """/ban [reason]: stop relaying this ticket's user; they get a polite answer instead."""
    ticket = await _here(update, context)
    if ticket is None:
        return
    agent_id, name = _agent(update)
    reason = " ".join(context.args or []).strip() or None
    if await tickets.ban(context.store, ticket.telegram_user_id, by=agent_id, reason=reason):
        log.info("user banned", extra=kv(event="support_ban", ticket=ticket.id))
        await _say(update, context, _t(context, "banned", agent=name))
    else:
        await _say(update, context, _t(context, "already_banned"))


async def unban(update: Update, context: BotContext) -> None:
    """/unban: relay this ticket's user again."""
    ticket = await _here(update, context)
    if ticket is None:
        return
    _, name = _agent(update)
    if await tickets.unban(context.store, ticket.telegram_user_id):
        log.info("user unbanned", extra=kv(event="support_unban", ticket=ticket.id))
        await _say(update, context, _t(context, "unbanned", agent=name))
    else:
        await _say(update, context, _t(context, "not_banned"))


# -- policy: groups, commands, the SLA check -------------------------------------------------


async def ignore_other_chats(update: Update, context: BotContext) -> None:
    """Stop every update from a group or channel: member features are private-chat only.

    It runs after the agent handlers, so it also takes what they did not (service messages,
    unknown commands) and any update from a stranger group, which never counts as an agent's.
    """
    chat = update.effective_chat
    if chat is not None and chat.type != ChatType.PRIVATE:
        raise ApplicationHandlerStop


async def set_agent_commands(bot: Bot, services: Services) -> None:
    """Show the agent commands in the agent chat's menu (in the support language)."""
    support = services.support
    if not support.enabled:
        return
    commands = [
        BotCommand(name, services.texts.text(f"agents.cmd_{name}", support.language))
        for name in AGENT_COMMANDS
    ]
    try:
        try:
            await bot.set_my_commands(commands, scope=BotCommandScopeChat(support.agent_chat_id))
        except ChatMigrated as moved:
            follow_agent_chat(services, moved.new_chat_id)
            scope = BotCommandScopeChat(services.support.agent_chat_id)
            await bot.set_my_commands(commands, scope=scope)
    except TelegramError as exc:  # a wrong chat id must not stop the bot: members come first
        log.warning(
            "agent commands not set",
            extra=kv(event="agent_commands_failed", error=type(exc).__name__),
        )


async def flag_overdue_ticket(bot: Bot, services: Services, item: Overdue) -> bool:
    """Flag one ticket waiting past the SLA in the agent chat; False if Telegram refused.

    The scheduler (`bot/jobs.py: flag_overdue`) finds and claims the overdue tickets.
    """
    support = services.support
    text, minutes = sla_flag_text(services, item)
    try:
        try:
            await bot.send_message(support.agent_chat_id, text)
        except ChatMigrated as moved:
            follow_agent_chat(services, moved.new_chat_id)
            await bot.send_message(services.support.agent_chat_id, text)
    except TelegramError as exc:
        log.warning(
            "sla flag not posted",
            extra=kv(event="sla_flag_failed", ticket=item.ticket.id, error=type(exc).__name__),
        )
        return False
    log.info("sla flagged", extra=kv(event="sla_flagged", ticket=item.ticket.id, minutes=minutes))
    return True


def sla_flag_text(services: Services, item: Overdue) -> tuple[Html, int]:
    """Return the SLA flag for `item` and its wall-clock wait in minutes.

    The SLA counts working time (support hours) only, so the flag tells both: the wait on the
    wall clock, and how much of it fell in working hours.
    """
    support, texts = services.support, services.texts
    hours = support.hours(services.store.program.timezone)
    since = item.ticket.first_message_at or item.ticket.opened_at
    waited = int(item.waiting // MINUTE)
    working = int(hours.working_time(since, since + item.waiting) // MINUTE)
    key = "agents.sla_flag"
    if not hours.days:
        key = "agents.sla_flag_plain"  # no working day configured: plain time counts
    elif working == waited:
        key = "agents.sla_flag_all_working"
    lang = support.language
    text = texts.text(
        key, lang,
        link=desk.ticket_link(item.ticket), name=item.ticket.display_name,
        waited=duration(texts, waited, lang), working=duration(texts, working, lang),
        sla=duration(texts, support.sla_minutes, lang),
    )  # fmt: skip
    return text, waited


def follow_agent_chat(services: Services, new_chat_id: int) -> bool:
    """Follow the agents' chat to its new id and tell the operator to update the config."""
    old = services.support.agent_chat_id
    if not services.follow_agent_chat(new_chat_id):
        return False
    log.warning(
        "agent chat moved: set support.agent_chat_id to the new id",
        extra=kv(event="agent_chat_migrated", old=old, new=new_chat_id),
    )
    return True


def register(app: Application, group: int) -> None:
    """Add the agent chat's handlers (nothing when no agent chat is configured)."""
    services: Services = app.bot_data[SERVICES_KEY]
    if not services.support.enabled:
        return
    services.agent_chat_filter = filters.Chat(chat_id=services.support.agent_chat_id)
    agents = services.agent_chat_filter & filters.UpdateType.MESSAGE
    commands: dict[str, Callback] = {
        "close": close,
        "card": card,
        "grant": grant,
        "coupon": goodwill_coupon,
        "canned": canned,
        "ban": ban,
        "unban": unban,
    }
    # One handler for all of them: PTB tries every handler of a group on every update, and a
    # member's update is checked against the agents' commands first.
    app.add_handler(
        CommandHandler(tuple(commands), _stops(_by_name(commands)), filters=agents), group
    )
    messages = agents & filters.IS_TOPIC_MESSAGE & ~filters.COMMAND & ~filters.StatusUpdate.ALL
    app.add_handler(MessageHandler(messages, _stops(relay)), group)
