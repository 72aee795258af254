"""Live-chat load at Telegram's real limits: do members wait for the agents' group's budget?

Runs the REAL service path on real time: the application polls the in-process emulator
(getUpdates, PTB's updater and update processor, the rate limiter, the send queue), and the
emulator enforces Telegram's limits (30 messages a second, 20 a minute per group, a private
chat's burst of 5 then 1 a second). While `--members` members each send /help every
`--every` seconds, for `--seconds` seconds:

    tickets   10 new tickets within the first minute (/support, then a question): topic
              creation, card, pin and the relay cost the group 4 of its 20 a minute each
    flood     one user with no shop account sends 40 messages to live chat within 1 s

Each member update's latency is measured from the send to the bot's answer in that chat.
Goal: no member update waits longer than 1 s (the group's budget is not theirs to wait
for). After the load, every queued send must be delivered: the 10 questions in their topics,
or the flooder's first `support.messages_per_minute` messages (the rest refused, and told).

    python bench/support_load.py --scenario tickets
    python bench/support_load.py --scenario flood
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.application import build_application, start_up  # noqa: E402
from bot.config import Config, parse_config  # noqa: E402
from bot.sender import send_queue  # noqa: E402
from storage import sends  # noqa: E402
from storage.store import Store  # noqa: E402
from telegram_emulator import EmulatorRequest, Group, Person, TelegramEmulator  # noqa: E402

AGENTS = -1_001_000_000_077
GOAL_SECONDS = 1.0
REPLY_TIMEOUT = 300.0  # main before the send queue made members wait a minute and more
SHOP = {"name": "Demo Shop", "account_url": "https://shop.example/account",
        "signup_url": "https://shop.example/signup?ref={code}"}  # fmt: skip


def config() -> Config:
    """The product's configuration with live chat on (real limits: the rate limiter's own)."""
    return parse_config(
        {
            "program": {"preset": "marketplace", "timezone": "UTC"},
            "shop": SHOP,
            "telegram": {"bot_username": "bench_bot"},
            # Around the clock, so no "we are back at 9:00" note changes what is sent.
            "support": {
                "agent_chat_id": AGENTS,
                "hours_start": "00:00",
                "hours_end": "23:59",
                "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            },
        }
    )


async def member(person: Person, every: float, until: float, waits: list[float]) -> None:
    """Send /help every `every` seconds (jittered) until `until`; record each wait."""
    await asyncio.sleep(random.uniform(0, every))
    while time.monotonic() < until:
        started = time.monotonic()
        await person.send("/help")
        await person.wait_reply(timeout=REPLY_TIMEOUT)
        waits.append(time.monotonic() - started)
        await asyncio.sleep(
            max(0.0, every - (time.monotonic() - started)) * random.uniform(0.8, 1.2)
        )


async def ticket(person: Person, delay: float, waits: list[float]) -> None:
    """Open a ticket after `delay` seconds: /support, then a question; record both waits."""
    await asyncio.sleep(delay)
    for text in ("/support", f"I need help, I am {person.first_name}"):
        started = time.monotonic()
        await person.send(text)
        await person.wait_reply(timeout=REPLY_TIMEOUT)
        waits.append(time.monotonic() - started)


async def flood(person: Person, delay: float, waits: list[float]) -> None:
    """After `delay` seconds: /support, then 40 messages within a second, not waiting."""
    await asyncio.sleep(delay)
    started = time.monotonic()
    await person.send("/support")
    await person.wait_reply(timeout=REPLY_TIMEOUT)
    waits.append(time.monotonic() - started)
    for n in range(1, 41):
        await person.send(f"flood {n}")
        await asyncio.sleep(0.024)


def summary(waits: list[float]) -> dict[str, float]:
    """Return the latency figures in milliseconds."""
    ordered = sorted(waits)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {
        "updates": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(pick(0.99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


async def delivered(store: Store, desk: Group, deadline: float) -> float:
    """Wait until the send queue is empty; return when (seconds since the load began)."""
    while await sends.pending_count(store):
        if time.monotonic() > deadline:
            raise TimeoutError("the send queue did not drain")
        await asyncio.sleep(0.2)
    return time.monotonic()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run one scenario; return its figures."""
    cfg = config()
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "bench.db", cfg.program, synchronous="NORMAL")
        emu = TelegramEmulator(bot_username="bench_bot")  # real clock, Telegram's limits
        desk = emu.supergroup(AGENTS, "Support desk", forum=True)
        app = build_application(cfg, store, EmulatorRequest(emu), token=emu.token)
        members = [emu.user(10_000 + n, f"Member{n}") for n in range(args.members)]
        member_waits: list[float] = []
        side_waits: list[float] = []
        try:
            async with app:
                await start_up(app)
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0.0, timeout=5)
                await app.start()
                await send_queue(app).start()
                began = time.monotonic()
                until = began + args.seconds
                tasks = [member(p, args.every, until, member_waits) for p in members]
                if args.scenario == "tickets":
                    openers = [emu.user(20_000 + n, f"Opener{n}") for n in range(10)]
                    tasks += [ticket(p, 2 + 5.5 * n, side_waits) for n, p in enumerate(openers)]
                else:
                    flooder = emu.user(30_000, "Flooder")
                    tasks.append(flood(flooder, 5.0, side_waits))
                await asyncio.gather(*tasks)
                done = await delivered(store, desk, time.monotonic() + 300)
                await send_queue(app).stop()
                await app.updater.stop()
                await app.stop()
        finally:
            await store.close()
            await emu.aclose()
    topics = [t for t in desk.topics.values() if not t.deleted]
    result: dict[str, Any] = {
        "scenario": args.scenario,
        "members": args.members,
        "seconds": args.seconds,
        "member_updates": summary(member_waits),
        "ticket_or_flood_updates": summary(side_waits),
        "queue_empty_after_s": round(done - began, 1),
        "topics": len(topics),
    }
    if args.scenario == "tickets":
        asked = [desk.messages(t.thread_id)[-1].text for t in topics]
        result["questions_delivered"] = sum(1 for a in asked if a.startswith("I need help"))
        ok = result["questions_delivered"] == 10
    else:
        (topic,) = topics
        relayed = [m.text for m in desk.messages(topic.thread_id) if m.text.startswith("flood")]
        result["flood_relayed"] = len(relayed)
        result["flood_in_order"] = relayed == [f"flood {n}" for n in range(1, len(relayed) + 1)]
        ok = result["flood_in_order"] and len(relayed) == cfg.support.messages_per_minute
    result["goal_met"] = ok and result["member_updates"]["max_ms"] <= GOAL_SECONDS * 1000
    return result


def main() -> None:
    """Parse the options, run, print (and optionally save) the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("tickets", "flood"), default="tickets")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between a member's /help")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if result["goal_met"] else 1)


if __name__ == "__main__":
    main()
