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


def play(
    config_path: Path, steps: list[Step], *, prompt: bool = False, out: io.StringIO | None = None
) -> str:
    """Run the sandbox in this process; a step is a typed line or a call with the output
    (made while the chat waits for the next line; `out` is the output as it grows)."""
    out = out or io.StringIO()
    feed = iter(steps)

    async def read_line() -> str | None:
        for step in feed:
            if isinstance(step, str):
                return step
            await step(out.getvalue())
        return None

    async def main() -> int:
        terminal = Terminal(read_line, out, prompt=prompt)
        return await run_sandbox(load_config(config_path), terminal=terminal)

    assert asyncio.run(main()) == 0
    return out.getvalue()


def shop(output: str) -> httpx.AsyncClient:
    """Return a client of the sandbox's shop API, at the address and key it printed."""
    address = re.search(r"the real service on (http://\S+),", output)
    key = re.search(r"shop API key: (\S+)", output)
    assert address and key, output
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    return httpx.AsyncClient(base_url=address.group(1), headers=headers)


async def send_events(output: str, *events: tuple[str, dict[str, object]]) -> None:
    """Send shop events through the sandbox's API, each processed."""
    async with shop(output) as client:
        for kind, data in events:
            body = {"id": f"e-{kind}-{data}", "type": kind, "data": data,
                    "occurred_at": "2026-01-01T00:00:00+00:00"}  # fmt: skip
            answer = await client.post("/api/v1/events", json=body)
            assert answer.json()["status"] == "processed", answer.text
        assert (await client.get("/healthz")).status_code == 200


def test_the_shop_api_and_the_bot_meet_in_the_sandbox(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    monkeypatch.delenv("SHOP_API_KEY", raising=False)
    # No quiet hours (start = end) and the outbox sender every second: notices are due at once.
    extra = '[server]\nport = 0\n[reminders]\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
    config = write_config(tmp_path, extra=extra + "interval_seconds = 1")
    config.write_text(config.read_text().replace('bot_username = "loyalty_test_bot"', ""))

    async def shop_registers_ann(output: str) -> None:
        await send_events(output, ("member.upserted", {"member_id": "m-1"}))

    async def delivery_while_at_the_prompt(output: str) -> None:
        order = {"order_id": "o-1", "member_id": "m-1", "amount_cents": 5_000}
        paid = {"order_id": "o-1"}
        await send_events(output, ("order.placed", order), ("order.paid", paid),
                          ("order.delivered", paid))  # fmt: skip
        # Nothing is typed until the notice shows (it used to wait for the next line).
        deadline = asyncio.get_running_loop().time() + 10
        while "You earned" not in screen.getvalue():
            assert asyncio.get_running_loop().time() < deadline, "no notice at the prompt"
            await asyncio.sleep(0.05)

    screen = io.StringIO()
    steps: list[Step] = [":link m-1", shop_registers_ann, ":link m-1", "/me",
                         delivery_while_at_the_prompt, ":api", ":quit"]  # fmt: skip
    out = play(config, steps, prompt=True, out=screen)
    assert "sandbox: the service's log is " in out
    assert "(unknown member 'm-1')" in out  # before the shop registered Ann
    assert "is connected. Your level: A0" in out
    assert "Level: A0" in out
    assert "(shop API: http://127.0.0.1:" in out
    notice = out.index("You earned 55 points for order o-1.")
    # Printed over the prompt's line (wiped first), and the prompt drawn again after it.
    wiped = out.rindex("\r\x1b[K", 0, notice)
    assert out[wiped - 5 : wiped] == "you> " and out[wiped:notice].endswith("bot> 💰 ")
    assert out.index("you> (shop API: http://", notice) > notice  # :api was typed after it
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
