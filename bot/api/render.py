"""Operation answers as the contract's JSON: the member card, coupons, holds, link tokens."""

from __future__ import annotations

from typing import Any

from bot.api.context import ApiContext
from storage.checkout import Hold, Quote
from storage.coupons import Coupon
from storage.links import LinkToken
from storage.members import MemberView

# Perk texts in the member answer are English: the shop renders its own language from the
# codes; the bot shows members the texts in theirs.
PERK_LANGUAGE = "en"


def member(ctx: ApiContext, view: MemberView, active: list[Coupon]) -> dict[str, Any]:
    """Return the member answer exactly as INTERFACES.md section 3 shows it."""
    next_level: dict[str, Any] | None = None
    if view.next is not None:
        next_level = {"code": view.next.tier.code}
        if ctx.store.program.levels.basis == "points":
            next_level["points_needed"] = view.next.points_needed
        else:
            next_level["spend_needed_cents"] = view.next.spend_needed_cents
    return {
        "member_id": view.member_id,
        "telegram_linked": view.telegram_linked,
        "points": view.points,
        "points_held": view.points_held,
        "coins": view.coins,
        "level": {
            "code": view.tier.code,
            "name": view.tier.name,
            "perks": [
                {"code": perk.code, "text": perk.text_for(PERK_LANGUAGE)}
                for perk in view.tier.perks
            ],
        },
        "next_level": next_level,
        "coupons": [coupon_of_member(ctx, c) for c in active],
    }


def coupon_of_member(ctx: ApiContext, coupon: Coupon) -> dict[str, Any]:
    """Return a coupon as listed in the member answer."""
    return {
        "code": coupon.code,
        "value_cents": coupon.value_cents,
        "status": coupon.status,
        "expires_at": ctx.local(coupon.expires_at),
    }


def coupon(ctx: ApiContext, found: Coupon) -> dict[str, Any]:
    """Return a coupon looked up by code: the member-list fields plus its owner."""
    return {**coupon_of_member(ctx, found), "member_id": found.member_id}


def redeemed(ctx: ApiContext, used: Coupon) -> dict[str, Any]:
    """Return a redeemed coupon: its fields plus the order it paid and when."""
    return {
        **coupon(ctx, used),
        "order_id": used.order_id,
        "used_at": ctx.local(used.used_at) if used.used_at else None,
    }


def hold(found: Hold) -> dict[str, Any]:
    """Return a checkout hold."""
    return found.to_dict()


def quote(found: Quote) -> dict[str, Any]:
    """Return a checkout quote."""
    return {
        "member_id": found.member_id,
        "amount_cents": found.amount_cents,
        "max_points": found.max_points,
        "value_cents": found.value_cents,
    }


def link_token(ctx: ApiContext, token: LinkToken, url: str) -> dict[str, Any]:
    """Return a link token with its deep link."""
    return {"token": token.token, "url": url, "expires_at": ctx.local(token.expires_at)}
