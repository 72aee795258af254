"""Benchmark: a reminder fan-out to many members at one hour, through the Telegram emulator.

    .venv/bin/python -m bench.fanout --members 100000 --rate 1000
    .venv/bin/python -m bench.fanout --members 3000 --rate 30

What runs is production code: `build_application` with its FairRateLimiter, the Scheduler's
`plan()` and `drain()` on a real SQLite file (synchronous=FULL, as configured by default), and
the emulator enforcing Telegram's limits (30 messages a second, 1000 with paid broadcasts) on
the real monotonic clock. Only the seeding is a shortcut: members, links and Telegram users
are inserted with plain SQL (the operations that create them are tested elsewhere), and every
emulated user has "started" the bot.

Measured: the time to select the due rows (planning the hour, and claiming batches), the wall
time and achieved messages per second of the drain against the limit, 429 answers from the
emulator, how long a member's `/me` takes while the fan-out runs (a probe member sends one
every `--probe-every` seconds), the longest event-loop stall, and peak memory (RSS).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import uvloop

from bot.application import build_application, start_up
from bot.config import parse_config
from bot.jobs import Scheduler
from loyalty.clock import ManualClock
from storage.db import Conn, to_db
from storage.store import Store
from telegram_emulator import EmulatorRequest, TelegramEmulator

PROBE_USER = 9_000_000_001


@dataclass
class Result:
    """The figures of one run."""

    members: int
    rate_limit: int
    paid: bool
    seed_seconds: float = 0.0
    plan_seconds: float = 0.0
    queued: int = 0
    select_seconds: float = 0.0
    claim_seconds: float = 0.0
    claim_batches: int = 0
    drain_seconds: float = 0.0
    sent: int = 0
    achieved_per_second: float = 0.0
    of_limit: float = 0.0
    too_many_requests: int = 0
    delivered_chats: int = 0
    repeats: int = 0
    emulator_state_kept: bool = False
    probe_count: int = 0
    probe_p50_ms: float = 0.0
    probe_max_ms: float = 0.0
    loop_stall_max_ms: float = 0.0
    loop_stall_cpu_ms: float = 0.0
    gc_pause_max_ms: float = 0.0
    load_average: tuple[float, float, float] = (0.0, 0.0, 0.0)
    rss_before_mb: float = 0.0
    rss_peak_mb: float = 0.0
    traced_peak_mb: float | None = None
    traced_end_mb: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def rss_mb() -> float:
    """Return the peak resident set size of this process so far, in MB (Linux: KB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(store: Store, emu: TelegramEmulator, members: int, now: datetime) -> None:
    """Insert members, their Telegram links and users; create the emulated users."""
    stamp = to_db(now)
    batch = 10_000
    for first in range(0, members, batch):
        await store.db.write(_seed_batch(range(first, min(first + batch, members)), stamp))
    for i in range(members):
        emu.user(1_000_000 + i, f"M{i}", language_code="ru" if i % 3 == 0 else "en")
        emu.users[1_000_000 + i].started = True

    # The probe: a linked member who already checked in today, so the fan-out skips them.
    def probe(conn: Conn) -> None:
        conn.execute(
            "INSERT INTO members (member_id, level_code, last_claim_day, created_at, updated_at)"
            " VALUES ('probe', 'A0', ?, ?, ?)",
            (now.date().isoformat(), stamp, stamp),
        )
        conn.execute(
            "INSERT INTO telegram_users (telegram_user_id, telegram_language, first_seen,"
            " updated_at) VALUES (?, 'en', ?, ?)",
            (PROBE_USER, stamp, stamp),
        )
        conn.execute(
            "INSERT INTO telegram_links (member_id, telegram_user_id, linked_at)"
            " VALUES ('probe', ?, ?)",
            (PROBE_USER, stamp),
        )

    await store.db.write(probe)


def _seed_batch(ids: range, stamp: str) -> Callable[[Conn], None]:
    """Return a write body inserting members `ids` with their Telegram users and links."""

    def insert(conn: Conn) -> None:
        conn.executemany(
            "INSERT INTO members (member_id, level_code, created_at, updated_at)"
            " VALUES (?, 'A0', ?, ?)",
            [(f"m-{i}", stamp, stamp) for i in ids],
        )
        conn.executemany(
            "INSERT INTO telegram_users (telegram_user_id, telegram_language, first_seen,"
            " updated_at) VALUES (?, ?, ?, ?)",
            [(1_000_000 + i, "ru" if i % 3 == 0 else "en", stamp, stamp) for i in ids],
        )
        conn.executemany(
            "INSERT INTO telegram_links (member_id, telegram_user_id, linked_at) VALUES (?, ?, ?)",
            [(f"m-{i}", 1_000_000 + i, stamp) for i in ids],
        )

    return insert


def traced_by_owner(snapshot: tracemalloc.Snapshot) -> dict[str, float]:
    """Split memory still allocated (since tracing began) by who asked for it: the emulator
    (Telegram's side), the bench's own bookkeeping, or the bot and its libraries."""
    owners: dict[str, float] = {"emulator": 0.0, "bench": 0.0, "bot and libraries": 0.0}
    for stat in snapshot.statistics("traceback"):
        names = [frame.filename for frame in stat.traceback]
        if any("telegram_emulator" in name for name in names):
            owner = "emulator"
        elif any("/bench/" in name for name in names):
            owner = "bench"
        else:
            owner = "bot and libraries"
        owners[owner] += stat.size / 2**20
    return owners


class watch_gc:
    """Record the longest garbage-collector pause."""

    def __init__(self) -> None:
        self.worst = 0.0
        self.started = 0.0
        gc.callbacks.append(self.callback)

    def callback(self, phase: str, info: dict[str, Any]) -> None:
        """Time each collection."""
        if phase == "start":
            self.started = time.perf_counter()
        else:
            self.worst = max(self.worst, time.perf_counter() - self.started)


async def loop_stalls(stop: asyncio.Event, worst: list[float]) -> None:
    """Measure how late a 10 ms sleep wakes up: the longest stall of the event loop.

    worst = [longest stall, CPU seconds the loop's thread used during it]: a stall with little
    CPU is the thread waiting for a core (other load on the machine) or for the GIL, not the
    loop's own work.
    """
    while not stop.is_set():
        before, cpu = time.perf_counter(), time.thread_time()
        await asyncio.sleep(0.01)
        stall = time.perf_counter() - before - 0.01
        if stall > worst[0]:
            worst[0], worst[1] = stall, time.thread_time() - cpu


@dataclass
class Tally:
    """What the emulator answered to the fan-out."""

    too_many: int = 0
    delivered: set[int] = field(default_factory=set)
    repeats: int = 0


async def watch_calls(
    emu: TelegramEmulator, stop: asyncio.Event, tally: Tally, *, keep_state: bool
) -> None:
    """Count 429s and deliveries (a chat reached twice is a repeat) from the emulator's log.

    The log is then dropped. Unless `keep_state`, the delivered reminders the emulator stores
    are dropped too and what it keeps per chat (a flood-limit bucket, an event to wake
    readers) is frozen out of the garbage collector's reach: that is Telegram's state, not
    the bot's, and with 100,000 chats a full collection would spend a quarter of a second on
    it. Run with --keep-emulator-state to see that.
    """
    while True:
        calls, emu.calls = emu.calls, []
        for call in calls:
            if call.status == 429:
                tally.too_many += 1
            elif call.method == "sendMessage" and call.status == 200:
                chat_id = int(str(call.params["chat_id"]))
                if chat_id == PROBE_USER:
                    continue
                if chat_id in tally.delivered:
                    tally.repeats += 1
                tally.delivered.add(chat_id)
                if not keep_state and isinstance(call.result, dict):
                    emu.chats[chat_id].messages.pop(call.result["message_id"], None)
        if not keep_state:
            gc.freeze()
        if stop.is_set():
            return
        await asyncio.sleep(0.5)


async def run(
    members: int,
    rate: int,
    probe_every: float,
    zone: str,
    path: Path,
    *,
    keep_state: bool,
    trace: bool = False,
) -> Result:
    """Seed, plan the hour, drain it while a probe member uses the bot; return the figures."""
    config = parse_config(
        {
            "program": {"preset": "marketplace", "timezone": zone},
            "telegram": {"bot_username": "bench_bot"},
            "reminders": {"rate_per_second": rate, "daily_hour": 19},
        }
    )
    tz = ZoneInfo(zone)
    clock = ManualClock(datetime(2026, 3, 10, 18, 59, 30, tzinfo=tz))
    store = await Store.open(path, config.program, clock=clock)
    emu = TelegramEmulator(bot_username="bench_bot", clock=time.monotonic)
    result = Result(members=members, rate_limit=rate, paid=rate > 30)
    started = time.perf_counter()
    await seed(store, emu, members, clock())
    result.seed_seconds = time.perf_counter() - started
    probe = emu.user(PROBE_USER, "Probe")
    app = build_application(config, store, EmulatorRequest(emu), token=emu.token)
    emu.connect(app, raise_errors=True)
    async with app:
        await start_up(app)
        runner = Scheduler(app, config)
        await runner.plan()  # 18:59: the cursor starts here, nothing is due yet
        await probe.send("/me")  # warm up the handler path
        # The emulator's users and chats stand in for Telegram's servers; frozen, the
        # collector does not rescan them on every full collection (the bot itself keeps no
        # per-member objects). What the run allocates, the emulator's stored messages
        # included, is collected normally.
        gc.collect()
        gc.freeze()
        result.rss_before_mb = rss_mb()
        clock.set(datetime(2026, 3, 10, 19, 0, tzinfo=tz))

        started = time.perf_counter()
        planned = await runner.plan()
        result.plan_seconds = time.perf_counter() - started
        result.queued = planned.queued["daily_checkin"]

        stop = asyncio.Event()
        stalls, tally = [0.0, 0.0], Tally()
        gc_pauses = watch_gc()
        monitors = [
            asyncio.create_task(loop_stalls(stop, stalls)),
            asyncio.create_task(watch_calls(emu, stop, tally, keep_state=keep_state)),
        ]
        if trace:
            tracemalloc.start(12)  # frames enough to see who asked, through asyncio
        started = time.perf_counter()
        drain = asyncio.create_task(runner.drain())
        latencies = []
        while not drain.done():
            await asyncio.wait({drain}, timeout=probe_every)
            if drain.done():
                break
            before = time.perf_counter()
            await probe.send("/me")
            latencies.append(time.perf_counter() - before)
        report = await drain
        result.drain_seconds = time.perf_counter() - started
        if trace:
            result.traced_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
            stop.set()  # the snapshot stalls the loop: not a figure of the fan-out
            snapshot = tracemalloc.take_snapshot()
            tracemalloc.stop()
            result.traced_end_mb = traced_by_owner(snapshot)
        stop.set()
        await asyncio.gather(*monitors)

    result.sent = report.sent
    result.select_seconds = report.select_seconds
    result.claim_seconds = report.claim_seconds
    result.claim_batches = report.batches
    result.achieved_per_second = report.sent / result.drain_seconds
    result.of_limit = result.achieved_per_second / rate
    result.too_many_requests = tally.too_many
    result.delivered_chats = len(tally.delivered)
    result.repeats = tally.repeats
    result.emulator_state_kept = keep_state
    result.probe_count = len(latencies)
    if latencies:
        result.probe_p50_ms = statistics.median(latencies) * 1000
        result.probe_max_ms = max(latencies) * 1000
    result.loop_stall_max_ms = stalls[0] * 1000
    result.loop_stall_cpu_ms = stalls[1] * 1000
    gc.callbacks.remove(gc_pauses.callback)
    result.gc_pause_max_ms = gc_pauses.worst * 1000
    result.load_average = os.getloadavg()
    result.rss_peak_mb = rss_mb()
    if report.retry_after is not None:
        result.notes.append(f"stopped by RetryAfter {report.retry_after}s")
    await store.close()
    await emu.aclose()
    return result


def show(result: Result) -> None:
    """Print the figures as a table."""
    rows: list[tuple[str, Any]] = [
        ("members due at 19:00", f"{result.queued:,}"),
        ("configured rate", f"{result.rate_limit}/s" + (" (paid)" if result.paid else "")),
        ("plan the hour (select + queue due rows)", f"{result.plan_seconds:.2f} s"),
        (
            "select due rows to send (query only)",
            f"{result.select_seconds:.2f} s in {result.claim_batches} claims"
            f" ({result.select_seconds / max(result.claim_batches, 1) * 1000:.1f} ms each)",
        ),
        ("whole claims, overlapping the sends", f"{result.claim_seconds:.2f} s"),
        ("drain wall time", f"{result.drain_seconds:.1f} s"),
        ("sent", f"{result.sent:,}"),
        ("achieved", f"{result.achieved_per_second:.1f}/s = {result.of_limit:.1%} of the limit"),
        ("429 from the emulator", result.too_many_requests),
        (
            "members reached / reached twice",
            f"{result.delivered_chats:,} / {result.repeats}",
        ),
        (
            "member /me during the fan-out",
            f"{result.probe_count} commands, p50 {result.probe_p50_ms:.1f} ms,"
            f" max {result.probe_max_ms:.1f} ms",
        ),
        (
            "longest event-loop stall (CPU used in it)",
            f"{result.loop_stall_max_ms:.1f} ms ({result.loop_stall_cpu_ms:.1f} ms)",
        ),
        ("longest garbage-collector pause", f"{result.gc_pause_max_ms:.1f} ms"),
        ("RSS before / peak", f"{result.rss_before_mb:.0f} / {result.rss_peak_mb:.0f} MB"),
        *(
            [
                ("traced peak during the drain", f"{result.traced_peak_mb:.1f} MB"),
                (
                    "traced still held at the end",
                    ", ".join(f"{k} {v:.1f} MB" for k, v in result.traced_end_mb.items()),
                ),
            ]
            if result.traced_peak_mb is not None
            else []
        ),
        ("seeding (not part of the figures)", f"{result.seed_seconds:.1f} s"),
        ("load average at the end", " ".join(f"{x:.2f}" for x in result.load_average)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    if result.emulator_state_kept:
        print("(the emulator's messages and per-chat state were kept in the collected heap)")
    for note in result.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000, help="reminders.rate_per_second")
    parser.add_argument("--probe-every", type=float, default=1.0, help="seconds between /me")
    parser.add_argument("--timezone", default="Europe/Moscow")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace allocations during the drain (slower: a memory run, not a speed run)",
    )
    parser.add_argument(
        "--keep-emulator-state",
        action="store_true",
        help="keep the emulator's messages and per-chat state in the collected heap",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = uvloop.run(
            run(
                args.members,
                args.rate,
                args.probe_every,
                args.timezone,
                Path(tmp) / "bench.db",
                keep_state=args.keep_emulator_state,
                trace=args.tracemalloc,
            )
        )
    show(result)
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
