"""In Telegram: a shop customer's coupon is "on its way", then its code arrives (or the undo)."""

from __future__ import annotations

from pathlib import Path

from bot.api.server import http_server
from bot.application import build_application, start_up
from bot.connectors.clients import WooCommerce
from bot.connectors.sync import ShopSync
from bot.jobs import Scheduler
from loyalty.clock import ManualClock
from storage import connectors, coupons, members
from storage.db import Conn
from storage.grants import grant
from storage.store import Store
from telegram_emulator import EmulatorRequest, RateLimits, TelegramEmulator
from telegram_emulator import ManualClock as EmulatorClock
from tests.bot.conftest import linked, make_config
from tests.connectors.conftest import PLATFORMS, connector_config
from tests.connectors.standins import WooCommerceStandin


async def test_the_code_comes_once_the_shop_has_it_and_a_refusal_is_undone(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config()
    emu = TelegramEmulator(clock=EmulatorClock(), limits=RateLimits(private_burst=100))
    store = await Store.open(tmp_path / "bot.db", config.program, clock=clock,
                             synchronous="NORMAL", shop_platforms=PLATFORMS)  # fmt: skip
    standin = WooCommerceStandin()
    app = build_application(config, store, EmulatorRequest(emu), token=emu.token)
    emu.connect(app, raise_errors=True)
    try:
        async with app, http_server(standin.app(), "127.0.0.1", 0) as live:
            await start_up(app)
            ann = emu.user(1001, "Ann")
            await linked(store, ann, "wc-26", email="ann@example.com")
            customer = connectors.Customer("woocommerce", "26", "wc-26", "ann@example.com")

            def link(conn: Conn) -> None:
                connectors.link(conn, store, customer)

            await store.db.write(link)
            await grant(store, "wc-26", 1_000, reason="test", actor="test")
            wc_config = connector_config(woocommerce={"store_url": live.url}).connectors
            sync = ShopSync(
                store, [WooCommerce(wc_config.woocommerce, standin.key, standin.secret)]
            )
            runner = Scheduler(app, config)

            await ann.send("/coupons")
            await ann.press("$5.00 · 500 points")
            await ann.press("✅ Confirm")
            done, waiting = ann.bot_messages()[-2:]
            assert "Your $5.00 coupon is ready" in done.text
            assert waiting.text == (
                "⏳ Your $5.00 coupon is being created in the shop. "
                "The code will arrive here in a moment."
            )
            code = (await coupons.of_member(store, "wc-26"))[0].code
            assert all(code not in m.text for m in ann.bot_messages())
            await ann.send("/coupons")
            await ann.press("📋 My coupons")
            assert "being created in the shop" in ann.last_reply().text

            # Account news off and inside quiet hours: the code answers the member's own
            # request, so it comes anyway.
            def quiet(conn: Conn) -> None:
                conn.execute(
                    "UPDATE telegram_users SET remind_account = 'off', quiet_start = 0,"
                    " quiet_end = 1439"
                )

            await store.db.write(quiet)
            await sync.run_once()
            mark = ann.mark()
            await runner.drain()
            (ready,) = ann.messages_since(mark)
            assert ready.text.startswith(f"🎟 Your $5.00 coupon is ready in the shop: {code}")
            assert ready.protect_content
            assert [c["code"] for c in standin.coupons.values()] == [code.lower()]

            standin.mode = "refuse"
            await ann.send("/coupons")
            await ann.press("$5.00 · 500 points")
            await ann.press("✅ Confirm")
            assert (await members.view(store, "wc-26")).points == 0
            await sync.run_once()
            mark = ann.mark()
            await runner.drain()
            (undone,) = ann.messages_since(mark)
            assert undone.text == (
                "⚠️ The shop could not create your $5.00 coupon, so the exchange was undone: "
                "500 points are back on your balance."
            )
            assert (await members.view(store, "wc-26")).points == 500
            assert len(await coupons.of_member(store, "wc-26")) == 1
    finally:
        standin.released.set()
        await store.close()
        await emu.aclose()
