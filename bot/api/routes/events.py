"""POST /api/v1/events: shop events, applied once by event id."""

from __future__ import annotations

import time
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api.body import read_json
from bot.api.context import api, note
from bot.api.errors import from_operation
from storage import events
from storage.errors import Conflict, OperationError, Refused


async def post_event(request: Request) -> Response:
    """Apply one shop event: `processed`, or `duplicate` for a repeat of the same id and body.

    422 lists every problem with the event (or names the unknown member or order); 409 answers
    an id already used with another body, or an event the order's state cannot follow.
    """
    ctx = api(request)
    body = read_json(request)
    given = body.get("type") if isinstance(body, Mapping) else None
    type_ = given if isinstance(given, str) and given in events.EVENT_FIELDS else "unknown"
    if isinstance(body, Mapping) and isinstance(body.get("id"), str):
        note(request, event_id=body["id"][:128], type=type_)
    start = time.perf_counter()
    try:
        answer = await events.apply_event(ctx.store, body)
    except OperationError as exc:
        outcome = "conflict" if isinstance(exc, Conflict | Refused) else "rejected"
        ctx.metrics.event(type_, outcome, time.perf_counter() - start)
        note(request, outcome=outcome, code=exc.code)
        # An unknown member or order is named in the body: 422, as the contract says.
        raise from_operation(exc, unknown_status=422) from None
    ctx.metrics.event(type_, answer["status"], time.perf_counter() - start)
    note(request, outcome=answer["status"], member_id=answer.get("member_id"))
    return JSONResponse(answer)
