"""The console in real headless Chromium: sign in through a one-time link, search a member,
grant with a reason (in the ledger with the admin as actor), export CSV; a used link fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from storage import console_logins, coupons
from tests.conftest import delivered_order
from tests.web.conftest import ADMIN, ANN_TG, BOB_TG, linked_member
from tests.web.live import LiveServer, browser, screenshot

__all__ = ["browser"]  # the module-scoped fixture


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(tmp_path_factory.mktemp("console") / "console.db")

    async def seed() -> None:
        store = server.store
        await linked_member(store, "m-ann", ANN_TG, name="Ann", email="ann@example.com")
        await delivered_order(store, "m-ann", 250_000)
        await coupons.exchange(store, "m-ann", 500, "points", "seed-1")
        await linked_member(store, "m-bob", BOB_TG, name="Bob")
        await delivered_order(store, "m-bob", 15_000)

    server.run(seed())
    yield server
    server.close()


def link(live: LiveServer) -> str:
    login = live.run(console_logins.create(live.store, ADMIN))
    return f"{live.url}/console/#login={login.token}"


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    yield context.new_page()
    context.close()


def test_sign_in_search_grant_and_export(live: LiveServer, page: Any, tmp_path: Path) -> None:
    page.goto(link(live))
    page.wait_for_selector("#kpi-members")
    assert "2" in page.text_content("#kpi-members .big")
    assert "#login" not in page.url  # the token left the address bar
    assert page.locator("#overview svg polyline").count() == 3
    screenshot(page, "console-overview.png")

    page.click('nav button[data-view="members"]')
    page.fill("#search", "ann@example.com")
    page.click("#search-form button")
    page.click('tr[data-member="m-ann"]')
    page.wait_for_selector("#grant-form")
    page.once("dialog", lambda dialog: dialog.accept())
    page.fill("#grant-amount", "50")
    page.fill("#grant-reason", "late delivery")
    page.click("#grant-form button")
    page.wait_for_selector("#message.ok")
    first = page.locator("#ledger tbody tr").first
    assert first.locator("td.actor").text_content() == f"admin:{ADMIN}"
    assert "late delivery" in first.text_content()
    assert page.text_content("#member-points") == "2,055 points"
    rows = live.run(
        live.store.db.read("SELECT actor, note, amount FROM ledger WHERE reason = 'grant'")
    )
    assert [tuple(r) for r in rows][-1] == (f"admin:{ADMIN}", "late delivery", 50)
    screenshot(page, "console-member.png")

    page.click('nav button[data-view="export"]')
    with page.expect_download() as members_csv:
        page.click("#export-members")
    saved = tmp_path / "members.csv"
    members_csv.value.save_as(saved)
    text = saved.read_text("utf-8")
    assert text.startswith("member_id,") and "m-ann" in text and "m-bob" in text
    page.fill("#from", "2026-03-01")
    page.fill("#to", "2026-03-10")
    with page.expect_download() as ledger_csv:
        page.click("#ledger-export button")
    ledger_csv.value.save_as(tmp_path / "ledger.csv")
    assert "late delivery" in (tmp_path / "ledger.csv").read_text("utf-8")


def test_a_link_used_twice_fails(live: LiveServer, browser: Any) -> None:
    url = link(live)
    first = browser.new_context()
    first.new_page().goto(url)
    first.pages[0].wait_for_selector("#kpi-members")
    first.close()
    second = browser.new_context()
    page = second.new_page()
    page.goto(url)
    page.wait_for_selector("#signed-out:not([hidden])")
    assert "used already" in page.text_content("#message")
    assert page.locator("#kpi-members").count() == 0
    second.close()


def test_inside_telegram_the_console_signs_in_with_init_data(
    live: LiveServer, browser: Any
) -> None:
    from urllib.parse import quote

    from tests.web.conftest import init_data

    context = browser.new_context()
    page = context.new_page()
    admin = init_data(ADMIN, live.store.now())
    page.goto(f"{live.url}/console/#tgWebAppData={quote(admin)}")
    page.wait_for_selector("#kpi-members")
    assert "admin 900001" in page.text_content("#who")
    context.close()
    context = browser.new_context()  # a member's Telegram, with no session
    page = context.new_page()
    member = init_data(ANN_TG, live.store.now())
    page.goto(f"{live.url}/console/#tgWebAppData={quote(member)}")
    page.wait_for_selector("#signed-out:not([hidden])")
    assert "not an admin" in page.text_content("#message")
    context.close()
