"""/start (linking by token, invite links, welcome) and /unlink with confirmation."""

from __future__ import annotations

import re

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import Html
from handlers.context import BotContext
from handlers.menu import link_keyboard, main_menu, member_or_prompt
from handlers.ui import answer_query, button, keyboard, link, reply
from storage import links, members
from storage.errors import Refused

# Deep-link payloads are at most 64 characters of A-Z a-z 0-9 _ - (Telegram's rule).
PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
INVITE = re.compile(r"^ref_([a-z0-9]{4,32})$")


async def start(update: Update, context: BotContext) -> None:
    """Handle /start with a link token, an invite code, or nothing."""
    payload = context.args[0] if context.args else ""
    if not payload:
        await welcome(update, context)
    elif invite := INVITE.match(payload):
        await invited(update, context, invite.group(1))
    elif PAYLOAD.match(payload):
        await link_account(update, context, payload)
    else:
        await reply(update, context, context.t("start.link_invalid"), link_keyboard(context))


async def welcome(update: Update, context: BotContext) -> None:
    """Greet a linked member with the menu, or tell a stranger how to link."""
    shop = context.services.shop.name
    if context.member_id is not None:
        await reply(update, context, context.t("start.welcome_back", shop=shop), main_menu(context))
    else:
        await reply(
            update, context, context.t("start.welcome_new", shop=shop), link_keyboard(context)
        )


async def link_account(update: Update, context: BotContext, token: str) -> None:
    """Link the shop account behind a single-use token to this Telegram user."""
    assert update.effective_user is not None
    try:
        member_id = await links.consume_token(context.store, token, update.effective_user.id)
    except Refused as refusal:
        if refusal.code == "already_linked":
            await reply(update, context, context.t("start.already_linked"), main_menu(context))
            return
        key = {
            "used": "start.link_used",
            "expired": "start.link_expired",
            "revoked": "start.link_revoked",
            "member_linked": "start.link_member_elsewhere",
            "user_linked": "start.link_user_elsewhere",
        }.get(refusal.code, "start.link_invalid")
        await reply(update, context, context.t(key), link_keyboard(context))
        return
    view = await members.view(context.store, member_id)
    text = context.t("start.linked", shop=context.services.shop.name, level=view.tier.name)
    await reply(update, context, text, main_menu(context))


async def invited(update: Update, context: BotContext, code: str) -> None:
    """Someone opened a member's invite link: point them to the shop's sign-up page."""
    if context.member_id is not None:
        await reply(update, context, context.t("start.invite_member"), main_menu(context))
        return
    referrer = await members.referrer_by_code(context.store, code)
    if referrer is None:
        await reply(update, context, context.t("start.invite_unknown"), link_keyboard(context))
        return
    shop = context.services.shop
    markup = keyboard(
        [link(context.t("start.sign_up"), shop.signup_link(code))],
        [link(context.t("start.open_account"), shop.account_url)],
    )
    await reply(update, context, context.t("start.invite", shop=shop.name), markup)


async def invite_link(update: Update, context: BotContext) -> None:
    """Show the member's own invite link (from /me)."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    code = await members.referral_code(context.store, member_id)
    url = context.services.invite_link(code)
    text = context.t("start.your_invite", url=url)
    await reply(update, context, text, keyboard([button(context.t("menu.back"), "nav:me")]))


async def unlink(update: Update, context: BotContext) -> None:
    """Ask before unlinking the account from this Telegram user."""
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    t = context.t
    markup = keyboard(
        [button(t("start.unlink_yes"), "unl:yes"), button(t("start.cancel"), "unl:no")]
    )
    await reply(update, context, t("start.unlink_confirm", member_id=member_id), markup)


async def unlink_answer(update: Update, context: BotContext) -> None:
    """Carry out or cancel an unlink after the confirmation button."""
    await answer_query(update)
    assert update.effective_user is not None and context.matches
    if context.matches[0].group(1) == "no":
        await reply(update, context, context.t("start.unlink_cancelled"), main_menu(context))
        return
    gone = await links.unlink(context.store, update.effective_user.id)
    text: Html = context.t("start.unlinked" if gone else "start.not_linked_now")
    await reply(update, context, text, link_keyboard(context))


def register(app: Application, group: int) -> None:
    """Add /start, /unlink and their buttons."""
    app.add_handler(CommandHandler("start", start), group)
    app.add_handler(CommandHandler("unlink", unlink), group)
    app.add_handler(CallbackQueryHandler(unlink_answer, pattern=r"^unl:(yes|no)$"), group)
    app.add_handler(CallbackQueryHandler(invite_link, pattern=r"^nav:invite$"), group)
