"""The owner's console at /console/: sign-in, the overview, members, audited actions, exports.

Only `support.admin_ids` get in. They sign in through the bot: `/console` gives a one-time link
(10 minutes, used once) and a Mini App button; either ends in a session cookie (HttpOnly,
SameSite=Strict, Secure behind https, expiring), signed with the server's secret. Every
request re-checks that the cookie's admin is still in `admin_ids`. Actions are POSTs with a
JSON body (a cross-site form cannot send one), recorded with the acting admin.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.api.body import Fields, path_id, read_json
from bot.api.context import api
from bot.api.errors import ApiError
from bot.logs import kv
from bot.web import exports, session
from bot.web.auth import admin, telegram_user
from bot.web.context import WebContext, answer, web
from bot.web.pages import page
from handlers.formatting import money
from loyalty.calendar import day_start
from storage import (
    admin_actions,
    console,
    console_logins,
    coupons,
    ledger,
    members,
    tickets,
)
from storage.errors import Refused

log = logging.getLogger(__name__)
LANG = "en"  # the console speaks English (agent-facing texts follow [support] language)
KEY = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
LEDGER_PAGE = 20


def _cookie(ctx: WebContext, response: Response, value: str) -> None:
    response.set_cookie(
        session.COOKIE,
        value,
        max_age=int(ctx.session_ttl.total_seconds()),
        path="/console",
        httponly=True,
        samesite="strict",
        secure=ctx.secure_cookies,
    )


def _signed_in(ctx: WebContext, admin_id: int) -> Response:
    response = answer({"admin_id": admin_id})
    _cookie(
        ctx, response, session.issue(ctx.session_secret, admin_id, ctx.store.now(), ctx.session_ttl)
    )
    log.info("console sign-in", extra=kv(event="console_signed_in", admin_id=admin_id))
    return response


# -- pages and sign-in ---------------------------------------------------------------------


async def get_page(request: Request) -> Response:
    """Return the console's page (it signs in from the link's fragment, then loads data)."""
    return page("console.html")


async def get_script(request: Request) -> Response:
    """Return the console's script."""
    return page("console.js")


async def _to_slash(request: Request) -> Response:
    return RedirectResponse("/console/", status_code=308)


async def post_login(request: Request) -> Response:
    """Trade a one-time link's token for a session cookie (the link works once)."""
    ctx = web(request)
    fields = Fields(read_json(request), ("token",))
    token = fields.body.get("token")
    if not isinstance(token, str):
        fields.problems.append("token: required")
    fields.done()
    try:
        admin_id = await console_logins.consume(ctx.store, str(token))
    except Refused as exc:
        raise ApiError(401, exc.message, code=exc.code) from None
    if admin_id not in ctx.admin_ids:
        raise ApiError(403, "this Telegram account is not an admin", code="forbidden")
    return _signed_in(ctx, admin_id)


async def post_session(request: Request) -> Response:
    """Sign in from the Mini App: its initData names an admin."""
    ctx = web(request)
    user = telegram_user(request)
    if user.id not in ctx.admin_ids:
        raise ApiError(403, "this Telegram account is not an admin", code="forbidden")
    return _signed_in(ctx, user.id)


async def post_logout(request: Request) -> Response:
    """End the session in this browser."""
    response = answer({"signed_out": True})
    response.delete_cookie(session.COOKIE, path="/console")
    return response


# -- reading -------------------------------------------------------------------------------


def _money(ctx: WebContext, cents: int) -> str:
    return money(cents, ctx.store.program.currency, LANG)


async def get_overview(request: Request) -> Response:
    """Return the overview: members, points per day, liability, coupons, support, health."""
    ctx = web(request)
    admin(request)
    seen = await console.overview(ctx.store, ctx.overview_cache)
    liability = seen.liability
    # Telegram's state as the bot last heard it (bot.telegram_link); none in a process
    # without a bot.
    telegram = api(request).telegram
    health = {"telegram": telegram()} if telegram is not None else {}
    connectors = await console.connector_health(ctx.store, list(ctx.connectors))
    health.update((c.platform, c.state) for c in connectors)
    body = {
        "members": {
            "total": seen.members_total,
            "linked": seen.members_linked,
            "active_30d": seen.members_active,
        },
        "by_level": [{"code": c, "name": n, "members": m} for c, n, m in seen.by_level],
        "points_by_day": [
            {
                "day": d.day.isoformat(),
                "earned": d.earned,
                "spent": d.spent,
                "taken_back": d.taken_back,
            }
            for d in seen.points_by_day
        ],
        "liability": {
            "points": liability.points,
            "coins": liability.coins,
            "points_cents": liability.points_cents,
            "coins_cents": liability.coins_cents,
            "coupons_cents": liability.coupons_cents,
            "total_cents": liability.total_cents,
            "total_text": _money(ctx, liability.total_cents),
            "points_text": _money(ctx, liability.points_cents),
            "coins_text": _money(ctx, liability.coins_cents),
            "coupons_text": _money(ctx, liability.coupons_cents),
        },
        "coupons": seen.coupons,
        "tickets": {
            "open": seen.tickets_open,
            "closed": seen.tickets_closed,
            "median_first_answer_seconds": seen.median_first_answer_seconds,
        },
        "ratings": {str(k): v for k, v in seen.ratings.items()},
        "reminders": seen.reminders,
        "health": health,
        "connectors": [
            {
                **asdict(c),
                "state": c.state,
                "last_delivery_at": api(request).local(c.last_delivery_at)
                if c.last_delivery_at
                else None,
            }
            for c in connectors
        ],
        "programme": {"name": ctx.store.program.name, "currency": ctx.store.program.currency},
        "read_at": api(request).local(seen.read_at),
    }  # fmt: skip
    return answer(body)


async def get_members(request: Request) -> Response:
    """Search members by id, e-mail or Telegram username."""
    ctx = web(request)
    admin(request)
    found = await console.search(ctx.store, request.query_params.get("q", ""))
    return answer({"members": [_found(request, f) for f in found]})


def _found(request: Request, f: console.Found) -> dict[str, Any]:
    row = asdict(f)
    row["created_at"] = api(request).local(f.created_at)
    return row


def _entries(request: Request, page_: ledger.HistoryPage) -> dict[str, Any]:
    local = api(request).local
    return {
        "entries": [
            {
                "id": e.id,
                "created_at": local(e.created_at),
                "currency": e.currency,
                "amount": e.amount,
                "balance_after": e.balance_after,
                "reason": e.reason,
                "ref": e.ref,
                "actor": e.actor,
                "note": e.note,
            }
            for e in page_.entries
        ],
        "next_before_id": page_.next_before_id,
    }


async def get_member(request: Request) -> Response:
    """Return a member's page: balances, level, ledger, coupons, tickets, console actions."""
    ctx = web(request)
    admin(request)
    member_id = path_id(request, "member_id")
    view = await members.view(ctx.store, member_id)
    local = api(request).local
    all_coupons = await coupons.of_member(ctx.store, member_id)
    found = await ledger.history(ctx.store, member_id, limit=LEDGER_PAGE)
    user_id = view.telegram_user_id
    support = await tickets.state(ctx.store, user_id) if user_id is not None else None
    body = {
        "member_id": view.member_id,
        "name": view.name,
        "email": view.email,
        "points": view.points,
        "points_held": view.points_held,
        "coins": view.coins,
        "level": {"code": view.tier.code, "name": view.tier.name},
        "telegram_user_id": user_id,
        "banned": bool(support and support.banned),
        "coupons": [
            {
                "code": c.code,
                "value_cents": c.value_cents,
                "value_text": _money(ctx, c.value_cents),
                "status": c.status,
                "paid_with": c.paid_with,
                "issued_at": local(c.issued_at),
                "expires_at": local(c.expires_at),
            }
            for c in all_coupons
        ],
        "ledger": _entries(request, found),
        "tickets": [
            {
                **asdict(t),
                "opened_at": local(t.opened_at),
                "closed_at": local(t.closed_at) if t.closed_at else None,
            }
            for t in await console.tickets_of(ctx.store, member_id, user_id)
        ],
        "actions": [
            {
                "admin_id": a.admin_id,
                "action": a.action,
                "detail": a.detail,
                "created_at": local(a.created_at),
            }
            for a in await admin_actions.of_member(ctx.store, member_id)
        ],
        "coupon_values": [o.value_cents for o in ctx.store.program.coupons.options]
        if ctx.store.program.coupons.enabled
        else [],
        "coins_enabled": ctx.store.program.coins.enabled,
    }
    return answer(body)


async def get_ledger(request: Request) -> Response:
    """Return an older page of a member's ledger."""
    ctx = web(request)
    admin(request)
    member_id = path_id(request, "member_id")
    before = request.query_params.get("before", "")
    if not before.isdigit() or len(before) > 18:
        raise ApiError(422, "before must be a ledger row id", code="invalid")
    found = await ledger.history(ctx.store, member_id, before_id=int(before), limit=LEDGER_PAGE)
    return answer(_entries(request, found))


# -- actions -------------------------------------------------------------------------------


def _reason(fields: Fields) -> str:
    reason = fields.body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        fields.problems.append("reason: required")
        return ""
    if len(reason) > admin_actions.MAX_REASON:
        fields.problems.append(f"reason: at most {admin_actions.MAX_REASON} characters")
    return reason


def _key(fields: Fields) -> str:
    key = fields.body.get("key")
    if not isinstance(key, str) or not KEY.match(key):
        fields.problems.append("key: 8 to 64 letters, digits, _ or -")
        return ""
    return key


async def post_grant(request: Request) -> Response:
    """Add or remove points (or coins) with a reason, recorded with the admin."""
    ctx = web(request)
    admin_id = admin(request, action=True)
    member_id = path_id(request, "member_id")
    fields = Fields(read_json(request), ("amount", "currency", "reason", "key"))
    amount = fields.integer("amount", -10_000_000, 10_000_000)
    currency = fields.body.get("currency", "points")
    if currency not in ("points", "coins"):
        fields.problems.append("currency: must be points or coins")
    reason, key = _reason(fields), _key(fields)
    fields.done()
    done = await admin_actions.grant(
        ctx.store, admin_id, member_id, amount or 0, reason=reason, currency=currency,
        key=f"console:{admin_id}:{key}",
    )  # fmt: skip
    return answer({"ledger_id": done.ledger_id, "balance_after": done.balance_after})


async def post_coupon(request: Request) -> Response:
    """Give a goodwill coupon with a reason, recorded with the admin."""
    ctx = web(request)
    admin_id = admin(request, action=True)
    member_id = path_id(request, "member_id")
    fields = Fields(read_json(request), ("value_cents", "reason", "key"))
    value = fields.integer("value_cents", 1, 100_000_000)
    reason, key = _reason(fields), _key(fields)
    fields.done()
    coupon = await admin_actions.goodwill(
        ctx.store, admin_id, member_id, value or 0, reason=reason, key=f"console:{admin_id}:{key}"
    )
    return answer({"code": coupon.code, "value_cents": coupon.value_cents})


async def post_unlink(request: Request) -> Response:
    """Remove the member's Telegram link, recorded with the admin."""
    ctx = web(request)
    admin_id = admin(request, action=True)
    member_id = path_id(request, "member_id")
    Fields(read_json(request), ()).done()
    user_id = await admin_actions.unlink(ctx.store, admin_id, member_id)
    return answer({"unlinked": True, "telegram_user_id": user_id})


async def post_ban(request: Request) -> Response:
    """Ban the member's Telegram user from support, recorded with the admin."""
    ctx = web(request)
    admin_id = admin(request, action=True)
    member_id = path_id(request, "member_id")
    fields = Fields(read_json(request), ("reason",))
    reason = _reason(fields)
    fields.done()
    banned = await admin_actions.ban(ctx.store, admin_id, member_id, reason=reason)
    return answer({"banned": True, "already": not banned})


# -- exports -------------------------------------------------------------------------------


def _day(request: Request, name: str) -> date:
    raw = request.query_params.get(name, "")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(422, f"{name} must be a date, YYYY-MM-DD", code="invalid") from None


async def get_members_csv(request: Request) -> Response:
    """Export every member as CSV."""
    ctx = web(request)
    admin(request)
    return exports.members_csv(ctx.store, api(request).local)


async def get_ledger_csv(request: Request) -> Response:
    """Export the ledger rows of a date range (programme days, both included) as CSV."""
    ctx = web(request)
    admin(request)
    first, last = _day(request, "from"), _day(request, "to")
    if last < first or (last - first).days > 3_660:
        raise ApiError(422, "to must be on or after from, within ten years", code="invalid")
    program = ctx.store.program
    start, end = day_start(program, first), day_start(program, last + timedelta(days=1))
    name = f"ledger-{first.isoformat()}-{last.isoformat()}.csv"
    return exports.ledger_csv(ctx.store, start, end, api(request).local, name)


ROUTES = [
    Route("/console", _to_slash, methods=["GET"]),
    Route("/console/", get_page, methods=["GET"]),
    Route("/console/console.js", get_script, methods=["GET"]),
    Route("/console/api/login", post_login, methods=["POST"]),
    Route("/console/api/session", post_session, methods=["POST"]),
    Route("/console/api/logout", post_logout, methods=["POST"]),
    Route("/console/api/overview", get_overview, methods=["GET"]),
    Route("/console/api/members", get_members, methods=["GET"]),
    Route("/console/api/members/{member_id}", get_member, methods=["GET"]),
    Route("/console/api/members/{member_id}/ledger", get_ledger, methods=["GET"]),
    Route("/console/api/members/{member_id}/grant", post_grant, methods=["POST"]),
    Route("/console/api/members/{member_id}/coupon", post_coupon, methods=["POST"]),
    Route("/console/api/members/{member_id}/unlink", post_unlink, methods=["POST"]),
    Route("/console/api/members/{member_id}/ban", post_ban, methods=["POST"]),
    Route("/console/export/members.csv", get_members_csv, methods=["GET"]),
    Route("/console/export/ledger.csv", get_ledger_csv, methods=["GET"]),
]
