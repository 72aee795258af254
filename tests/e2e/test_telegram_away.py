"""`loyaltybot run` while Telegram is away or rejects the token: the shop API and the scheduler
work without Telegram, the bot catches up once it is back, a rejected token is one error line;
and the token is never in anything the service writes."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx

from telegram_emulator import TelegramEmulator, serve
from tests.cli.conftest import ROOT
from tests.e2e.test_service_end_to_end import event, member_journey
from tests.run_kit import API_KEY, Service, child_env, free_port, migrate, run_config

# Shaped like a real token (bot id, then 35 characters), so that a leak is a leak.
TOKEN = "7012345678:AAHk3x9QeVZr2bq-Xm4TnP8sLw0JdYcFgUo"


async def test_run_serves_the_shop_while_telegram_is_away_and_catches_up(
    tmp_path: Path,
) -> None:
    port = free_port()  # nothing listens there yet: connections are refused
    config = run_config(tmp_path, f"http://127.0.0.1:{port}/bot")  # no bot_username: learnt
    await migrate(tmp_path / "loyalty.db")
    env = child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=TOKEN)
    async with Service(config, env) as service:
        api = f"http://127.0.0.1:{await service.port()}"
        async with httpx.AsyncClient(
            base_url=api, headers={"Authorization": f"Bearer {API_KEY}"}
        ) as client:
            await event(client, "e-0", "member.upserted", member_id="m-0")
            await service.wait_for('msg="telegram unreachable"')
            health = await client.get("/healthz")
            assert (health.status_code, health.json()) == (
                200,
                {"status": "degraded", "database": "ok", "telegram": "unreachable"},
            )
            # The username is learnt from Telegram: no link tokens until it answers.
            no_name = await client.post("/api/v1/members/m-0/link-token")
            assert no_name.json()["error"]["code"] == "bot_username_unknown"

            emu = TelegramEmulator(token=TOKEN, bot_username="shop_loyalty_bot")
            async with serve(emu, port=port):  # Telegram is back: no restart
                await service.wait_for("event=bot_running")
                health = await client.get("/healthz")
                assert health.json() == {"status": "ok", "database": "ok", "telegram": "ok"}
                ann = emu.user(1001, "Ann", language_code="en")
                await member_journey(client, ann)
                # Away again while running, then back: the bot carries on by itself.
                emu.go_down("bad_gateway")
                await service.wait_for_count('msg="telegram unreachable"', 2)
                assert (await client.get("/healthz")).json()["status"] == "degraded"
                emu.come_back()
                await service.wait_for_count('msg="telegram reachable"', 2)
                await ann.send("/me")
                while "Points: 115" not in (await ann.wait_reply()).text:
                    pass  # notices sent meanwhile (points earned) come first
                assert await service.stop() == 0
            await emu.aclose()
    log = service.log
    # One line per change of state, not one per failed call or retry.
    assert log.count('msg="telegram unreachable"') == 2
    # The scheduler and the shop API did not wait for Telegram.
    reachable = log.index('msg="telegram reachable"')
    assert log.index('msg="Scheduler started"') < reachable
    assert log.index("route=/api/v1/events status=200") < reachable
    assert "Traceback" not in log and TOKEN not in log and TOKEN.split(":")[1] not in log


async def test_run_with_a_token_telegram_rejects_stops_with_one_line(tmp_path: Path) -> None:
    emu = TelegramEmulator(bot_username="shop_loyalty_bot")  # its token is another one
    async with serve(emu) as base_url:
        config = run_config(tmp_path, base_url)
        await migrate(tmp_path / "loyalty.db")
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "-c", str(config), cwd=ROOT,
            env=child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=TOKEN),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(child.communicate(), 60)
    await emu.aclose()
    text = err.decode()
    assert child.returncode == 1
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Telegram rejected the bot token in BOT_TOKEN (named by telegram.token_env)"
    ]
    assert "Traceback" not in text and TOKEN.split(":")[1] not in text


async def test_a_token_revoked_while_running_stops_the_service_with_one_line(
    tmp_path: Path,
) -> None:
    emu = TelegramEmulator(token=TOKEN, bot_username="shop_loyalty_bot")
    async with serve(emu) as base_url:
        config = run_config(tmp_path, base_url)
        await migrate(tmp_path / "loyalty.db")
        async with Service(config, child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=TOKEN)) as service:
            await service.wait_for("event=bot_running")
            async with httpx.AsyncClient() as client:
                control = base_url.removesuffix("/bot") + "/_emulator/revoke_token"
                assert (await client.post(control)).status_code == 200
            await service.wait_for("msg=stopped")
            assert service.process is not None
            assert await asyncio.wait_for(service.process.wait(), 60) == 1
    await emu.aclose()
    log = service.log
    errors = [line for line in log.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: Telegram rejected the bot token in BOT_TOKEN (named by telegram.token_env)"
    ]
    assert log.count('msg="telegram rejected the token"') == 1
    assert TOKEN.split(":")[1] not in log
