"""Who a web request is for: a Telegram user by their Mini App's initData, an admin by cookie."""

from __future__ import annotations

import logging

from starlette.requests import Request

from bot.api.context import note
from bot.api.errors import ApiError
from bot.logs import kv
from bot.web import session
from bot.web.context import web
from bot.web.initdata import InitDataInvalid, WebAppUser, validate

log = logging.getLogger(__name__)


def telegram_user(request: Request) -> WebAppUser:
    """Return the user of the request's `Authorization: tma <initData>`; 401 unless genuine."""
    ctx = web(request)
    if ctx.init_key is None:
        raise ApiError(503, "Mini Apps are not available: the bot token is unknown")
    scheme, _, data = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "tma":
        raise ApiError(401, "send Authorization: tma <initData>", code="unauthorized")
    try:
        return validate(data.strip(), ctx.init_key, now=ctx.store.now(), max_age=ctx.init_max_age)
    except InitDataInvalid as exc:
        log.info("initData refused", extra=kv(event="init_data_refused", reason=str(exc)))
        raise ApiError(401, "the Telegram data is not valid", code="unauthorized") from None


def admin(request: Request, *, action: bool = False) -> int:
    """Return the signed-in admin's Telegram id; 401 without a valid session, 403 if not admin.

    An `action` must also come as JSON (a cross-site form cannot send that).
    """
    ctx = web(request)
    found = session.verify(ctx.session_secret, request.cookies.get(session.COOKIE), ctx.store.now())
    if found is None:
        raise ApiError(401, "sign in through the bot: send /console to it", code="unauthorized")
    if found.admin_id not in ctx.admin_ids:
        raise ApiError(403, "this Telegram account is not an admin", code="forbidden")
    media = request.headers.get("content-type", "").split(";")[0].strip()
    if action and media != "application/json":
        raise ApiError(415, "console actions are JSON requests", code="unsupported_media_type")
    note(request, admin_id=found.admin_id)
    return found.admin_id
