"""Connector tests: the whole API app on a real store, and platforms that sign as they do."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette

from bot.api.app import build_api
from bot.config import Config, parse_config
from bot.connectors.mapping import sign
from bot.connectors.webhooks import Connectors
from loyalty.clock import ManualClock
from storage.store import Store

SAMPLES = Path(__file__).parent / "samples"
WC_SECRET = "wc-test-secret-8d1f"
SHOPIFY_SECRET = "shpss-test-secret-2c7e"
API_KEY = "test-key-3f9a"
_ids = itertools.count(1)
PLATFORMS = frozenset({"woocommerce", "shopify"})


def sample(name: str) -> dict[str, Any]:
    """Return a fresh copy of a published sample payload."""
    return copy.deepcopy(json.loads((SAMPLES / f"{name}.json").read_text("utf-8")))


def connector_config(program: dict[str, Any] | None = None, **connectors: Any) -> Config:
    """A config with both connectors on (overrides per platform as keyword tables)."""
    return parse_config(
        {
            "program": program or {"preset": "marketplace"},
            "telegram": {"bot_username": "loyalty_test_bot"},
            "connectors": {
                "woocommerce": {"enabled": True, "store_url": "https://wc.test",
                                **connectors.get("woocommerce", {})},
                "shopify": {"enabled": True, "shop_domain": "demo.myshopify.com",
                            **connectors.get("shopify", {})},
            },
        }
    )  # fmt: skip


def connector_app(store: Store, config: Config, registry: CollectorRegistry) -> Starlette:
    """The shop API with both connectors and their secrets (no environment needed)."""
    found = Connectors.build(
        config.connectors,
        store.program.currency,
        registry,
        environ={"WC_WEBHOOK_SECRET": WC_SECRET, "SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET},
    )
    return build_api(
        config, store, api_key=API_KEY, bot_username="loyalty_test_bot",
        metrics_registry=registry, connectors=found,
    )  # fmt: skip


class Platforms:
    """WooCommerce and Shopify posting webhooks to the app, each signing as it does."""

    def __init__(self, client: httpx.AsyncClient, store: Store, registry: CollectorRegistry):
        self.client = client
        self.store = store
        self.registry = registry

    async def wc(
        self,
        topic: str,
        payload: Any,
        *,
        delivery_id: str | None = None,
        secret: str = WC_SECRET,
        signature: str | None = None,
        indent: int | None = None,
    ) -> httpx.Response:
        """Deliver as WooCommerce: JSON body, X-WC-Webhook-* headers."""
        body = (
            payload if isinstance(payload, bytes) else json.dumps(payload, indent=indent).encode()
        )
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": "https://wc.test/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": topic.split(".")[0],
            "X-WC-Webhook-Event": topic.split(".")[-1],
            "X-WC-Webhook-ID": "12",
            "X-WC-Webhook-Delivery-ID": delivery_id or str(next(_ids)),
            "X-WC-Webhook-Signature": signature if signature is not None else sign(secret, body),
        }
        return await self.client.post("/connectors/woocommerce", content=body, headers=headers)

    async def shopify(
        self,
        topic: str,
        payload: Any,
        *,
        webhook_id: str | None = None,
        secret: str = SHOPIFY_SECRET,
        signature: str | None = None,
    ) -> httpx.Response:
        """Deliver as Shopify: JSON body, X-Shopify-* headers."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": "demo.myshopify.com",
            "X-Shopify-API-Version": "2026-01",
            "X-Shopify-Webhook-Id": webhook_id or f"b54557e4-{next(_ids):04d}",
            "X-Shopify-Hmac-Sha256": signature if signature is not None else sign(secret, body),
        }
        return await self.client.post("/connectors/shopify", content=body, headers=headers)

    def metric(self, name: str, **labels: str) -> float:
        """Return a counter's value (0 when never counted)."""
        return self.registry.get_sample_value(f"{name}_total", labels) or 0.0


async def platforms_for(store: Store, config: Config) -> AsyncIterator[Platforms]:
    registry = CollectorRegistry()
    app = connector_app(store, config, registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://loyalty.test") as client:
        yield Platforms(client, store, registry)


# The samples happened in 2017 (WooCommerce) and 2022 (Shopify): the clock stands just after,
# so their dates are "now" for the programme (levels count a rolling year).
WC_NOW = datetime(2017, 3, 22, 12, 0, tzinfo=UTC)
SHOPIFY_NOW = datetime(2022, 4, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
async def wc_store(tmp_path: Path) -> AsyncIterator[Store]:
    from loyalty.loader import load_program

    s = await Store.open(tmp_path / "wc.db", load_program({"preset": "marketplace"}),
                         clock=ManualClock(WC_NOW), synchronous="NORMAL",
                         shop_platforms=PLATFORMS)  # fmt: skip
    yield s
    await s.close()


@pytest.fixture
async def wc(wc_store: Store) -> AsyncIterator[Platforms]:
    async for found in platforms_for(wc_store, connector_config()):
        yield found


@pytest.fixture
async def eur_store(tmp_path: Path) -> AsyncIterator[Store]:
    from loyalty.loader import load_program

    program = load_program({"preset": "marketplace", "currency": "EUR"})
    s = await Store.open(tmp_path / "shopify.db", program, clock=ManualClock(SHOPIFY_NOW),
                         synchronous="NORMAL", shop_platforms=PLATFORMS)  # fmt: skip
    yield s
    await s.close()


@pytest.fixture
async def shop(eur_store: Store) -> AsyncIterator[Platforms]:
    async for found in platforms_for(
        eur_store, connector_config({"preset": "marketplace", "currency": "EUR"})
    ):
        yield found


CONNECTOR_TABLES = ("refunds", "connector_customers", "shop_tasks", "connector_parked")


async def everything(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the delivery log (which records each delivery received)."""
    from tests.conftest import rows, snapshot

    found = await snapshot(store)
    for table in CONNECTOR_TABLES:
        found[table] = [tuple(r) for r in await rows(store, f"SELECT * FROM {table} ORDER BY 1")]
    return found
