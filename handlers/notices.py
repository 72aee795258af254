"""Messages the bot sends on its own (reminders, account notices), rendered from outbox rows.

The scheduler (bot/jobs.py) claims due notices from storage and asks `render` for the text
and buttons in the member's language; every fact shown was decided by storage or the
programme, none is computed here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from telegram import InlineKeyboardMarkup

from handlers.catalogue import Html, choose_language, join
from handlers.formatting import day, moment, money, number
from handlers.services import Services
from handlers.ui import button, keyboard
from loyalty.program import Program
from storage.db import from_db
from storage.outbox import Notice


class Speaker:
    """Texts in one language, with the programme at hand."""

    def __init__(self, services: Services, language: str) -> None:
        self.texts = services.texts
        self.lang = language
        self.program: Program = services.store.program

    def t(self, key: str, **values: Any) -> Html:
        """Return a notice text."""
        return self.texts.text(f"notices.{key}", self.lang, **values)

    def tp(self, key: str, count: int, **values: Any) -> Html:
        """Return a counted notice text."""
        return self.texts.plural(f"notices.{key}", count, self.lang, **values)


def language_of(services: Services, notice: Notice) -> str:
    """Return the language to write a notice in (as the bot would answer that member)."""
    return choose_language(notice.language, notice.telegram_language, services.default_language)


Rendered = tuple[Html, InlineKeyboardMarkup | None]


def render(services: Services, notice: Notice) -> Rendered:
    """Return the text and buttons of a claimed notice."""
    renderer = RENDERERS.get(notice.kind)
    if renderer is None:
        raise ValueError(f"no renderer for notice kind {notice.kind!r}")
    return renderer(Speaker(services, language_of(services, notice)), notice)


class Renderer:
    """Renders notices for a fan-out: check-in reminders differ only by language and offer,
    so each variant is rendered once (texts and keyboards are a third of a send's CPU)."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._daily: dict[tuple[str, object], Rendered] = {}

    def __call__(self, notice: Notice) -> Rendered:
        """Return the text and buttons of a claimed notice."""
        if notice.kind != "daily_checkin":
            return render(self.services, notice)
        key = (language_of(self.services, notice), notice.daily)
        found = self._daily.get(key)
        if found is None:
            if len(self._daily) > 1_000:
                self._daily.clear()
            found = self._daily[key] = render(self.services, notice)
        return found


def _daily(s: Speaker, notice: Notice) -> Rendered:
    offer = notice.daily
    assert offer is not None  # storage attaches the offer to every check-in reminder
    parts = []
    if offer.coins:
        parts.append(s.tp("coins", offer.coins))
    if offer.points:
        parts.append(s.tp("points", offer.points))
    reward = s.t("reward_both", coins=parts[0], points=parts[1]) if len(parts) == 2 else parts[0]
    text = (
        s.tp("daily_streak", offer.streak_at_risk, reward=reward)
        if offer.streak_at_risk
        else s.t("daily_plain", reward=reward)
    )
    markup = keyboard(
        [button(s.t("check_in"), "nav:daily")], [button(s.t("settings"), "nav:settings")]
    )
    return text, markup


def _coupon_lines(s: Speaker, notice: Notice) -> list[Html]:
    zone = s.program.timezone
    return [
        s.t(
            "coupon_line",
            value=money(c.value_cents, s.program.currency, s.lang),
            until=moment(c.expires_at, zone, s.lang),
        )
        for c in notice.coupons
    ]


def _digest_markup(s: Speaker) -> InlineKeyboardMarkup:
    return keyboard(
        [button(s.t("coupons"), "nav:coupons")], [button(s.t("settings"), "nav:settings")]
    )


def _expiry(s: Speaker, notice: Notice) -> Rendered:
    lines = [s.tp("expiry_title", len(notice.coupons)), *_coupon_lines(s, notice)]
    return join([join(lines), s.t("expiry_hint")], "\n\n"), _digest_markup(s)


def _burn(s: Speaker, notice: Notice) -> Rendered:
    burn_day = notice.coupons[0].expires_at.astimezone(s.program.timezone).date()
    lines = [s.tp("burn_list", len(notice.coupons)), *_coupon_lines(s, notice)]
    text = join(
        [s.t("burn_title", date=day(burn_day, s.lang)), join(lines), s.t("burn_hint")], "\n\n"
    )
    return text, _digest_markup(s)


def _balance_markup(s: Speaker) -> InlineKeyboardMarkup:
    return keyboard([button(s.t("balance"), "nav:me")])


def _order_points(s: Speaker, notice: Notice) -> Rendered:
    p = notice.payload
    return s.tp("order_points", int(p["points"]), order=p["order_id"]), _balance_markup(s)


def _clawback(s: Speaker, notice: Notice) -> Rendered:
    p = notice.payload
    key = {"not_delivered": "clawback_not_delivered", "refunded": "clawback_refunded"}.get(
        str(p.get("status")), "clawback_returned"
    )
    lines = [s.tp(key, int(p["points"]), order=p["order_id"])]
    if p.get("shortfall"):
        lines.append(s.tp("clawback_shortfall", int(p["shortfall"])))
    return join(lines), _balance_markup(s)


def _level_changed(s: Speaker, notice: Notice) -> Rendered:
    p, levels = notice.payload, s.program.levels
    new, old = levels.by_code(p["new"]), levels.by_code(p["old"])
    names = {"level": new.name if new else p["new"], "old": old.name if old else p["old"]}
    lines = [s.t("level_up" if p.get("up") else "level_down", **names)]
    if not p.get("up") and levels.window_days:
        lines.append(s.tp("level_window", levels.window_days))
    if new is not None and new.perks:
        lines += [
            Html(""),
            s.t("perks"),
            *(s.t("perk", text=k.text_for(s.lang)) for k in new.perks),
        ]
    return join(lines), _balance_markup(s)


def _hold_released(s: Speaker, notice: Notice) -> Rendered:
    p = notice.payload
    text = s.tp(
        "hold_released", int(p["points"]), order=p["order_id"],
        balance=number(int(p["balance"]), s.lang),
    )  # fmt: skip
    return text, _balance_markup(s)


def _coupon_ready(s: Speaker, notice: Notice) -> Rendered:
    p, program = notice.payload, s.program
    text = s.t(
        "coupon_ready", value=money(int(p["value_cents"]), program.currency, s.lang),
        code=p["code"], expires=moment(from_db(p["expires_at"]), program.timezone, s.lang),
    )  # fmt: skip
    return text, None


def _coupon_refused(s: Speaker, notice: Notice) -> Rendered:
    p = notice.payload
    cost = s.texts.plural(f"units.{p['currency']}", int(p["cost"]), s.lang,
                                   n=number(int(p["cost"]), s.lang))  # fmt: skip
    value = money(int(p["value_cents"]), s.program.currency, s.lang)
    return s.t("coupon_refused", value=value, cost=cost), _balance_markup(s)


def _support_grant(s: Speaker, notice: Notice) -> Rendered:
    """A grant from the owner's console, told like an agent's /grant."""
    p = notice.payload
    amount, currency = int(p["amount"]), str(p["currency"])
    text = s.texts.text(
        "support.grant_added" if amount > 0 else "support.grant_removed",
        s.lang,
        amount=s.texts.plural(f"units.{currency}", abs(amount), s.lang),
        reason=str(p["reason"]),
        balance=s.texts.plural(f"units.{currency}", int(p["balance"]), s.lang),
    )
    return text, _balance_markup(s)


def _support_coupon(s: Speaker, notice: Notice) -> Rendered:
    """A goodwill coupon from the owner's console, told like an agent's /coupon."""
    p = notice.payload
    text = s.texts.text(
        "support.coupon_gift",
        s.lang,
        value=money(int(p["value_cents"]), s.program.currency, s.lang),
        code=str(p["code"]),
        expires=moment(datetime.fromisoformat(str(p["expires_at"])), s.program.timezone, s.lang),
        reason=str(p["reason"]),
    )
    return text, _balance_markup(s)


RENDERERS: dict[str, Callable[[Speaker, Notice], Rendered]] = {
    "daily_checkin": _daily,
    "coupon_expiry": _expiry,
    "coupon_burn": _burn,
    "order_points": _order_points,
    "clawback": _clawback,
    "level_changed": _level_changed,
    "hold_released": _hold_released,
    "coupon_ready": _coupon_ready,
    "coupon_refused": _coupon_refused,
    "support_grant": _support_grant,
    "support_coupon": _support_coupon,
}
# Notices that carry a coupon code: sent as protected content, like the bot's own code replies.
PROTECTED = frozenset({"coupon_ready", "support_coupon"})
