"""/coupons: exchange points or coins for a coupon (with confirmation), and my coupons."""

from __future__ import annotations

from datetime import datetime, timedelta

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import Html, join
from handlers.context import BotContext
from handlers.formatting import moment, money
from handlers.menu import member_or_prompt
from handlers.ui import answer_or_say, answer_query, button, keyboard, reply
from loyalty.program import Currency
from storage import coupons, members
from storage.coupons import Coupon, ExchangePreview
from storage.errors import Conflict, Invalid, Refused

# A confirmation older than this shows a fresh preview instead: balances or the expiry
# it showed may have changed since.
CONFIRM_TTL = timedelta(minutes=10)
CURRENCY_CODES: dict[str, Currency] = {"p": "points", "c": "coins"}
CODES = {v: k for k, v in CURRENCY_CODES.items()}
PICK = r"^cpn:pick:(\d{1,9}):([pc])$"
CONFIRM = r"^cpn:ok:(\d{1,9}):([pc]):([0-9a-z]{1,12})$"


def _stamp(instant: datetime) -> str:
    value, digits = int(instant.timestamp()), ""
    while True:
        value, rest = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rest] + digits
        if not value:
            return digits


def _unit(context: BotContext, currency: str, amount: int) -> Html:
    return context.tp(f"coupons.{currency}", amount)


async def menu(update: Update, context: BotContext) -> None:
    """Offer every coupon for points and for coins, and the member's coupons."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    program, t, lang = context.store.program, context.t, context.lang
    if not program.coupons.enabled:
        await reply(update, context, t("coupons.disabled"))
        return
    view = await members.view(context.store, member_id)
    markup = context.services.once(("coupons.menu", lang), lambda: _menu_keyboard(context))
    balance = _unit(context, "points", view.points)
    if program.coins.enabled:
        balance = Html(f"{balance}, {_unit(context, 'coins', view.coins)}")
    text = t(
        "coupons.menu",
        balance=balance,
        left=view.exchanges_left_today,
        limit=program.coupons.daily_limit,
    )
    await reply(update, context, text, markup)


def _menu_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    """Every coupon for points and for coins, then "my coupons" and "back"."""
    program, t, lang = context.store.program, context.t, context.lang
    rows = []
    for code, currency in CURRENCY_CODES.items():
        if currency == "coins" and not program.coins.enabled:
            continue
        row = []
        for option in program.coupons.options:
            cost = option.cost(currency)
            if cost:
                label = t(
                    "coupons.option",
                    value=money(option.value_cents, program.currency, lang),
                    cost=_unit(context, currency, cost),
                )
                row.append(button(label, f"cpn:pick:{option.value_cents}:{code}"))
        rows.append(row)
    rows.append([button(t("coupons.mine"), "cpn:mine"), button(t("menu.back"), "nav:me")])
    return keyboard(*rows)


def _refusal_text(context: BotContext, refusal: Refused) -> Html:
    program, lang = context.store.program, context.lang
    if refusal.code == "daily_limit":
        resets = moment(refusal.context["resets_at"], program.timezone, lang)
        return context.t("coupons.limit_reached", limit=program.coupons.daily_limit, resets=resets)
    if refusal.code == "insufficient":
        currency = refusal.context["currency"]
        return context.t(
            "coupons.not_enough",
            needed=_unit(context, currency, refusal.context["needed"]),
            balance=_unit(context, currency, refusal.context["balance"]),
        )
    return context.t("coupons.unavailable")


def _back(context: BotContext) -> InlineKeyboardMarkup:
    return context.services.once(
        ("coupons.back", context.lang),
        lambda: keyboard([button(context.t("menu.back"), "nav:coupons")]),
    )


def _confirmation(context: BotContext, preview: ExchangePreview) -> Html:
    program, lang, t = context.store.program, context.lang, context.t
    lines = [
        t(
            "coupons.confirm",
            value=money(preview.value_cents, program.currency, lang),
            cost=_unit(context, preview.currency, preview.cost),
            after=_unit(context, preview.currency, preview.balance_after),
            expires=moment(preview.expires_at, program.timezone, lang),
        )
    ]
    if preview.cut_short:
        lines.append(
            t("coupons.cut_short", date=moment(preview.expires_at, program.timezone, lang))
        )
    return join(lines, "\n\n")


async def pick(update: Update, context: BotContext) -> None:
    """Show what an exchange costs and gives, with Confirm and Cancel."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None or not context.matches:
        return
    value, currency = int(context.matches[0].group(1)), CURRENCY_CODES[context.matches[0].group(2)]
    await _preview(update, context, member_id, value, currency)


async def _preview(
    update: Update, context: BotContext, member_id: str, value: int, currency: Currency
) -> None:
    try:
        preview = await coupons.preview(context.store, member_id, value, currency)
    except Refused as refusal:
        await reply(update, context, _refusal_text(context, refusal), _back(context))
        return
    except Invalid:
        await reply(update, context, context.t("coupons.unavailable"), _back(context))
        return
    t = context.t
    stamp = _stamp(context.store.now())
    markup = keyboard(
        [
            button(t("coupons.yes"), f"cpn:ok:{value}:{CODES[currency]}:{stamp}"),
            button(t("coupons.cancel"), "nav:coupons"),
        ]
    )
    await reply(update, context, _confirmation(context, preview), markup)


def _code_message(context: BotContext, coupon: Coupon) -> Html:
    program, lang = context.store.program, context.lang
    return context.t(
        "coupons.code",
        value=money(coupon.value_cents, program.currency, lang),
        code=coupon.code,
        expires=moment(coupon.expires_at, program.timezone, lang),
    )


async def confirm(update: Update, context: BotContext) -> None:
    """Exchange after Confirm; a double tap or a stale button never spends twice.

    What the exchange did always reaches the member as messages (the result and the code),
    whether or not Telegram still takes the callback answer: after a restart the backlog's
    taps come long past the 15 s an answer is accepted.
    """
    query = update.callback_query
    member_id = context.member_id
    if query is None or query.message is None or not context.matches:
        return
    if member_id is None:
        await answer_query(update)
        await member_or_prompt(update, context)
        return
    match = context.matches[0]
    value, currency, stamp = int(match.group(1)), CURRENCY_CODES[match.group(2)], match.group(3)
    issued = datetime.fromtimestamp(int(stamp, 36), context.store.now().tzinfo)
    if context.store.now() - issued > CONFIRM_TTL:
        await answer_query(update, context.t("coupons.stale"))
        await _preview(update, context, member_id, value, currency)
        return
    # One confirmation message = one exchange: the key is the message the button sits on.
    key = f"tg:{query.from_user.id}:{query.message.chat.id}:{query.message.message_id}"
    try:
        result = await coupons.exchange(context.store, member_id, value, currency, key)
    except Refused as refusal:
        await answer_query(update)
        await reply(update, context, _refusal_text(context, refusal), _back(context))
        return
    except (Conflict, Invalid):
        await answer_or_say(update, context, context.t("coupons.button_invalid"), alert=True)
        return
    if result.replayed:
        # A second tap on the same confirmation. If its answer is refused, this tap may be
        # the only one the member hears of (the first one's messages may not have gone out).
        if not await answer_query(update, context.t("coupons.already_done")):
            await reply(update, context, context.t("coupons.already_done"), edit=False)
            await reply(update, context, _code_message(context, result.coupon), protect=True)
        return
    await answer_query(update, context.t("coupons.done_short"))
    program, lang = context.store.program, context.lang
    done = context.t(
        "coupons.done",
        value=money(result.coupon.value_cents, program.currency, lang),
        after=_unit(context, result.currency, result.balance_after),
        left=result.exchanges_left_today,
    )
    markup = context.services.once(
        ("coupons.done", lang),
        lambda: keyboard(
            [
                button(context.t("coupons.mine"), "cpn:mine"),
                button(context.t("menu.back"), "nav:coupons"),
            ]
        ),
    )
    await reply(update, context, done, markup)
    if result.coupon.shop_status == "pending":
        # The shop is creating its copy: the code comes as a notice once it is usable there.
        worth = money(result.coupon.value_cents, program.currency, lang)
        await reply(update, context, context.t("coupons.on_its_way", value=worth), edit=False)
        return
    await reply(update, context, _code_message(context, result.coupon), protect=True)


async def mine(update: Update, context: BotContext) -> None:
    """List the member's coupons (codes in a protected message)."""
    await answer_query(update)
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    owned = await coupons.of_member(context.store, member_id)
    program, lang, t = context.store.program, context.lang, context.t
    if not owned:
        await reply(update, context, t("coupons.none"), _back(context))
        return
    lines = [t("coupons.mine_title")]
    for coupon in owned[:20]:
        value = money(coupon.value_cents, program.currency, lang)
        when = moment(coupon.used_at or coupon.expires_at, program.timezone, lang)
        status = "pending" if coupon.shop_status == "pending" else coupon.status
        lines.append(t(f"coupons.line_{status}", value=value, code=coupon.code, when=when))
    await reply(update, context, join(lines), _back(context), protect=True)


def register(app: Application, group: int) -> None:
    """Add /coupons and its buttons."""
    app.add_handler(CommandHandler("coupons", menu), group)
    app.add_handler(CallbackQueryHandler(menu, pattern=r"^nav:coupons$"), group)
    app.add_handler(CallbackQueryHandler(pick, pattern=PICK), group)
    app.add_handler(CallbackQueryHandler(confirm, pattern=CONFIRM), group)
    app.add_handler(CallbackQueryHandler(mine, pattern=r"^cpn:mine$"), group)
