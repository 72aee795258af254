"""The product end to end: `loyaltybot run` as a separate process, Telegram played by the
emulator over HTTP, the shop on the HTTP API; polling and webhook modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from telegram_emulator import Person, TelegramEmulator, serve
from tests.run_kit import API_KEY, Service, child_env, free_port, migrate, run_config

NOW = datetime.now(UTC).isoformat()


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(bot_username="shop_loyalty_bot")
    yield emulator
    await emulator.aclose()


async def event(client: httpx.AsyncClient, event_id: str, type_: str, **data: object) -> None:
    answer = await client.post(
        "/api/v1/events",
        json={"id": event_id, "type": type_, "occurred_at": NOW, "data": data},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "processed"


async def member_journey(client: httpx.AsyncClient, ann: Person) -> None:
    """Create, link, deliver, /me, exchange: the shop API sees the coupon."""
    await event(client, "e-1", "member.upserted", member_id="m-1", name="Ann")
    token = (await client.post("/api/v1/members/m-1/link-token")).json()
    assert token["url"].startswith("https://t.me/shop_loyalty_bot?start=")
    await ann.send(f"/start {token['token']}")
    assert "is connected" in (await ann.wait_reply()).text

    await event(client, "e-2", "order.placed", order_id="o-1", member_id="m-1",
                amount_cents=61_050)  # fmt: skip
    await event(client, "e-3", "order.delivered", order_id="o-1")
    await ann.send("/me")
    assert "Points: 615" in (await ann.wait_reply()).text  # 610 for $610.50 + 5 for the day

    await ann.send("/coupons")
    await ann.wait_reply()
    await ann.press("$5.00 · 500 points")
    assert "Exchange 500 points" in (await ann.wait_reply()).text
    answer = await ann.press("✅ Confirm")
    assert answer is not None and answer.text == "Coupon issued!"
    code_message = await ann.wait_reply()
    while "Coupon $5.00:" not in code_message.text:
        code_message = await ann.wait_reply()
    assert code_message.protect_content

    shown = (await client.get("/api/v1/members/m-1")).json()
    assert shown["telegram_linked"] is True and shown["points"] == 115
    (coupon,) = shown["coupons"]
    assert coupon["status"] == "active" and coupon["value_cents"] == 500
    assert coupon["code"] in code_message.text
    looked_up = (await client.get(f"/api/v1/coupons/{coupon['code']}")).json()
    assert looked_up["status"] == "active" and looked_up["member_id"] == "m-1"


async def test_polling_service_end_to_end(tmp_path: Path, emu: TelegramEmulator) -> None:
    async with serve(emu) as base_url:
        config = run_config(tmp_path, base_url)  # no bot_username: learned with getMe
        await migrate(tmp_path / "loyalty.db")
        env = child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=emu.token)
        async with Service(config, env) as service:
            port = await service.port()
            await service.wait_for("event=bot_running")
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers
            ) as client:
                await member_journey(client, emu.user(1001, "Ann", language_code="en"))
            assert await service.stop() == 0
    assert "Traceback" not in service.log
    assert "level=ERROR" not in service.log


async def test_webhook_service_end_to_end(tmp_path: Path, emu: TelegramEmulator) -> None:
    port = free_port()
    async with serve(emu) as base_url:
        webhook = f"http://127.0.0.1:{port}/telegram/webhook"
        config = run_config(
            tmp_path, base_url, username="shop_loyalty_bot",
            extra=f'port = {port}\n[telegram]\nmode = "webhook"\nwebhook_url = "{webhook}"',
        )  # fmt: skip
        await migrate(tmp_path / "loyalty.db")
        env = child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=emu.token, WEBHOOK_SECRET="s3cr3t")
        async with Service(config, env) as service:
            assert await service.port() == port
            await service.wait_for("event=bot_running")  # the bot comes up beside the API
            assert emu.delivery == "webhook"
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers
            ) as client:
                wrong_secret = {"X-Telegram-Bot-Api-Secret-Token": "x"}
                forged = await client.post(
                    "/telegram/webhook", json={"update_id": 1}, headers=wrong_secret
                )
                assert forged.status_code == 403
                await member_journey(client, emu.user(1001, "Ann", language_code="en"))
            assert await service.stop() == 0
    assert "Traceback" not in service.log
