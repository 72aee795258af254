"""/help and free text: questions and answers built from the programme, and order look-ups.

Every number, level name and perk in an answer comes from `context.store.program`; the
catalogue holds only the sentences around them, so each answer fits whichever preset runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from functools import lru_cache

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from handlers.catalogue import LANGUAGES, Catalogue, Html, join
from handlers.context import BotContext
from handlers.formatting import day, money, month_day, number, percent
from handlers.menu import member_or_prompt
from handlers.ui import Row, answer_query, button, keyboard, reply
from loyalty.program import Tier
from storage import conversations, daily, members, orders
from storage.orders import OrderStatus

# In the order free text is matched: the more specific questions first ("my payment failed:
# where are my points?" is about the payment, "how do I get a coupon" about spending).
TOPICS = ("payment", "missing", "spend", "levels", "earn")
MENU = ("earn", "spend", "levels", "payment", "missing")
ANSWER = r"^help:(earn|spend|levels|payment|missing)$"
SUPPORT = "nav:support"  # answered by the live chat (/support), not here
# After "Points missing for an order?" a bare order number is looked up for this long.
AWAIT_ORDER_KEY = "help_awaiting_order"
AWAIT_ORDER_FOR = timedelta(minutes=30)
# An order id is 1..64 of A-Z a-z 0-9 _ - with at least one digit ("10023", "A-1002", "o-7"):
# a plain word is not one. Bounded, so a 4096-character message cannot make it backtrack.
_ID = r"(?=[A-Za-z0-9_\-]{0,63}\d)[A-Za-z0-9_\-]{1,64}(?![A-Za-z0-9_\-])"
ORDER_IN_TEXT = re.compile(
    rf"(?:order|заказ[а-яё]*)\s*(?:(?:#|№|no\.?|number|номер)\s*)?({_ID})", re.IGNORECASE
)
JUST_ID = re.compile(rf"^\s*(?:[#№]\s*)?({_ID})\s*[.?!]?\s*$")


# --- free text ---------------------------------------------------------------------------


@lru_cache(maxsize=4)
def keyword_patterns(texts: Catalogue) -> tuple[tuple[str, re.Pattern[str]], ...]:
    """Return one pattern per topic matching its keywords in every language (word starts)."""
    patterns = []
    for topic in TOPICS:
        words = {
            normalise(word)
            for language in LANGUAGES
            for word in texts.text(f"help.keywords_{topic}", language).split(",")
            if word.strip()
        }
        # A keyword matches at the start of a word: "earn" finds "earned", not "learn"; a
        # Russian stem ("начисл") finds every ending.
        alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
        patterns.append((topic, re.compile(rf"(?<!\w)(?:{alternatives})")))
    return tuple(patterns)


def normalise(text: str) -> str:
    """Lower-case, "ё" as "е", straight apostrophes, single spaces: how texts are compared."""
    return " ".join(text.lower().replace("ё", "е").replace("\u2019", "'").split())


def topic_for(texts: Catalogue, text: str) -> str | None:
    """Return the first topic whose keywords (in any language) occur in `text`, or None."""
    plain = normalise(text)
    return next(
        (topic for topic, pattern in keyword_patterns(texts) if pattern.search(plain)), None
    )


def order_in(text: str) -> str | None:
    """Return the order id a message mentions ("order 10023", "заказ №A-7"), or None."""
    match = ORDER_IN_TEXT.search(text)
    return match.group(1) if match else None


# "Send me the order number" is kept in the store, not in PTB's user_data: the member's next
# message may reach another web worker (storage/conversations.py).


async def _awaiting_order(update: Update, context: BotContext) -> bool:
    user = update.effective_user
    if user is None:
        return False
    return await conversations.recall(context.store, user.id, AWAIT_ORDER_KEY) is not None


async def _await_order(update: Update, context: BotContext, on: bool) -> None:
    user = update.effective_user
    if user is None:
        return
    if on:
        await conversations.remember(context.store, user.id, AWAIT_ORDER_KEY, "1", AWAIT_ORDER_FOR)
    else:
        await conversations.forget(context.store, user.id, AWAIT_ORDER_KEY)


async def free_text(update: Update, context: BotContext) -> None:
    """Answer a question typed in words: an order look-up, an FAQ, or the menu of questions."""
    message = update.effective_message
    if message is None or not message.text:
        return
    text = message.text
    topic = topic_for(context.services.texts, text)
    awaiting = await _awaiting_order(update, context)
    order_id = order_in(text) if topic in (None, "missing", "payment") else None
    if order_id is None and awaiting and topic is None and (bare := JUST_ID.match(text)):
        order_id = bare.group(1)
    if order_id is not None:
        await look_up(update, context, order_id)
    elif topic is not None:
        await send_answer(update, context, topic)
    elif awaiting:
        markup = context.services.once(
            ("help.ask_order_markup", context.lang), lambda: _answer_keyboard(context)
        )
        await reply(update, context, context.t("help.send_order_id"), markup)
    else:
        await reply(update, context, context.t("help.not_understood"), menu_keyboard(context))


# --- the menu and the answers --------------------------------------------------------------


def menu_keyboard(context: BotContext) -> InlineKeyboardMarkup:
    """Return the questions as buttons, then "talk to a person"."""
    linked = context.member_id is not None
    return context.services.once(
        ("help.menu", context.lang, linked), lambda: _menu_keyboard(context, linked)
    )


def _menu_keyboard(context: BotContext, linked: bool) -> InlineKeyboardMarkup:
    t = context.t
    rows = [[button(t(f"help.q_{topic}"), f"help:{topic}")] for topic in MENU]
    rows.append([button(t("help.talk_to_person"), SUPPORT)])
    if linked:
        rows.append([button(t("menu.main"), "nav:me")])
    return keyboard(*rows)


def _answer_keyboard(context: BotContext, *extra: Row) -> InlineKeyboardMarkup:
    t = context.t
    return keyboard(
        *extra,
        [button(t("help.talk_to_person"), SUPPORT)],
        [button(t("help.questions"), "nav:help")],
    )


async def menu(update: Update, context: BotContext) -> None:
    """Show the questions (also to a user who has not linked an account yet)."""
    await answer_query(update)
    await _await_order(update, context, False)
    text = context.t("help.menu", programme=context.store.program.name)
    await reply(update, context, text, menu_keyboard(context))


async def answer(update: Update, context: BotContext) -> None:
    """Answer the question whose button was pressed."""
    await answer_query(update)
    if context.matches:
        await send_answer(update, context, context.matches[0].group(1))


async def send_answer(update: Update, context: BotContext, topic: str) -> None:
    """Render one FAQ answer with the buttons that lead on from it."""
    await _await_order(update, context, topic == "missing")
    if topic == "payment":  # it may show the member's held points: never kept
        text: Html = await payment_text(context)
        markup = context.services.once(
            ("help.answer_markup", topic, context.lang), lambda: _topic_keyboard(context, topic)
        )
    else:  # the programme's rules in the member's language: built once per language
        text, markup = context.services.once(
            ("help.answer", topic, context.lang),
            lambda: (ANSWERS.get(topic, missing_text)(context), _topic_keyboard(context, topic)),
        )
    await reply(update, context, text, markup)


def _topic_keyboard(context: BotContext, topic: str) -> InlineKeyboardMarkup:
    t, program = context.t, context.store.program
    extra: list[Row] = []
    if topic == "earn" and daily.enabled(context.store):
        extra.append([button(t("menu.daily"), "nav:daily")])
    elif topic == "spend" and program.coupons.enabled:
        extra.append([button(t("menu.coupons"), "nav:coupons")])
    elif topic == "payment":
        extra.append([button(t("help.check_order"), "help:missing")])
    return _answer_keyboard(context, *extra)


def _points(context: BotContext, count: int) -> Html:
    return context.tp("units.points", count)


def _money(context: BotContext, cents: int) -> str:
    return money(cents, context.store.program.currency, context.lang)


def _bullets(context: BotContext, title: Html, lines: list[Html]) -> Html:
    return join([title, *(context.t("help.bullet", text=line) for line in lines)])


def _order_rule(context: BotContext) -> Html | None:
    """Describe what a delivered order earns ("1 point per whole $1.00 ... over $2.00")."""
    rule = context.store.program.earning
    if not rule.order_points_per_dollar:
        return None
    values = {
        "points": _points(context, rule.order_points_per_dollar),
        "unit": _money(context, 100),
    }
    if rule.order_min_cents:
        return context.t(
            "help.earn_order_over", minimum=_money(context, rule.order_min_cents), **values
        )
    return context.t("help.earn_order", **values)


def _review_rule(context: BotContext, prefix: str = "help.earn_review") -> Html | None:
    """Describe what a review earns: a fixed amount, a share of the order, or both."""
    program, lang = context.store.program, context.lang
    rule = program.earning
    points = _points(context, rule.review_points)
    share = {
        "percent": percent(rule.review_percent_bp, lang),
        "value": _money(context, program.point_value_cents),
    }
    if rule.review_points and rule.review_percent_bp:
        return context.t(f"{prefix}_both", points=points, **share)
    if rule.review_points:
        return context.t(f"{prefix}_points", points=points)
    if rule.review_percent_bp:
        return context.t(f"{prefix}_share", **share)
    return None


def earn_text(context: BotContext) -> Html:
    """How to earn: every earning rule the programme has, and only those."""
    program, t = context.store.program, context.t
    rule = program.earning
    lines = [line for line in (_order_rule(context), _review_rule(context)) if line]
    if rule.daily_purchase_points:
        points = _points(context, rule.daily_purchase_points)
        lines.append(
            t(
                "help.earn_daily_purchase_over",
                points=points,
                minimum=_money(context, rule.order_min_cents),
            )
            if rule.order_min_cents
            else t("help.earn_daily_purchase", points=points)
        )
    if rule.daily_checkin_points:
        lines.append(t("help.earn_checkin", points=_points(context, rule.daily_checkin_points)))
    if program.coins.enabled and program.coins.streak:
        lines.append(coins_rule(context))
    if rule.email_verified_points:
        lines.append(t("help.earn_email", points=_points(context, rule.email_verified_points)))
    if rule.referrer_points:
        key = "help.earn_referrer_" + rule.referrer_on
        lines.append(t(key, points=_points(context, rule.referrer_points)))
    if rule.referee_points:
        key = "help.earn_referee_" + rule.referee_on
        lines.append(t(key, points=_points(context, rule.referee_points)))
    if not lines:
        return t("help.earn_none")
    text = _bullets(context, t("help.earn_title"), lines)
    if rule.order_points_per_dollar or rule.review_points or rule.review_percent_bp:
        text = join([text, Html(""), t("help.earn_clawback")])
    if program.levels.basis == "points":
        text = join([text, t("help.earn_levels")])
    return text


def coins_rule(context: BotContext) -> Html:
    """Describe the coin streak: "10, 10, 15 ... for days 1-7 in a row, then 30 a day"."""
    schedule, lang = context.store.program.coins.streak, context.lang
    last = context.tp("units.coins", schedule[-1])
    if len(set(schedule)) == 1:
        return context.t("help.earn_coins_flat", coins=last)
    amounts = ", ".join(number(n, lang) for n in schedule)
    return context.t("help.earn_coins_streak", amounts=amounts, days=len(schedule), coins=last)


def spend_text(context: BotContext) -> Html:
    """How to spend: coupons (with their prices, limit, validity, burn) and/or checkout."""
    program, t = context.store.program, context.t
    parts: list[Html] = []
    if program.coupons.enabled and program.coupons.options:
        parts.append(_coupons_part(context))
    if program.checkout.enabled and program.checkout.caps:
        parts.append(_checkout_part(context))
    if not parts:
        return t("help.spend_none")
    return join([t("help.spend_title"), *parts], "\n\n")


def _coupons_part(context: BotContext) -> Html:
    program, lang, t = context.store.program, context.lang, context.t
    coupons = program.coupons
    lines = []
    for option in coupons.options:
        prices = [context.tp("units.points", option.points)] if option.points else []
        if program.coins.enabled and option.coins:
            prices.append(context.tp("units.coins", option.coins))
        if not prices:
            continue
        price = prices[0] if len(prices) == 1 else t("help.or", first=prices[0], second=prices[1])
        lines.append(t("help.spend_coupon", value=_money(context, option.value_cents), price=price))
    text = _bullets(context, t("help.spend_coupons"), lines)
    rules = [context.tp("help.spend_limit", coupons.daily_limit)] if coupons.daily_limit else []
    if coupons.daily_limit and program.coins.enabled:
        rules.append(t("help.spend_limit_shared"))
    if coupons.validity_days:
        rules.append(context.tp("help.spend_validity", coupons.validity_days))
    if coupons.burn_month_day is not None:
        rules.append(t("help.spend_burn", date=month_day(*coupons.burn_month_day, lang)))
    return join([text, join(rules, " ")]) if rules else text


def _checkout_part(context: BotContext) -> Html:
    program, lang, t = context.store.program, context.lang, context.t
    caps = program.checkout.caps
    lines = []
    if caps[0].from_cents > 0:
        lines.append(t("help.cap_none_under", upper=_money(context, caps[0].from_cents)))
    for i, cap in enumerate(caps):
        share = percent(cap.percent_bp, lang)
        upper = caps[i + 1].from_cents if i + 1 < len(caps) else None
        if upper is None:
            key = "help.cap_any" if cap.from_cents == 0 else "help.cap_from"
            lines.append(t(key, lower=_money(context, cap.from_cents), share=share))
        elif cap.from_cents == 0:
            lines.append(t("help.cap_under", upper=_money(context, upper), share=share))
        else:
            lines.append(
                t(
                    "help.cap_between",
                    lower=_money(context, cap.from_cents),
                    upper=_money(context, upper - 1),
                    share=share,
                )
            )
    title = t("help.spend_checkout", value=_money(context, program.point_value_cents))
    text = _bullets(context, title, lines)
    tiers = program.levels.tiers
    first = next((tier for tier in tiers if tier.checkout), None)
    if first is not None and first is not tiers[0]:
        text = join([text, t("help.spend_checkout_from", level=first.name)])
    return join([text, t("help.spend_hold")])


def _condition(context: BotContext, tier: Tier, first: bool) -> Html:
    program, t = context.store.program, context.t
    parts: list[Html] = []
    if program.levels.basis == "points" and tier.min_points:
        parts.append(t("help.level_from_points", points=_points(context, tier.min_points)))
    elif program.levels.basis == "spend" and tier.min_spend_cents:
        parts.append(t("help.level_from_spend", amount=_money(context, tier.min_spend_cents)))
    for requirement in tier.requires:
        if requirement.kind == "email_verified":
            parts.append(t("help.level_needs_email"))
        else:
            parts.append(t("help.level_needs_order", amount=_money(context, requirement.cents)))
    if not parts:
        return t("help.level_start" if first else "help.level_free")
    return join(parts, t("help.level_and"))


def levels_text(context: BotContext) -> Html:
    """What each level takes and gives, lowest first, with the programme's own perks."""
    program, lang, t = context.store.program, context.lang, context.t
    levels = program.levels
    window = (
        context.tp("help.levels_window", levels.window_days)
        if levels.window_days
        else t("help.levels_lifetime")
    )
    lines = [t(f"help.levels_intro_{levels.basis}", window=window)]
    for i, tier in enumerate(levels.tiers):
        lines += [
            Html(""),
            t("help.level", level=tier.name, condition=_condition(context, tier, i == 0)),
        ]
        perks = [t("help.bullet", text=perk.text_for(lang)) for perk in tier.perks]
        lines += perks or [t("help.bullet", text=t("help.level_no_perks"))]
    return join(lines)


async def payment_text(context: BotContext) -> Html:
    """A failed payment: what happens to held points and why earned points are not affected."""
    program, t = context.store.program, context.t
    lines = [t("help.payment_title")]
    if program.checkout.enabled:
        lines.append(t("help.payment_hold"))
        if context.member_id is not None:
            view = await members.view(context.store, context.member_id)
            lines.append(
                t("help.payment_held_now", points=_points(context, view.points_held))
                if view.points_held
                else t("help.payment_nothing_held")
            )
    if program.earning.order_points_per_dollar:
        lines.append(t("help.payment_earn_on_delivery"))
    else:
        lines.append(t("help.payment_earned_safe"))
    if program.coupons.enabled:
        lines.append(t("help.payment_coupon"))
    lines.append(t("help.payment_check"))
    return join(lines, "\n\n")


def missing_text(context: BotContext) -> Html:
    """Points missing for an order: when they arrive, and a prompt for the order number."""
    t = context.t
    lines = [t("help.missing_title")]
    rule = _order_rule(context)
    if rule is not None:
        lines.append(t("help.missing_on_delivery", rule=rule))
    else:
        lines.append(t("help.missing_no_order_points"))
        review = _review_rule(context, "help.missing_review")
        if review is not None:
            lines.append(review)
    lines.append(t("help.missing_ask"))
    return join(lines, "\n\n")


# The answers that depend on the programme and the language alone.
ANSWERS: dict[str, Callable[[BotContext], Html]] = {
    "earn": earn_text,
    "spend": spend_text,
    "levels": levels_text,
    "missing": missing_text,
}


# --- order look-up -------------------------------------------------------------------------


async def look_up(update: Update, context: BotContext, order_id: str) -> None:
    """Say an order's status and points: only the caller's own orders are ever found."""
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    await _await_order(update, context, True)
    found = await orders.for_member(context.store, member_id, order_id)
    if found is None:
        text = context.t("help.order_not_found", order=order_id)
    else:
        text = order_text(context, found)
    markup = context.services.once(
        ("help.order_markup", context.lang),
        lambda: _answer_keyboard(
            context, [button(context.t("help.check_another"), "help:missing")]
        ),
    )
    await reply(update, context, text, markup)


def order_text(context: BotContext, order: OrderStatus) -> Html:
    """Render an order's status, what it earned or lost, and what happens next."""
    program, lang, t = context.store.program, context.lang, context.t
    zone = program.timezone
    head = t(
        "help.order_head",
        order=order.order_id,
        amount=_money(context, order.amount_cents),
        placed=day(order.placed_at.astimezone(zone).date(), lang),
    )
    lines = [head]
    status = order.status
    if status in ("placed", "paid"):
        lines.append(t(f"help.order_{status}"))
        if order.points_on_delivery:
            lines.append(
                t("help.order_will_earn", points=_points(context, order.points_on_delivery))
            )
        else:
            lines.append(_no_order_points(context))
        if order.points_held:
            lines.append(t("help.order_held", points=_points(context, order.points_held)))
    elif status == "delivered":
        delivered = order.delivered_at or order.placed_at
        lines.append(t("help.order_delivered", date=day(delivered.astimezone(zone).date(), lang)))
        if order.points_earned:
            lines.append(t("help.order_earned", points=_points(context, order.points_earned)))
        else:
            lines.append(_no_order_points(context))
        if order.points_for_review:
            lines.append(t("help.order_review", points=_points(context, order.points_for_review)))
    elif status in ("returned", "not_delivered"):
        lines.append(t(f"help.order_{status}"))
        if order.points_earned:
            lines.append(
                t(
                    "help.order_taken_back",
                    earned=_points(context, order.points_earned),
                    taken=_points(context, order.points_taken_back),
                )
            )
            if order.points_shortfall:
                lines.append(
                    t("help.order_shortfall", points=_points(context, order.points_shortfall))
                )
        else:
            lines.append(t("help.order_nothing_taken"))
    elif status == "cancelled":
        lines.append(t("help.order_cancelled"))
    else:
        lines.append(t("help.order_other"))
    if order.points_captured:
        lines.append(t("help.order_captured", points=_points(context, order.points_captured)))
    if order.points_released:
        lines.append(t("help.order_released", points=_points(context, order.points_released)))
    return join(lines, "\n")


def _no_order_points(context: BotContext) -> Html:
    rule = context.store.program.earning
    if rule.order_points_per_dollar and rule.order_min_cents:
        return context.t("help.order_too_small", minimum=_money(context, rule.order_min_cents))
    return context.t("help.order_no_points")


def register(app: Application, group: int) -> None:
    """Add /help and the question buttons (free text is registered apart, after all features)."""
    app.add_handler(CommandHandler("help", menu), group)
    app.add_handler(CallbackQueryHandler(menu, pattern=r"^nav:help$"), group)
    app.add_handler(CallbackQueryHandler(answer, pattern=ANSWER), group)


def register_free_text(app: Application, group: int) -> None:
    """Add the free-text answerer: any private text that is not a command."""
    app.add_handler(
        MessageHandler(filters.TEXT & ~filters.COMMAND & filters.ChatType.PRIVATE, free_text),
        group,
    )
