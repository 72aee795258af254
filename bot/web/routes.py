"""The web routes, mounted beside the shop API in one Starlette app (bot/api/app.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.web import card, console


async def _to_slash(request: Request) -> Response:
    return RedirectResponse(request.url.path + "/", status_code=308)


ROUTES = [
    Route("/app", _to_slash, methods=["GET"]),
    Route("/app/", card.get_page, methods=["GET"]),
    Route("/app/card.js", card.get_script, methods=["GET"]),
    Route("/app/qr/{code}.svg", card.get_qr, methods=["GET"]),
    Route("/app/api/me", card.get_me, methods=["GET"]),
    Route("/app/api/history", card.get_history, methods=["GET"]),
    Route("/app/api/exchange/preview", card.post_preview, methods=["POST"]),
    Route("/app/api/exchange", card.post_exchange, methods=["POST"]),
    Route("/app/api/daily", card.post_daily, methods=["POST"]),
    *console.ROUTES,
]
