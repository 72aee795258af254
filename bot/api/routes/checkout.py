"""Checkout: quote how many points may pay an order, hold them, capture or release the hold.

Errors of the operations not mapped here reach the app's handler: an unknown hold in the path
is 404, a released hold captured (or a captured one released) is 409.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api import render
from bot.api.body import Fields, path_id, read_json
from bot.api.context import api, note
from bot.api.errors import from_operation
from storage import checkout
from storage.errors import NotFound


async def post_quote(request: Request) -> Response:
    """Return how many points the member may use on an order of `amount_cents`."""
    ctx = api(request)
    fields = Fields(read_json(request), ("member_id", "amount_cents"))
    member_id = fields.identifier("member_id", addressable=True)
    amount = fields.integer("amount_cents", 1, checkout.MAX_ORDER_CENTS)
    fields.done()
    assert amount is not None
    note(request, member_id=member_id)
    try:
        found = await checkout.quote(ctx.store, member_id, amount)
    except NotFound as exc:
        raise from_operation(exc, unknown_status=422) from None
    return JSONResponse(render.quote(found))


async def post_hold(request: Request) -> Response:
    """Set points aside for an order: 201 with the new hold; a repeat answers 200, unchanged."""
    ctx = api(request)
    fields = Fields(
        read_json(request), ("hold_id", "member_id", "order_id", "points", "amount_cents")
    )
    hold_id = fields.identifier("hold_id", addressable=True)
    member_id = fields.identifier("member_id", addressable=True)
    order_id = fields.identifier("order_id")
    points = fields.integer("points", 1, checkout.MAX_HOLD_POINTS)
    amount = fields.integer("amount_cents", 1, checkout.MAX_ORDER_CENTS, required=False)
    fields.done()
    assert points is not None
    note(request, hold_id=hold_id, member_id=member_id, order_id=order_id)
    try:
        found, created = await checkout.hold(
            ctx.store, hold_id, member_id, order_id, points, amount_cents=amount
        )
    except NotFound as exc:
        raise from_operation(exc, unknown_status=422) from None
    note(request, outcome="created" if created else "repeat")
    return JSONResponse(render.hold(found), status_code=201 if created else 200)


async def post_capture(request: Request) -> Response:
    """Spend the held points on the paid order; repeating it is harmless."""
    ctx = api(request)
    hold_id = path_id(request, "hold_id")
    note(request, hold_id=hold_id)
    return JSONResponse(render.hold(await checkout.capture(ctx.store, hold_id, ctx.hold_lifetime)))


async def post_release(request: Request) -> Response:
    """Give the held points back, exactly once however often it is repeated."""
    ctx = api(request)
    hold_id = path_id(request, "hold_id")
    note(request, hold_id=hold_id)
    return JSONResponse(render.hold(await checkout.release(ctx.store, hold_id)))
