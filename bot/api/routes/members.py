"""Members: the member card, and link tokens for the shop's "Connect Telegram" button."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api import render
from bot.api.body import path_id
from bot.api.context import api, note
from bot.api.errors import ApiError
from handlers.services import deep_link
from storage import coupons, links, members
from storage.errors import Refused


async def get_member(request: Request) -> Response:
    """Return a member's balances, level, progress, active coupons and Telegram link."""
    ctx = api(request)
    member_id = path_id(request, "member_id")
    note(request, member_id=member_id)
    view = await members.view(ctx.store, member_id)
    active = await coupons.of_member(ctx.store, member_id, active_only=True)
    return JSONResponse(render.member(ctx, view, active))


async def post_link_token(request: Request) -> Response:
    """Create a single-use deep link that links the member's Telegram account."""
    ctx = api(request)
    member_id = path_id(request, "member_id")
    note(request, member_id=member_id)
    if not ctx.bot_username:
        raise ApiError(
            503,
            "the bot's username is unknown: set telegram.bot_username (or a bot token)",
            code="bot_username_unknown",
        )
    try:
        token = await links.create_token(
            ctx.store, member_id, ctx.link_ttl, per_hour=ctx.link_tokens_per_hour
        )
    except Refused as exc:
        wait = exc.context.get("retry_after", 60)
        raise ApiError(
            429, exc.message, code=exc.code, headers={"Retry-After": str(wait)}
        ) from None
    url = deep_link(ctx.bot_username, token.token)
    return JSONResponse(render.link_token(ctx, token, url))
