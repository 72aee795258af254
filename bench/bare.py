"""The bare Starlette JSON endpoint the shop API is measured against: what HTTP itself costs.

Parse the body, answer `{"status": "processed"}`: bench/http_events.py serves it in a process
of its own, bench/http_parts.py also awaits it in-process. Kept apart from those scripts so
that the bare process imports Starlette and nothing of the product.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

PATH = "/api/v1/events"


async def events(request: Request) -> JSONResponse:
    """Parse the event and answer it processed."""
    body = await request.json()
    return JSONResponse({"id": body["id"], "status": "processed"})


def bare_app() -> Starlette:
    """Return the bare app: one route, POST /api/v1/events."""
    return Starlette(routes=[Route(PATH, events, methods=["POST"])])
