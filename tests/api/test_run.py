"""`loyaltybot run` as a child process against the emulator over HTTP: serves the API and the
bot, stops cleanly on SIGTERM/SIGINT; a missing secret is one error line and exit code 1."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.service import Stopper
from telegram_emulator import TelegramEmulator, serve
from tests.cli.conftest import ROOT
from tests.run_kit import API_KEY, Service, child_env, migrate, run_config


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(bot_username="loyalty_test_bot")
    yield emulator
    await emulator.aclose()


SESSION = "run-test-session-secret"


async def _card_and_console_are_wired(client: httpx.AsyncClient, token: str) -> None:
    """The service checks initData with its bot token and cookies with WEB_SESSION_SECRET."""
    from datetime import UTC, datetime, timedelta

    from bot.web import session
    from bot.web.initdata import sign

    now = datetime.now(UTC)
    genuine = sign(token, {"id": 4242, "first_name": "N"}, now)
    card = await client.get("/app/api/me", headers={"Authorization": f"tma {genuine}"})
    assert card.status_code == 403 and card.json()["error"]["code"] == "not_linked"
    forged = sign("1:other", {"id": 4242}, now)
    assert (
        await client.get("/app/api/me", headers={"Authorization": f"tma {forged}"})
    ).status_code == 401
    cookie = session.issue(SESSION.encode(), 4242, now, timedelta(minutes=5))
    console = await client.get(
        "/console/api/overview", headers={"Cookie": f"{session.COOKIE}={cookie}"}
    )
    assert console.status_code == 403  # signed with the service's secret; 4242 is no admin


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_run_serves_the_api_and_stops_cleanly(
    tmp_path: Path, emu: TelegramEmulator, signum: signal.Signals
) -> None:
    async with serve(emu) as base_url:
        config = run_config(tmp_path, base_url)
        await migrate(tmp_path / "loyalty.db")
        env = child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN=emu.token, WEB_SESSION_SECRET=SESSION)
        async with Service(config, env) as service:
            port = await service.port()
            headers = {"Authorization": f"Bearer {API_KEY}"}
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=headers
            ) as client:
                assert (await client.get("/healthz")).status_code == 200
                upsert = {
                    "id": "e-1",
                    "type": "member.upserted",
                    "occurred_at": "2026-01-01T00:00:00+00:00",
                    "data": {"member_id": "m-1"},
                }
                answer = await client.post("/api/v1/events", json=upsert)
                assert answer.json()["status"] == "processed"
                member = await client.get("/api/v1/members/m-1")
                assert member.json()["level"]["code"] == "A0"
                anonymous = await client.get("/api/v1/members/m-1", headers={"Authorization": ""})
                assert anonymous.status_code == 401
                await _card_and_console_are_wired(client, emu.token)
            assert await service.stop(signum) == 0
            await service.wait_for("msg=stopped")
    log = service.log
    assert f"msg=stopping event=stopping signal={signum.name}" in log
    assert 'msg="bot running" event=bot_running mode=polling username=loyalty_test_bot' in log
    assert "route=/api/v1/events status=200" in log
    assert "Traceback" not in log


@pytest.mark.parametrize(
    ("given", "missing"),
    [({}, "SHOP_API_KEY"), ({"SHOP_API_KEY": API_KEY}, "BOT_TOKEN")],
)
async def test_run_without_a_secret_is_one_error_line(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    config = run_config(tmp_path, "http://127.0.0.1:9/bot")
    await migrate(tmp_path / "loyalty.db")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "-c", str(config), cwd=ROOT,
        env=child_env(**given), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 1
    assert err.decode().splitlines() == [
        f"error: environment variable {missing} is not set (named by "
        + ("server.api_key_env)" if missing == "SHOP_API_KEY" else "telegram.token_env)")
    ]


async def test_run_without_a_database_is_one_error_line(tmp_path: Path) -> None:
    config = run_config(tmp_path, "http://127.0.0.1:9/bot")
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "-c", str(config), cwd=ROOT,
        env=child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN="1:x"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(child.communicate(), 60)
    assert child.returncode == 1
    errors = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "loyaltybot db migrate" in errors[0]
    assert "Traceback" not in err.decode()


async def test_a_second_stop_request_forces_the_stop() -> None:
    stopper = Stopper()
    forced: list[bool] = []
    stopper.on_force.append(lambda: forced.append(True))
    stopper.request(signal.SIGTERM)
    assert stopper.event.is_set() and forced == []
    stopper.request(signal.SIGINT)
    assert forced == [True]


async def test_a_web_worker_needs_webhook_mode_and_the_role_must_be_known(tmp_path: Path) -> None:
    config = run_config(tmp_path, "http://127.0.0.1:9/bot")  # polling: one process only
    await migrate(tmp_path / "loyalty.db")
    env = child_env(SHOP_API_KEY=API_KEY, BOT_TOKEN="1:x")
    for role, code, message in (
        ("web", 1, 'error: --role web needs telegram.mode = "webhook"'),
        ("leader", 2, "invalid choice: 'leader'"),
    ):
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "-c", str(config), "--role", role, cwd=ROOT,
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(child.communicate(), 60)
        assert child.returncode == code
        assert message in err.decode()
