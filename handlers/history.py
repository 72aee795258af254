"""/history: the member's ledger in pages, each row in words, newest first."""

from __future__ import annotations

from functools import lru_cache

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from handlers.catalogue import Catalogue, Html, escape, join
from handlers.context import BotContext
from handlers.formatting import moment, money, number
from handlers.menu import member_or_prompt
from handlers.ui import Row, answer_query, button, keyboard, reply
from storage import ledger
from storage.ledger import Entry, HistoryPage

PAGE_SIZE = 10
# "b" pages to older rows (before an id), "a" to newer ones (after an id). The ids are only
# cursors: the page is always read by the caller's own member id, so a forged id can at most
# move the member within their own history.
PAGE = r"^hist:([ba]):(\d{1,18})$"
# Notes are typed by operators; a page of ten must stay far below Telegram's 4096 characters.
MAX_NOTE = 120
MINUS = "\u2212"
# Reasons whose row names an order in `ref` (hold rows keep the order in `note`).
ORDER_IN_REF = {"order", "review", "daily_purchase", "clawback", "refund_clawback"}
KNOWN = {
    "order", "review", "daily_purchase", "daily_checkin", "daily_coins", "referral",
    "referral_welcome", "email_verified", "coupon", "coupon_goodwill", "clawback", "hold",
    "hold_release", "grant", "refund_clawback", "referral_clawback", "hold_refund",
    "coupon_reversed",
}  # fmt: skip


def signed(context: BotContext, entry: Entry) -> Html:
    """Render a row's amount with its sign and unit: "+20 points", "−500 coins"."""
    return _signed(context.services.texts, context.lang, entry.currency, entry.amount)


@lru_cache(maxsize=4096)
def _signed(texts: Catalogue, lang: str, currency: str, amount: int) -> Html:
    # Amounts recur (a day's check-in, a coupon's price): a page formats ten of them.
    sign = "+" if amount > 0 else MINUS if amount < 0 else ""
    value = sign + number(abs(amount), lang)
    return texts.plural(f"units.{currency}", abs(amount), lang, n=value)


def _note(entry: Entry) -> str:
    note = (entry.note or "").strip()
    return note if len(note) <= MAX_NOTE else note[: MAX_NOTE - 1] + "…"


def describe(context: BotContext, entry: Entry) -> Html:
    """Say what one ledger row was, from the catalogue by its reason."""
    return describe_in(context.services.texts, context.store.program.currency, context.lang, entry)


def describe_in(texts: Catalogue, currency: str, lang: str, entry: Entry) -> Html:
    """Say what one ledger row was, in `lang` (the member's, or the agents' on the card)."""
    reason = entry.reason if entry.reason in KNOWN else "other"
    values: dict[str, object] = {"amount": _signed(texts, lang, entry.currency, entry.amount)}
    if reason in ORDER_IN_REF:
        values["order"] = entry.ref or "?"
    if reason in ("hold", "hold_release", "hold_refund"):
        values["order"] = entry.note or "?"
    if reason in ("coupon", "coupon_goodwill"):
        cents = entry.coupon_value_cents or 0
        values["value"] = money(cents, currency, lang)
    if reason in ("grant", "coupon_goodwill"):
        values["note"] = _note(entry)
    text = texts.text(f"history.{reason}", lang, **values)
    if reason in ("clawback", "refund_clawback", "referral_clawback") and entry.shortfall:
        unit = texts.plural(f"units.{entry.currency}", entry.shortfall, lang)
        text = Html(text + texts.text("history.shortfall", lang, shortfall=unit))
    return text


def render(context: BotContext, page: HistoryPage) -> Html:
    """Render a page: a dated line per row, in the programme's time zone."""
    program, lang = context.store.program, context.lang
    lines = [context.t("history.title"), Html("")]
    line = context.services.texts.template("history.line", lang)  # formatted ten times
    for entry in page.entries:
        when = escape(moment(entry.created_at, program.timezone, lang))
        lines.append(Html(line.format(when=when, what=describe(context, entry))))
    return join(lines)


async def show(update: Update, context: BotContext) -> None:
    """Show the newest page."""
    await answer_query(update)
    await _page(update, context, None, None)


async def turn(update: Update, context: BotContext) -> None:
    """Show the page an Older/Newer button points at."""
    await answer_query(update)
    if not context.matches:
        return
    direction, cursor = context.matches[0].group(1), int(context.matches[0].group(2))
    await _page(update, context, *((cursor, None) if direction == "b" else (None, cursor)))


async def _page(update: Update, context: BotContext, before: int | None, after: int | None) -> None:
    member_id = await member_or_prompt(update, context)
    if member_id is None:
        return
    page = await ledger.history(
        context.store, member_id, before_id=before, after_id=after, limit=PAGE_SIZE
    )
    t = context.t
    back: Row = [button(t("menu.back"), "nav:me")]
    if not page.entries:
        if before is None and after is None:
            await reply(update, context, t("history.empty"), keyboard(back))
            return
        # A cursor past either end (an old or forged button): offer the newest page.
        newest = [button(t("history.newest"), "nav:history")]
        await reply(update, context, t("history.no_more"), keyboard(newest, back))
        return
    paging: Row = []
    if page.newer_after_id is not None:
        paging.append(button(t("history.newer"), f"hist:a:{page.newer_after_id}"))
    if page.next_before_id is not None:
        paging.append(button(t("history.older"), f"hist:b:{page.next_before_id}"))
    await reply(update, context, render(context, page), keyboard(paging, back))


def register(app: Application, group: int) -> None:
    """Add /history and its buttons."""
    app.add_handler(CommandHandler("history", show), group)
    app.add_handler(CallbackQueryHandler(show, pattern=r"^nav:history$"), group)
    app.add_handler(CallbackQueryHandler(turn, pattern=PAGE), group)
