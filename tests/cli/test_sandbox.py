"""`loyaltybot sandbox`: the real service against the emulator over HTTP, chat in the terminal."""

from __future__ import annotations

import asyncio
import io
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bot.config import load_config
from bot.demo_terminal import Terminal
from bot.sandbox import run_sandbox
from tests.cli.conftest import ROOT, write_config
from tests.cli.pty_kit import PtySession

Step = str | Callable[[str], Awaitable[None]]


def play(config_path: Path, steps: list[Step]) -> str:
    """Run the sandbox in this process; a step is a typed line or a call with the output."""
    out = io.StringIO()
    feed = iter(steps)

    async def read_line() -> str | None:
        for step in feed:
            if isinstance(step, str):
                return step
            await step(out.getvalue())
        return None

    async def main() -> int:
        return await run_sandbox(load_config(config_path), terminal=Terminal(read_line, out))

    assert asyncio.run(main()) == 0
    return out.getvalue()


def test_the_shop_api_and_the_bot_meet_in_the_sandbox(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("SHOP_API_KEY", raising=False)
    config = write_config(tmp_path, extra="[server]\nport = 0")
    config.write_text(config.read_text().replace('bot_username = "loyalty_test_bot"', ""))

    async def shop_registers_ann(output: str) -> None:
        address = re.search(r"the real service on (http://\S+),", output)
        key = re.search(r"shop API key: (\S+)", output)
        assert address and key, output
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        async with httpx.AsyncClient(base_url=address.group(1), headers=headers) as shop:
            body = {"id": "e-1", "type": "member.upserted", "data": {"member_id": "m-1"},
                    "occurred_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
            answer = await shop.post("/api/v1/events", json=body)
            assert answer.json()["status"] == "processed", answer.text
            assert (await shop.get("/healthz")).status_code == 200

    out = play(config, [":link m-1", shop_registers_ann, ":link m-1", "/me", ":api", ":quit"])
    assert "sandbox: the service's log is " in out
    assert "(unknown member 'm-1')" in out  # before the shop registered Ann
    assert "account is connected. Your level: A0" in out
    assert "Level: A0" in out
    assert "(shop API: http://127.0.0.1:" in out
    log = (tmp_path / "loyalty.db").with_suffix(".log")
    assert not log.exists()  # the temporary database's log went with it
    assert "(bye)" in out


def test_ctrl_c_stops_the_service_and_exits_0(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[server]\nport = 0")
    db = tmp_path / "sandbox.db"
    argv = [sys.executable, "-m", "bot", "sandbox", "-c", str(config), "--db", str(db)]
    session = PtySession(argv, ROOT, timeout=30)
    try:
        session.expect("you> ")
        assert "Hi! I am the loyalty assistant" in session.text
        session.interrupt()
        assert session.wait() == 0
    finally:
        session.kill()
    assert "Traceback" not in session.text
    log = db.with_suffix(".log").read_text()
    assert "msg=stopped event=stopped" in log and "Traceback" not in log
