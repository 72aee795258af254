"""The card in real headless Chromium: it loads from Telegram's launch parameters, shows the
balance and coupons, exchanges once on a double click, and shows nothing for bad initData."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest

from storage import coupons
from tests.conftest import delivered_order
from tests.web.conftest import ANN_TG, init_data, linked_member
from tests.web.live import LiveServer, browser, screenshot

__all__ = ["browser"]  # the module-scoped fixture
THEME = {
    "bg_color": "#17212b",
    "text_color": "#f5f5f5",
    "button_color": "#5288c1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#232e3c",
    "hint_color": "#708499",
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("card") / "card.db")

    async def seed() -> None:
        await linked_member(server.store, "m-ann", ANN_TG, name="Ann")
        await delivered_order(server.store, "m-ann", 250_000)
        await coupons.exchange(server.store, "m-ann", 500, "points", "seed-1")

    server.run(seed())
    yield server
    server.close()


def card_url(live: LiveServer, data: str) -> str:
    return (
        f"{live.url}/app/#tgWebAppData={quote(data)}&tgWebAppThemeParams={quote(json.dumps(THEME))}"
    )


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 390, "height": 760})
    yield context.new_page()
    context.close()


def test_the_card_shows_balance_and_coupons_then_exchanges_once_on_a_double_click(
    live: LiveServer, page: Any
) -> None:
    page.goto(card_url(live, init_data(ANN_TG, live.store.now())))
    page.wait_for_selector("#points")
    assert page.text_content("#points") == "2,005"
    before = live.run(coupons.of_member(live.store, "m-ann"))
    assert len(before) == 1
    assert page.locator(f'.coupon[data-code="{before[0].code}"]').count() == 1
    qr_width = page.eval_on_selector(".coupon img", "img => img.complete && img.naturalWidth")
    assert qr_width > 0
    # Telegram's theme colours are applied.
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert bg == "rgb(23, 33, 43)"
    screenshot(page, "card.png")

    page.click('button.offer[data-value="1000"][data-currency="points"]')
    page.wait_for_selector("#dialog.open")
    page.dblclick("#confirm")
    page.locator(".coupon").nth(1).wait_for()
    after = live.run(coupons.of_member(live.store, "m-ann"))
    assert sorted(c.value_cents for c in after) == [500, 1000]
    assert page.text_content("#points") == "1,005"
    assert "is ready" in page.text_content("#notice")

    page.click("#daily")
    page.locator("#notice", has_text="Checked in").wait_for()
    assert "Checked in: +10 coins, +20 points" in page.text_content("#notice")
    assert page.text_content("#points") == "1,025"


@pytest.mark.parametrize("case", ["forged", "expired", "missing"])
def test_forged_expired_or_missing_init_data_shows_nothing(
    live: LiveServer, page: Any, case: str
) -> None:
    now = live.store.now()
    data = {
        "forged": init_data(ANN_TG, now, token="42:not-this-bot"),
        "expired": init_data(ANN_TG, now - timedelta(days=2)),
        "missing": "",
    }[case]
    page.goto(card_url(live, data) if data else f"{live.url}/app/")
    page.wait_for_selector("#denied")
    assert page.locator("#points").count() == 0
    assert "2,005" not in page.content() and "1,005" not in page.content()
