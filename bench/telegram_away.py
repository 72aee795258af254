"""How soon `loyaltybot run` serves the shop while Telegram is away, and catches up after.

    python bench/telegram_away.py              # 5 rounds
    python bench/telegram_away.py --rounds 10

Each round starts `loyaltybot run` (a child process, fresh database) with Telegram's address
refused (nothing listens there) and measures, from the moment the process is started:
- listening: the API's `listening` log line;
- event: the first shop event answered `processed` (POSTed as soon as the port is known);
- healthz: `/healthz` then says `degraded` / `unreachable` (checked, not timed);
then serves the emulator on that address and measures how long after that the bot runs
(`bot_running`; the bot retries with backoff, 0.5 s doubling, so this is mostly the backoff
step it was in). The goal (issue 12): the shop API answers events within 2 s of start.
Medians and maxima are printed, with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from storage.db import Database  # noqa: E402
from telegram_emulator import TelegramEmulator, serve  # noqa: E402

TOKEN = "7012345678:AAHk3x9QeVZr2bq-Xm4TnP8sLw0JdYcFgUo"
KEY = "bench-key"
EVENT = {
    "id": "e-1",
    "type": "member.upserted",
    "occurred_at": "2026-01-01T00:00:00+00:00",
    "data": {"member_id": "m-1"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def line_with(stream: asyncio.StreamReader, text: str, log: list[str]) -> str:
    """Read the child's log until a line contains `text`."""
    while True:
        raw = await stream.readline()
        if not raw:
            raise RuntimeError(f"the service ended before {text!r}:\n{''.join(log)}")
        line = raw.decode()
        log.append(line)
        if text in line:
            return line


async def one_round(workdir: Path) -> dict[str, float]:
    """Start the service with Telegram refused; time the API, then Telegram's return."""
    port = free_port()
    db = workdir / "loyalty.db"
    db.unlink(missing_ok=True)
    await (await Database.open(db)).close()
    config = workdir / "config.toml"
    config.write_text(
        f'[storage]\npath = "{db}"\n[telegram]\nbase_url = "http://127.0.0.1:{port}/bot"\n'
        "[server]\nport = 0\n"
    )
    env = {**os.environ, "SHOP_API_KEY": KEY, "BOT_TOKEN": TOKEN}
    log: list[str] = []
    started = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "-c", str(config), cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stderr is not None
    try:
        listening = await line_with(child.stderr, "msg=listening", log)
        listened = time.monotonic() - started
        api = f"http://127.0.0.1:{listening.split(' port=')[1].split()[0]}"
        async with httpx.AsyncClient(base_url=api) as client:
            answer = await client.post(
                "/api/v1/events", json=EVENT, headers={"Authorization": f"Bearer {KEY}"}
            )
            answered = time.monotonic() - started
            assert answer.json()["status"] == "processed", answer.text
            health = (await client.get("/healthz")).json()
            assert health == {"status": "degraded", "database": "ok", "telegram": "unreachable"}
        emu = TelegramEmulator(token=TOKEN)
        async with serve(emu, port=port):
            back = time.monotonic()
            await line_with(child.stderr, "event=bot_running", log)
            caught_up = time.monotonic() - back
            child.terminate()  # before the emulator stops: its long poll would hold it
            await child.wait()
        await emu.aclose()
    finally:
        if child.returncode is None:
            child.terminate()
            await child.wait()
    return {"listening": listened, "event": answered, "bot_after_return": caught_up}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min), {os.cpu_count()} cpus")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            results.append(await one_round(Path(tmp)))
    for key in ("listening", "event", "bot_after_return"):
        values = [r[key] for r in results]
        print(f"{key:>17}: median {statistics.median(values):.2f} s, max {max(values):.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
