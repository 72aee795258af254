"""Fixtures for the card and the console: the app on a real store, signed initData, members."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.api.app import build_api
from bot.config import Config, parse_config
from bot.web.initdata import sign
from storage import links
from storage.store import Store
from tests.conftest import delivered_order, member

TOKEN = "123456:TEST-token-for-the-card"
SECRET = b"s" * 32
ADMIN = 900_001
ANN_TG, BOB_TG = 700_001, 700_002


def web_config(**web: Any) -> Config:
    return parse_config(
        {
            "program": {"preset": "marketplace"},
            "telegram": {"bot_username": "loyalty_test_bot"},
            "support": {"admin_ids": [ADMIN]},
            "web": web,
        }
    )


def web_app(store: Store, *, secret: bytes = SECRET, **web: Any) -> Starlette:
    return build_api(
        web_config(**web), store, api_key="k-test", bot_username="loyalty_test_bot",
        bot_token=TOKEN, session_secret=secret,
    )  # fmt: skip


def init_data(
    user_id: int, at: datetime, *, token: str = TOKEN, language: str = "en", **user: Any
) -> str:
    """initData as Telegram signs it for `user_id` at `at`."""
    return sign(
        token,
        {"id": user_id, "first_name": "Ann", "language_code": language, **user},
        at,
        query_id="AAHdF6IQAAAAAN0XohDhrOrc",
    )


def tma(data: str) -> dict[str, str]:
    return {"Authorization": f"tma {data}"}


async def linked_member(store: Store, member_id: str, telegram_user_id: int, **data: Any) -> str:
    await member(store, member_id, **data)
    token = await links.create_token(store, member_id)
    await links.consume_token(store, token.token, telegram_user_id)
    return member_id


@pytest.fixture
async def members_ab(store: Store) -> tuple[str, str]:
    """Ann (1,205 points from an order) and Bob (155 points), both linked."""
    ann = await linked_member(store, "m-ann", ANN_TG, name="Ann", email="ann@example.com")
    await delivered_order(store, ann, 120_000)
    bob = await linked_member(store, "m-bob", BOB_TG, name="Bob")
    await delivered_order(store, bob, 15_000)
    return ann, bob


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=web_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://card.test") as c:
        yield c
