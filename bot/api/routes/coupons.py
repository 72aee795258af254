"""Coupons: look one up by code, redeem it on an order."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api import render
from bot.api.body import Fields, path_id, read_json
from bot.api.context import api, note
from storage import coupons


async def get_coupon(request: Request) -> Response:
    """Return a coupon's value, owner, status and expiry (404 for an unknown code)."""
    ctx = api(request)
    found = await coupons.get(ctx.store, path_id(request, "code"))
    note(request, member_id=found.member_id)
    return JSONResponse(render.coupon(ctx, found))


async def post_redeem(request: Request) -> Response:
    """Use a coupon on an order; 409 when it is not active or belongs to another member.

    Redeeming it again for the same order answers the same, harmlessly.
    """
    ctx = api(request)
    code = path_id(request, "code")
    fields = Fields(read_json(request), ("member_id", "order_id"))
    member_id = fields.identifier("member_id", addressable=True)
    order_id = fields.identifier("order_id")
    fields.done()
    note(request, member_id=member_id, order_id=order_id)
    used = await coupons.redeem(ctx.store, code, member_id, order_id)
    return JSONResponse(render.redeemed(ctx, used))
