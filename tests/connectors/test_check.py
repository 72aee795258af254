"""`loyaltybot connectors check`: what works and what is missing, from the platform itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bot.api.server import http_server
from bot.cli import main
from bot.connectors.check import run_check
from bot.connectors.clients import Shopify, WooCommerce
from tests.connectors.conftest import connector_config
from tests.connectors.standins import ShopifyStandin, WooCommerceStandin

ENV = {"WC_WEBHOOK_SECRET": "s", "WC_CONSUMER_KEY": "ck_test", "WC_CONSUMER_SECRET": "cs_test",
       "SHOPIFY_WEBHOOK_SECRET": "s", "SHOPIFY_ACCESS_TOKEN": "shpat_test"}  # fmt: skip


async def test_check_calls_both_platforms_and_lists_what_is_missing() -> None:
    woo, shop = WooCommerceStandin(), ShopifyStandin()
    async with (
        http_server(woo.app(), "127.0.0.1", 0) as wc_live,
        http_server(shop.app(), "127.0.0.1", 0) as shop_live,
    ):
        config = connector_config(woocommerce={"store_url": wc_live.url})
        clients = [
            WooCommerce(config.connectors.woocommerce, "ck_test", "cs_test"),
            Shopify(config.connectors.shopify, "shpat_test", base_url=shop_live.url),
        ]
        out = Console(width=200, record=True)
        code = await run_check(config, clients, ENV, out)
    text = out.export_text()
    assert code == 1
    assert "ok       the REST API key reads coupons" in text
    assert "ok       webhook order.updated is active" in text
    assert "missing  no active webhook customer.updated to .../connectors/woocommerce" in text
    assert "ok       the access token works for Demo" in text
    assert "missing  the shop's currency is EUR, the programme's USD" in text
    assert "missing  scope read_customers is not granted to the app" in text
    assert "missing  no webhook subscription REFUNDS_CREATE to .../connectors/shopify" in text


async def test_a_refused_key_says_so() -> None:
    woo = WooCommerceStandin()
    async with http_server(woo.app(), "127.0.0.1", 0) as live:
        config = connector_config(woocommerce={"store_url": live.url})
        out = Console(width=200, record=True)
        client = WooCommerce(config.connectors.woocommerce, "ck_wrong", "cs_wrong")
        assert await run_check(config, [client], ENV, out) == 1
    assert "the REST API key is refused: create one with Read/Write access" in out.export_text()


def test_the_command_names_missing_variables_and_an_unreachable_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WC_CONSUMER_KEY", "ck")
    monkeypatch.setenv("WC_CONSUMER_SECRET", "cs")
    path = tmp_path / "config.toml"
    path.write_text(
        '[program]\npreset = "marketplace"\n'
        '[connectors.woocommerce]\nenabled = true\nstore_url = "http://127.0.0.1:9"\n'
        "timeout_seconds = 2\n",
        "utf-8",
    )
    assert main(["connectors", "check", "-c", str(path)]) == 1
    out = capsys.readouterr().out
    assert "missing  environment variable WC_WEBHOOK_SECRET is not set" in out
    assert "missing  the store cannot be reached" in out
