"""Fixtures for the shop API: the app on a real store, an HTTP client that checks every answer
against the OpenAPI document, and event helpers that go through HTTP."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.api.app import build_api
from bot.config import Config, parse_config
from storage.store import Store
from tests.api.contract import CONTRACT

API_KEY = "test-key-3f9a"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
BOT = "loyalty_test_bot"
_ids = itertools.count(1)


def make_config(program: dict[str, Any] | None = None, **server: Any) -> Config:
    return parse_config(
        {
            "program": program or {"preset": "marketplace"},
            "telegram": {"bot_username": BOT},
            "server": server,
        }
    )


async def _check(response: httpx.Response) -> None:
    await response.aread()
    request = response.request
    CONTRACT.check(
        request.method,
        request.url.path,
        response.status_code,
        response.headers.get("content-type", ""),
        response.content,
    )


def client_for(
    app: Starlette, *, base_url: str = "http://shop.test", **kwargs: Any
) -> httpx.AsyncClient:
    """Return an HTTP client for `app` (in-process) that checks answers against the document."""
    transport = kwargs.pop("transport", None) or httpx.ASGITransport(app=app)
    return httpx.AsyncClient(
        transport=transport,
        base_url=base_url,
        headers=AUTH,
        event_hooks={"response": [_check]},
        **kwargs,
    )


def app_for(store: Store, **kwargs: Any) -> Starlette:
    config = kwargs.pop("config", None) or make_config()
    kwargs.setdefault("bot_username", BOT)
    return build_api(config, store, api_key=API_KEY, **kwargs)


@pytest.fixture
def app(store: Store) -> Starlette:
    return app_for(store)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c


@pytest.fixture
async def vip(vip_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app_for(vip_store, config=make_config({"preset": "vip-shop"}))) as c:
        yield c


def event(type_: str, at: datetime, event_id: str | None = None, **data: Any) -> dict[str, Any]:
    """Build a shop event body."""
    return {
        "id": event_id or f"evt-{next(_ids)}",
        "type": type_,
        "occurred_at": at.isoformat(),
        "data": data,
    }


class Shop:
    """A shop talking to the API: sends events and asserts they were processed."""

    def __init__(self, client: httpx.AsyncClient, store: Store) -> None:
        self.client = client
        self.store = store

    async def send(self, type_: str, event_id: str | None = None, **data: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/api/v1/events", json=event(type_, self.store.now(), event_id, **data)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def member(self, member_id: str, **data: Any) -> str:
        await self.send("member.upserted", member_id=member_id, **data)
        return member_id

    async def delivered(
        self, member_id: str, amount_cents: int, order_id: str | None = None
    ) -> str:
        order_id = order_id or f"o-{next(_ids)}"
        await self.send("order.placed", order_id=order_id, member_id=member_id,
                        amount_cents=amount_cents)  # fmt: skip
        await self.send("order.delivered", order_id=order_id)
        return order_id

    async def card(self, member_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/members/{member_id}")
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def shop(client: httpx.AsyncClient, store: Store) -> Shop:
    return Shop(client, store)


@pytest.fixture
def vip_shop(vip: httpx.AsyncClient, vip_store: Store) -> Shop:
    return Shop(vip, vip_store)


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an error answer's status and return its `error` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    found = body["error"]
    assert found["message"] not in found["details"], body  # details never repeat the message
    return found
