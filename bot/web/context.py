"""What the card's and the console's routes need, built once per app (`app.state.web`)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse

from handlers.catalogue import Catalogue
from storage.console import OverviewCache
from storage.store import Store

_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class WebContext:
    """The store, the texts, the keys and the settings of the card and the console."""

    store: Store
    texts: Catalogue
    default_language: str
    init_key: bytes | None  # initdata.secret_key(bot token); None: the card answers 503
    init_max_age: timedelta
    session_secret: bytes
    session_ttl: timedelta
    admin_ids: frozenset[int]
    secure_cookies: bool  # behind https: cookies only over https
    connectors: tuple[str, ...] = ()  # the enabled shop connectors, for the overview's health
    overview_cache: OverviewCache = field(default_factory=OverviewCache, compare=False)


def web(request: Request) -> WebContext:
    """Return the web context of the app serving `request`."""
    return request.app.state.web


def plain(text: str) -> str:
    """Return catalogue HTML as plain text (the pages set texts with textContent)."""
    return html.unescape(_TAG.sub("", text))


def answer(body: object) -> JSONResponse:
    """Return a JSON answer about one person: never kept by a cache on the way."""
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
