"""Health, metrics, the OpenAPI document and the Telegram webhook."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Mapping
from functools import cache

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api.body import read_json
from bot.api.context import MalformedUpdate, api
from bot.api.errors import ApiError
from bot.api.openapi import document
from bot.logs import kv
from storage import updates

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 2.0


async def get_health(request: Request) -> Response:
    """Answer 200 while the database answers a query (503 otherwise), with the parts' state.

    Telegram away makes the service `degraded`, not down: the shop API works on without it.
    """
    ctx = api(request)
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT):
            await ctx.store.db.read_one("SELECT 1")
    except Exception as exc:  # any failure to answer is "unhealthy", whatever its kind
        log.warning("health check failed", extra=kv(event="health_check_failed"), exc_info=exc)
        raise ApiError(503, "the database does not answer", code="unavailable") from None
    body = {"status": "ok", "database": "ok"}
    if ctx.telegram is not None:
        body["telegram"] = ctx.telegram()
        if body["telegram"] != "ok":
            body["status"] = "degraded"
    return JSONResponse(body)


async def get_metrics(request: Request) -> Response:
    """Return the metrics in the Prometheus text format."""
    registry = api(request).metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@cache
def _openapi_json() -> bytes:
    return json.dumps(document(), ensure_ascii=False, separators=(",", ":")).encode()


async def get_openapi(request: Request) -> Response:
    """Return this API's OpenAPI 3.1 document."""
    return Response(_openapi_json(), media_type="application/json")


async def post_telegram_webhook(request: Request) -> Response:
    """Pass a Telegram update to the bot; 403 without the right secret token header.

    400 (logged) for JSON that is not an update: no integer `update_id`, or fields PTB cannot
    read as their types (`MalformedUpdate` from the callable).

    404 while the service runs without a webhook (polling mode, or no bot at all).
    """
    ctx = api(request)
    if ctx.telegram_webhook is None or not ctx.webhook_secret:
        raise ApiError(404, "this service does not take Telegram updates by webhook")
    given = request.headers.get("x-telegram-bot-api-secret-token", "").encode()
    if not hmac.compare_digest(given, ctx.webhook_secret.encode()):
        raise ApiError(403, "wrong or missing X-Telegram-Bot-Api-Secret-Token", code="forbidden")
    update = read_json(request)
    if not isinstance(update, Mapping):
        raise ApiError(422, "a Telegram update is a JSON object", code="invalid")
    update_id = update.get("update_id")
    try:
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise MalformedUpdate("update_id: required, an integer")
        # Telegram redelivers an update it thinks was lost; behind a balancer the repeat may
        # come to another worker: the first to record the id takes it (storage/updates.py).
        if not await updates.take(ctx.store, update_id):
            log.info("update repeated", extra=kv(event="update_repeated", update_id=update_id))
            return Response(status_code=200)
        await ctx.telegram_webhook(dict(update))
    except MalformedUpdate as exc:
        # The right secret but not an update: a bug or a forgery on Telegram's side of the
        # secret. Nothing was queued; 400 tells the sender not to retry it as it is.
        log.warning(
            "malformed telegram update",
            extra=kv(event="webhook_malformed_update", update_id=update_id, reason=str(exc)),
        )
        raise ApiError(400, f"not a Telegram update ({exc})", code="malformed_update") from None
    return Response(status_code=200)
