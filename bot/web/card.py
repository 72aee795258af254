"""The member's card, a Telegram Mini App at /app/: the page and its JSON API.

Every API request carries `Authorization: tma <initData>`; the card serves only the member
linked to the Telegram user that initData was signed for. No request names a member: there is
no id to change. The answers are the same storage operations the bot uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.api import render
from bot.api.body import Fields, read_json
from bot.api.context import ApiContext, api, note
from bot.api.errors import ApiError
from bot.web import qr
from bot.web.auth import telegram_user
from bot.web.context import WebContext, answer, plain, web
from bot.web.initdata import WebAppUser
from bot.web.pages import page
from handlers.catalogue import choose_language
from handlers.formatting import day, moment, money, number
from handlers.history import describe_in
from loyalty.calendar import programme_day
from loyalty.program import Currency, Requirement
from storage import coupons, daily, ledger, members, telegram_users
from storage.coupons import Coupon
from storage.errors import Refused
from storage.ledger import HistoryPage
from storage.members import MemberView

HISTORY_PAGE = 10
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


@dataclass(frozen=True)
class Member:
    """Who a card request is for: the Telegram user, their member id and language."""

    user: WebAppUser
    member_id: str
    lang: str


async def card_member(request: Request) -> Member:
    """Return the linked member of the request's initData (401 for anything not genuine)."""
    ctx = web(request)
    user = telegram_user(request)
    profile = await telegram_users.profile(ctx.store, user.id)
    lang = choose_language(profile.language, user.language_code, ctx.default_language)
    if profile.member_id is None:
        raise ApiError(403, t(ctx, lang, "not_linked"), code="not_linked")
    note(request, member_id=profile.member_id)
    return Member(user, profile.member_id, lang)


def t(ctx: WebContext, lang: str, key: str, **values: object) -> str:
    """Return a card text as plain text."""
    return plain(ctx.texts.text(f"card.{key}", lang, **values))


def _units(ctx: WebContext, lang: str, currency: str, amount: int) -> str:
    return plain(ctx.texts.plural(f"units.{currency}", amount, lang))


async def get_page(request: Request) -> Response:
    """Return the card's page (the data comes from /app/api/me)."""
    return page("card.html")


async def get_script(request: Request) -> Response:
    """Return the card's script."""
    return page("card.js")


async def get_qr(request: Request) -> Response:
    """Return an SVG QR code of a coupon code (the code itself is all it shows)."""
    code = str(request.path_params["code"])
    if not qr.CODE.match(code):
        raise ApiError(404, "not a coupon code")
    return Response(
        qr.svg(code),
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=86400"},
    )


def _coupon(ctx: WebContext, actx: ApiContext, lang: str, coupon: Coupon) -> dict[str, Any]:
    program = ctx.store.program
    return {
        **render.coupon_of_member(actx, coupon),
        "value_text": money(coupon.value_cents, program.currency, lang),
        "valid_text": t(
            ctx, lang, "valid_until", date=moment(coupon.expires_at, program.timezone, lang)
        ),
        "qr_url": f"qr/{coupon.code}.svg",
    }


def _progress(ctx: WebContext, lang: str, view: MemberView) -> dict[str, Any]:
    """Return the bar to the next level: a percentage and what is left, in words."""
    program = ctx.store.program
    if view.next is None:
        return {"percent": 100, "text": t(ctx, lang, "top_level")}
    points_basis = program.levels.basis == "points"
    have = view.standing.points if points_basis else view.standing.spend_cents
    low = view.tier.min_points if points_basis else view.tier.min_spend_cents
    high = view.next.tier.min_points if points_basis else view.next.tier.min_spend_cents
    span = max(high - low, 1)
    percent = max(0, min(100, (have - low) * 100 // span))
    needed = view.next.points_needed if points_basis else view.next.spend_needed_cents
    lacking = [
        t(ctx, lang, "needs", level=view.next.tier.name,
          what="; ".join(_requirement(ctx, lang, r) for r in view.next.missing))
    ] if view.next.missing else []  # fmt: skip
    if not needed:
        if lacking:  # the amount is there; a verified e-mail or a first order is not
            return {"percent": percent, "text": lacking[0]}
        return {"percent": 100, "text": t(ctx, lang, "next_ready", level=view.next.tier.name)}
    amount = (
        _units(ctx, lang, "points", needed)
        if points_basis
        else money(needed, program.currency, lang)
    )
    text = t(ctx, lang, "to_next", amount=amount, level=view.next.tier.name)
    return {"percent": percent, "text": " ".join([text, *lacking])}


def _requirement(ctx: WebContext, lang: str, requirement: Requirement) -> str:
    """Say what a level requirement the member lacks is (the bot's /me words)."""
    if requirement.kind == "email_verified":
        text = ctx.texts.text("me.needs_email", lang)
    else:
        amount = money(requirement.cents, ctx.store.program.currency, lang)
        text = ctx.texts.text("me.needs_order", lang, amount=amount)
    return plain(text).strip().lstrip("•").strip()  # the bot's words are a bulleted line


def _history(ctx: WebContext, lang: str, found: HistoryPage) -> dict[str, Any]:
    program = ctx.store.program
    return {
        "entries": [
            {
                "id": e.id,
                "when": moment(e.created_at, program.timezone, lang),
                "what": plain(describe_in(ctx.texts, program.currency, lang, e)),
                "amount": e.amount,
                "currency": e.currency,
            }
            for e in found.entries
        ],
        "next_before_id": found.next_before_id,
    }


def _exchange(ctx: WebContext, lang: str, view: MemberView) -> dict[str, Any]:
    program = ctx.store.program
    offers = []
    for option in program.coupons.options if program.coupons.enabled else ():
        value = money(option.value_cents, program.currency, lang)
        for currency, cost in (("points", option.points), ("coins", option.coins)):
            if cost and (currency == "points" or program.coins.enabled):
                offers.append({
                    "value_cents": option.value_cents,
                    "currency": currency,
                    "cost": cost,
                    "label": t(ctx, lang, "exchange_option", value=value,
                               cost=_units(ctx, lang, currency, cost)),
                    "affordable": (view.points if currency == "points" else view.coins) >= cost,
                })  # fmt: skip
    return {
        "enabled": bool(offers),
        "offers": offers,
        "left_today": view.exchanges_left_today,
        "left_text": t(ctx, lang, "left_today", left=view.exchanges_left_today,
                       limit=program.coupons.daily_limit),
    }  # fmt: skip


def _texts(ctx: WebContext, lang: str) -> dict[str, str]:
    keys = (
        "title", "points", "coins", "perks", "coupons", "no_coupons", "show_code", "exchange",
        "confirm", "cancel", "daily", "daily_claim", "daily_done", "history", "no_history",
        "older", "failed", "denied",
    )  # fmt: skip
    return {key: t(ctx, lang, key) for key in keys}


async def card_data(ctx: WebContext, actx: ApiContext, who: Member) -> dict[str, Any]:
    """Return everything the card shows for `who` (the body of GET /app/api/me)."""
    store, lang, program = ctx.store, who.lang, ctx.store.program
    view = await members.view(store, who.member_id)
    active = await coupons.of_member(store, who.member_id, active_only=True)
    found = await ledger.history(store, who.member_id, limit=HISTORY_PAGE)
    claimed_today = view.last_claim_day == programme_day(program, store.now())
    body = render.member(actx, view, active)
    body["level"]["perks"] = [{"code": p.code, "text": p.text_for(lang)} for p in view.tier.perks]
    body.update(
        name=view.name or who.user.first_name or view.member_id,
        language=lang,
        texts=_texts(ctx, lang),
        hello=t(ctx, lang, "hello", name=view.name or who.user.first_name or view.member_id),
        points_text=number(view.points, lang),
        coins_text=number(view.coins, lang) if program.coins.enabled else None,
        held_text=t(ctx, lang, "held", points=number(view.points_held, lang))
        if view.points_held
        else None,
        level_text=t(ctx, lang, "level", level=view.tier.name),
        progress=_progress(ctx, lang, view),
        coupons=[_coupon(ctx, actx, lang, c) for c in active],
        exchange=_exchange(ctx, lang, view),
        daily={"enabled": daily.enabled(store), "claimed_today": claimed_today},
        history=_history(ctx, lang, found),
    )
    return body


async def get_me(request: Request) -> Response:
    """Return the member's card data."""
    ctx = web(request)
    who = await card_member(request)
    return answer(await card_data(ctx, api(request), who))


async def get_history(request: Request) -> Response:
    """Return an older page of the member's history (`before` is a cursor in their own rows)."""
    ctx = web(request)
    who = await card_member(request)
    before = request.query_params.get("before", "")
    if not before.isdigit() or len(before) > 18:
        raise ApiError(422, "before must be a ledger row id", code="invalid")
    found = await ledger.history(
        ctx.store, who.member_id, before_id=int(before), limit=HISTORY_PAGE
    )
    return answer(_history(ctx, who.lang, found))


CURRENCIES: dict[object, Currency] = {"points": "points", "coins": "coins"}


def _offer(body: Any) -> tuple[int, Currency, Fields]:
    fields = Fields(body, ("value_cents", "currency", "key"))
    value = fields.integer("value_cents", 1, 100_000_000)
    currency = CURRENCIES.get(fields.body.get("currency"))
    if currency is None:
        fields.problems.append("currency: must be points or coins")
    return value or 0, currency or "points", fields


def _refused(ctx: WebContext, lang: str, exc: Refused) -> ApiError:
    key = {"daily_limit": "refused_daily_limit", "insufficient": "refused_insufficient"}
    message = t(ctx, lang, key[exc.code]) if exc.code in key else exc.message
    return ApiError(409, message, code=exc.code)


async def post_preview(request: Request) -> Response:
    """Return what an exchange would cost and give, for the confirmation."""
    ctx = web(request)
    who = await card_member(request)
    value, currency, fields = _offer(read_json(request))
    fields.done()
    program, lang = ctx.store.program, who.lang
    try:
        seen = await coupons.preview(ctx.store, who.member_id, value, currency)
    except Refused as exc:
        raise _refused(ctx, lang, exc) from None
    cost = _units(ctx, lang, currency, seen.cost)
    valid = moment(seen.expires_at, program.timezone, lang)
    worth = money(seen.value_cents, program.currency, lang)
    after = _units(ctx, lang, currency, seen.balance_after)
    body: dict[str, Any] = {
        "title": t(ctx, lang, "confirm_title", cost=cost, value=worth),
        "after": t(ctx, lang, "confirm_after", after=after, date=valid),
        "cut_short": None,
    }
    if seen.cut_short:
        burn = day(seen.expires_at.astimezone(program.timezone).date(), lang)
        body["cut_short"] = t(ctx, lang, "cut_short", date=burn)
    return answer(body)


async def post_exchange(request: Request) -> Response:
    """Exchange points or coins for a coupon; the same `key` again returns the same coupon."""
    ctx = web(request)
    who = await card_member(request)
    value, currency, fields = _offer(read_json(request))
    key = fields.body.get("key")
    if not isinstance(key, str) or not KEY.match(key):
        fields.problems.append("key: 8 to 64 letters, digits, _ or -")
    fields.done()
    try:
        done = await coupons.exchange(
            ctx.store, who.member_id, value, currency, f"app:{who.user.id}:{key}",
        )  # fmt: skip
    except Refused as exc:
        raise _refused(ctx, who.lang, exc) from None
    note(request, replayed=done.replayed)
    return answer(
        {
            "coupon": _coupon(ctx, api(request), who.lang, done.coupon),
            "replayed": done.replayed,
            "message": t(ctx, who.lang, "issued", code=done.coupon.code),
        }
    )


async def post_daily(request: Request) -> Response:
    """Claim today's check-in (once a day; a second claim says it was done)."""
    ctx = web(request)
    who = await card_member(request)
    Fields(read_json(request), ()).done()  # "{}": nothing to choose, but no junk either
    claim = await daily.claim(ctx.store, who.member_id)
    lang = who.lang
    if not claim.claimed:
        return answer({"claimed": False, "message": t(ctx, lang, "daily_done")})
    parts = [
        _units(ctx, lang, currency, amount)
        for currency, amount in (("coins", claim.coins), ("points", claim.points))
        if amount
    ]
    reward = ", +".join(parts)
    return answer({"claimed": True, "message": t(ctx, lang, "daily_claimed", reward=reward)})
