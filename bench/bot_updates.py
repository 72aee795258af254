"""Bot benchmark: Telegram updates per second through the whole application, beside a bare echo.

Builds a store of (by default) 100,000 members with two years of history (`bench/engine.py`'s
builder), links Telegram users to members, and drives the REAL application
(`bot.application.build_application`, every handler group, real SQLite) through the in-process
Telegram emulator in direct mode, as many different users. In the same run, in interleaved
chunks, the same emulator drives a bare python-telegram-bot Application whose only handler
echoes the text back: the floor of what PTB and the emulator cost per update.

Kinds measured (each update is one message or one button press):

    echo        the floor: plain text to the bare echo Application
    me          /me
    history     /history
    text        an FAQ question in words ("How do I earn points?"), answered from the FAQ
    daily       /daily (a real check-in: every user claims once per programme day)
    exchange    the exchange taps: /coupons, then "$5 for 500 points", then Confirm
                (three updates per exchange; a coupon is issued each time)
    mix         all of the above at MIX's proportions, exchanges' three taps spread out

Then open-loop paced runs of the mix at a fixed arrival rate (default 300 updates/s; Poisson
arrivals, then evenly spaced ones): each update's latency is measured from its scheduled
arrival, so a stall is not hidden. Updates are processed one at a time (direct mode; the
service processes different chats side by side, `bot/updates.py`, which only helps here).

Before timing, each kind is run for real and checked (the answer is the account, the page,
the FAQ answer; a check-in and a coupon are written) and its SQL is counted; after timing,
the run's check-ins and coupons must equal the /daily and Confirm updates sent. The built
store is kept (`<db>.base`): `--reuse` starts the next run from a fresh copy of it.

    python bench/bot_updates.py --json bot-bench.json
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import heapq
import io
import json
import math
import os
import pstats
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

# Import the packages of this checkout, not whichever one the virtualenv was installed from.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

from bench.engine import NOW, build, machine, remove_database  # noqa: E402
from bot.application import build_application, start_up  # noqa: E402
from bot.config import Config, parse_config  # noqa: E402
from loyalty.clock import ManualClock  # noqa: E402
from loyalty.program import Program  # noqa: E402
from storage.check import check  # noqa: E402
from storage.db import to_db  # noqa: E402
from storage.store import Store  # noqa: E402
from telegram_emulator import EmulatorRequest, Person, RateLimits, TelegramEmulator  # noqa: E402
from telegram_emulator import ManualClock as EmulatorClock  # noqa: E402

AGENT_CHAT = -1_001_000_000_001
SHOP = {"name": "Demo Shop", "account_url": "https://shop.example/account",
        "signup_url": "https://shop.example/signup?ref={code}"}  # fmt: skip
# FAQ questions in words, per Telegram language; each matches one FAQ topic's keywords.
QUESTIONS = {
    "en": ("How do I earn points?", "What do the levels give?", "How can I use a coupon?"),
    "ru": ("Как заработать баллы?", "Что дают уровни?", "Как потратить баллы?"),
}
ECHO_TEXTS = ("How do I earn points?", "hello there", "Что дают уровни?")
KINDS = ("echo", "me", "history", "text", "daily", "exchange", "mix")
LABELS = {"echo": "echo floor", "me": "/me", "history": "/history", "text": "free text",
          "daily": "/daily", "exchange": "exchange taps", "mix": "mix"}  # fmt: skip
READ_ONLY = ("me", "history", "text")
# The mix, as shares of updates: reads dominate, as in a bot people open to look things up.
# "exchange" counts taps (three per exchange: the menu, the pick, Confirm).
MIX = {"me": 0.35, "text": 0.20, "history": 0.10, "daily": 0.15, "exchange": 0.20}
PICK_DATA = "cpn:pick:500:p"  # "$5 for 500 points"
EXCHANGE_COST = 500
GOAL_READ, GOAL_MIX, GOAL_P99_MS = 0.50, 0.30, 25.0
KEEP_MESSAGES = 12


# --------------------------------------------------------------------------------------------
# The store, the users, the two applications
# --------------------------------------------------------------------------------------------


@dataclass
class User:
    """A linked member as a Telegram user, and what the harness knows of their balance."""

    person: Person
    member_id: str
    language: str
    points: int


def link_users(path: Path, n_users: int, seed: int) -> list[tuple[int, str, str, int]]:
    """Pick `n_users` linked members; mark every linked user as seen by the bot before.

    The builder links 60% of members to a Telegram user. Here they have all used the bot
    before (a `telegram_users` row with their Telegram language, as the gate writes on first
    contact), so the gate's steady state is measured: one read, no write.
    """
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        rows = conn.execute(
            "SELECT l.telegram_user_id, l.member_id, m.language, m.points"
            " FROM telegram_links l JOIN members m USING (member_id) ORDER BY l.telegram_user_id"
        ).fetchall()
        seen = to_db(NOW - timedelta(days=30))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO telegram_users (telegram_user_id, telegram_language, first_seen,"
            " updated_at) VALUES (?, ?, ?, ?)",
            [(tg, language, seen, seen) for tg, _, language, _ in rows],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return random.Random(seed).sample(rows, min(n_users, len(rows)))


def bot_config(program_preset: str, synchronous: str) -> Config:
    """The production configuration shape, with an agent chat (so the support relay runs)."""
    return parse_config(
        {
            "program": {"preset": program_preset, "timezone": "UTC"},
            "shop": SHOP,
            "telegram": {"bot_username": "loyalty_bench_bot"},
            "storage": {"synchronous": synchronous},
            "support": {"agent_chat_id": AGENT_CHAT},
        }
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The floor's only handler: reply with the same text."""
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


def echo_application(emu: TelegramEmulator) -> Application:
    """A bare python-telegram-bot Application on the same emulator: one echo handler."""
    app = (
        Application.builder()
        .token(emu.token)
        .request(EmulatorRequest(emu))
        .get_updates_request(EmulatorRequest(emu))
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    return app


# --------------------------------------------------------------------------------------------
# Scripts: the updates of each kind, as steps (the action timed, what follows it not)
# --------------------------------------------------------------------------------------------


@dataclass
class Step:
    """One update: `act` is timed; `after` runs untimed once it was answered."""

    kind: str
    act: Callable[[], Awaitable[Any]]
    after: Callable[[], None] | None = None


class Pool:
    """Users taken in turn; `fresh(n)` says whether n more fit before anyone repeats."""

    def __init__(self, users: list[User]) -> None:
        self.users, self.i = users, 0

    def take(self) -> User:
        user = self.users[self.i % len(self.users)]
        self.i += 1
        return user

    def fresh(self, n: int) -> bool:
        return self.i + n <= len(self.users)

    def restart(self) -> None:
        self.i = 0


class Scripts:
    """Makes the steps of every kind for the users in the pools (users take turns)."""

    def __init__(self, users: list[User], clock: ManualClock, seed: int) -> None:
        self.rng = random.Random(seed)
        self.clock = clock
        self.readers = Pool(users)
        self.echoers = Pool(users[::-1])
        self.claimers = Pool(list(users))
        self.rng.shuffle(self.claimers.users)
        self.buyers = Pool([u for u in users if u.points >= 4 * EXCHANGE_COST])
        self.rng.shuffle(self.buyers.users)
        self.claims = self.exchanges = self.days = self.questions = 0

    def new_day_if_needed(self, claims: int, exchanges: int) -> None:
        """Before a chunk: move to the next programme day if a claimer or buyer would repeat.

        Only between chunks, so no exchange is in flight (its confirmation would go stale).
        """
        if not self.claimers.fresh(claims) or not self.buyers.fresh(exchanges):
            self.clock.advance(days=1)
            self.days += 1
            self.claimers.restart()
            self.buyers.restart()
            self.buyers.users = [u for u in self.buyers.users if u.points >= EXCHANGE_COST]

    # -- single updates -----------------------------------------------------------------------

    def echo(self) -> Step:
        person = self.echoers.take().person
        text = ECHO_TEXTS[self.echoers.i % len(ECHO_TEXTS)]
        return Step("echo", lambda: person.send(text))

    def command(self, kind: str) -> Step:
        person = self.readers.take().person
        return Step(kind, lambda: person.send(f"/{kind}"))

    def text(self) -> Step:
        user = self.readers.take()
        self.questions += 1  # the three questions in turn
        question = QUESTIONS[user.language][self.questions % 3]
        return Step("text", lambda: user.person.send(question))

    def daily(self) -> Step:
        person = self.claimers.take().person
        self.claims += 1
        return Step("daily", lambda: person.send("/daily"))

    def exchange(self) -> list[Step]:
        user = self.buyers.take()
        user.points -= EXCHANGE_COST
        self.exchanges += 1
        person = user.person
        # Each tap presses a button of the menu message: the bot edits it in place, and the
        # view follows the edits. It is read right after the menu was answered, since the
        # same user may get other replies (to other updates) before the next tap.
        seen: dict[str, Any] = {}

        def shown() -> None:
            seen["message"] = person.last_reply()

        def confirm_data() -> str:
            return next(
                b.callback_data
                for row in seen["message"].buttons
                for b in row
                if b.callback_data and b.callback_data.startswith("cpn:ok:")
            )

        return [
            Step("exchange", lambda: person.send("/coupons"), shown),
            Step("exchange", lambda: person.press_data(PICK_DATA, message=seen["message"])),
            Step("exchange", lambda: person.press_data(confirm_data(), message=seen["message"])),
        ]

    # -- chunks -------------------------------------------------------------------------------

    def chunk(self, kind: str, n: int) -> list[Step]:
        """Return `n` updates of one kind (the exchange's: n rounded down to whole exchanges)."""
        if kind == "exchange":
            self.new_day_if_needed(0, n // 3)
            return [step for _ in range(n // 3) for step in self.exchange()]
        if kind == "mix":
            return self.mix(n)
        if kind == "daily":
            self.new_day_if_needed(n, 0)
            return [self.daily() for _ in range(n)]
        if kind == "echo":
            return [self.echo() for _ in range(n)]
        if kind == "text":
            return [self.text() for _ in range(n)]
        return [self.command(kind) for _ in range(n)]

    def mix(self, n: int) -> list[Step]:
        """`n` updates at MIX's shares; an exchange's taps 2-12 updates apart, as people tap."""
        flows = round(n * MIX["exchange"] / 3)
        singles = {k: round(n * share) for k, share in MIX.items() if k != "exchange"}
        singles["me"] += n - 3 * flows - sum(singles.values())
        self.new_day_if_needed(singles["daily"], flows)
        tokens = [k for k, count in singles.items() for _ in range(count)] + ["flow"] * flows
        self.rng.shuffle(tokens)
        out: list[Step] = []
        pending: list[tuple[int, int, list[Step]]] = []  # (due position, tie, steps left)

        def due() -> None:
            while pending and pending[0][0] <= len(out):
                _, tie, steps = heapq.heappop(pending)
                out.append(steps[0])
                if steps[1:]:
                    heapq.heappush(pending, (len(out) + self.rng.randint(2, 12), tie, steps[1:]))

        for number, token in enumerate(tokens):
            due()
            if token == "flow":
                steps = self.exchange()
                out.append(steps[0])
                heapq.heappush(pending, (len(out) + self.rng.randint(2, 12), number, steps[1:]))
            elif token == "daily":
                out.append(self.daily())
            elif token == "text":
                out.append(self.text())
            else:
                out.append(self.command(token))
        while pending:  # the chunk's last exchanges finish at its end
            _, tie, steps = heapq.heappop(pending)
            out.append(steps[0])
            if steps[1:]:
                heapq.heappush(pending, (len(out), tie, steps[1:]))
        assert len(out) == n, (len(out), n)
        return out


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class Timing:
    """One kind's measurement."""

    latencies: list[int] = field(default_factory=list)  # ns per update
    chunks: list[float] = field(default_factory=list)  # updates/s of each chunk

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {
            "updates": len(lat),
            "updates_per_s": len(lat) / (sum(lat) / 1e9),
            "mean_us": statistics.fmean(lat) / 1e3,
            "p50_ms": statistics.median(lat) / 1e6,
            "p99_ms": percentile(lat, 0.99) / 1e6,
            "max_ms": lat[-1] / 1e6,
        }


def percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * q) - 1)]


class Bench:
    """The emulator with both applications; switches the one updates are delivered to."""

    def __init__(self, emu: TelegramEmulator, bot: Application, floor: Application) -> None:
        self.emu, self.bot, self.floor = emu, bot, floor

    def deliver_to(self, kind: str) -> None:
        app = self.floor if kind == "echo" else self.bot
        if self.emu._app is not app:
            self.emu.connect(app, raise_errors=True)

    def tidy(self) -> None:
        # The emulator keeps every call and update for tests to inspect; a benchmark does not
        # need them, and a log that grows for the whole run would slow later chunks.
        self.emu.calls.clear()
        self.emu.update_log.clear()

    def prune(self) -> None:
        """Between rounds: drop what the emulator keeps of finished conversations, and take
        what remains out of the garbage collector's way.

        Telegram keeps chats on its servers; the emulator keeps them in this process, where a
        full garbage collection walks them: 140k objects after the closed loop, 80 ms on this
        machine, a pause the bot itself would not have. The last messages of each chat stay,
        for buttons still to be pressed, and are frozen (gc.freeze) with everything else alive.
        """
        self.tidy()
        self.emu.callback_queries.clear()  # all answered: delivery is direct
        for chat in self.emu.chats.values():
            if len(chat.messages) > KEEP_MESSAGES:
                for message_id in list(chat.messages)[:-KEEP_MESSAGES]:
                    del chat.messages[message_id]
        gc.collect()
        gc.freeze()

    async def run(self, kind: str, steps: list[Step], timing: Timing | None) -> list[int]:
        """Run steps one after another; return each update's latency in ns."""
        self.deliver_to(kind)
        lat = []
        for step in steps:
            t0 = time.perf_counter_ns()
            await step.act()
            lat.append(time.perf_counter_ns() - t0)
            if step.after is not None:
                step.after()
        self.tidy()
        if timing is not None:
            timing.latencies += lat
            timing.chunks.append(len(lat) / (sum(lat) / 1e9))
        return lat


async def closed_loop(
    bench: Bench, scripts: Scripts, kinds: Sequence[str], rounds: int, chunk: int, warmup: int
) -> dict[str, Any]:
    """Every kind in chunks, round after round, the order rotating so noise hits all alike."""
    kinds = tuple(kinds)
    for kind in kinds:
        await bench.run(kind, scripts.chunk(kind, warmup), None)
    timings = {kind: Timing() for kind in kinds}
    for number in range(rounds):
        shift = number % len(kinds)
        for kind in kinds[shift:] + kinds[:shift]:
            await bench.run(kind, scripts.chunk(kind, chunk), timings[kind])
        bench.prune()
    floor = timings["echo"].summary()
    results: dict[str, Any] = {}
    for kind in kinds:
        summary = timings[kind].summary()
        by_chunk = [
            k / e for k, e in zip(timings[kind].chunks, timings["echo"].chunks, strict=True)
        ]
        results[kind] = {
            **summary,
            "ratio": summary["updates_per_s"] / floor["updates_per_s"],
            "ratio_chunk_median": statistics.median(by_chunk),
        }
    return results


async def paced(
    bench: Bench, scripts: Scripts, rate: float, seconds: float, arrivals: str, seed: int
) -> dict[str, Any]:
    """The mix at `rate` updates/s whatever the bot does; latency from scheduled arrival."""
    n = int(rate * seconds)
    steps = scripts.mix(n)
    rng = random.Random(seed)
    offsets, t = [], 0.0
    for _ in range(n):
        t += rng.expovariate(rate) if arrivals == "poisson" else 1 / rate
        offsets.append(t)
    bench.deliver_to("mix")
    # What stays alive during the run is the harness's and the emulator's alone: this script
    # (6,000 steps and their closures) and the chats (stored messages, their entities, the
    # emulator's events): 95k objects by the end, which every full collection would walk
    # (pauses of 40-50 ms here), though the bot keeps none of them. They are frozen out of the
    # collector (gc.freeze, which costs nothing), the script now and the chats as they grow.
    gc.collect()
    gc.freeze()
    lat: list[float] = []
    served: list[tuple[float, str]] = []  # each update's own time (no queueing), its kind
    late = 0
    pauses: list[float] = []  # garbage collections during the run (they stop everything)
    began: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            pauses.append(time.perf_counter() - began.pop())

    gc.callbacks.append(on_gc)
    start = time.perf_counter() + 0.05
    for offset, step in zip(offsets, steps, strict=True):
        target = start + offset
        wait = target - time.perf_counter()
        if wait > 0.002:
            await asyncio.sleep(wait - 0.0015)  # the event loop's timers wake up to 1 ms late
        while time.perf_counter() < target:  # noqa: ASYNC110 -- a timer is too coarse here
            await asyncio.sleep(0)
        begin = time.perf_counter()
        if begin - target > 0.001:
            late += 1  # the previous update was still running: this one queued
        await step.act()
        done = time.perf_counter()
        lat.append(done - target)
        served.append((done - begin, step.kind))
        if step.after is not None:
            step.after()
        if len(lat) % 500 == 0:
            bench.tidy()
            gc.freeze()
    elapsed = time.perf_counter() - start
    gc.callbacks.remove(on_gc)
    if os.environ.get("BENCH_HEAP"):  # what the run left alive (frozen objects aside)
        alive = Counter(type(o).__module__ + "." + type(o).__name__ for o in gc.get_objects())
        print("  alive:", sum(alive.values()), alive.most_common(15))  # fmt: skip
    bench.tidy()
    ordered = sorted(lat)
    slowest = sorted(served, reverse=True)[:5]
    return {
        "arrivals": arrivals,
        "rate": rate,
        "updates": n,
        "achieved_per_s": n / elapsed,
        "queued": late,
        "p50_ms": statistics.median(ordered) * 1e3,
        "p90_ms": percentile(ordered, 0.90) * 1e3,
        "p99_ms": percentile(ordered, 0.99) * 1e3,
        "max_ms": ordered[-1] * 1e3,
        "busy": sum(t for t, _ in served) / elapsed,
        "slowest_ms": [(round(t * 1e3, 1), kind) for t, kind in slowest],
        "gc_pauses": len(pauses),
        "gc_max_ms": max(pauses, default=0) * 1e3,
    }


async def profile(bench: Bench, scripts: Scripts, kind: str, n: int, top: int) -> str:
    """Run `n` updates of one kind under cProfile; return the top functions by own time."""
    steps = scripts.chunk(kind, n)
    profiler = cProfile.Profile()
    profiler.enable()
    await bench.run(kind, steps, None)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Checks: what is measured does what it says
# --------------------------------------------------------------------------------------------


async def statements(
    bench: Bench, scripts: Scripts, store: Store, kinds: Sequence[str], n: int
) -> dict[str, dict[str, float]]:
    """Count the SQL each kind of update runs, per connection (traced): statements on the
    aiosqlite connections run in their threads (a round trip each, except inside
    `Database.write`, where a whole transaction is one); `Database.lookup` reads (if the store
    has them) run in the event loop's thread; a write is BEGIN ... COMMIT."""
    counts: Counter[str] = Counter()
    show = bool(os.environ.get("BENCH_SQL"))

    def tracer(name: str) -> Callable[[str], None]:
        def trace(sql: str) -> None:
            if show:
                print(f"    {name:<7}", " ".join(sql.split())[:140])
            counts["transactions" if sql.lstrip()[:5].upper() == "BEGIN" else name] += 1

        return trace

    threaded = [store.db._reader, store.db._writer]
    quick = getattr(store.db, "_quick", None)
    out = {}
    for kind in kinds:
        if kind == "echo":
            continue
        steps = scripts.chunk(kind, n)
        counts.clear()
        for conn in threaded:
            await conn.set_trace_callback(tracer("threaded"))
        if quick is not None:
            quick.set_trace_callback(tracer("in_loop"))
        try:
            await bench.run(kind, steps, None)
        finally:
            for conn in threaded:
                await conn.set_trace_callback(None)
            if quick is not None:
                quick.set_trace_callback(None)
        out[kind] = {k: counts[k] / len(steps) for k in ("threaded", "in_loop", "transactions")}
    return out


async def check_outcomes(bench: Bench, scripts: Scripts, store: Store) -> list[str]:
    """Run each kind once for one user and check the answer is the real one, not an error."""
    problems = []
    bench.deliver_to("me")
    user = scripts.readers.users[0]
    person = user.person

    async def answer(text: str) -> Any:
        await person.send(text)
        return person.last_reply()

    me = await answer("/me")
    data = {b.callback_data for row in me.buttons for b in row}
    if "nav:invite" not in data:
        problems.append(f"/me did not show the account: {me.text[:80]!r}")
    history = await answer("/history")
    if len(history.text.splitlines()) < 3:  # the title, a blank line, then the rows
        problems.append(f"/history showed no rows: {history.text[:80]!r}")
    text = await answer(QUESTIONS[user.language][0])
    data = {b.callback_data for row in text.buttons for b in row}
    if "nav:support" not in data or any(d and d.startswith("help:earn") for d in data):
        problems.append(f"free text was not answered from the FAQ: {text.text[:80]!r}")
    rows = await store.db.read("SELECT COUNT(*) FROM ledger WHERE reason = 'daily_checkin'")
    claims_before = next(iter(rows))[0]
    coupons_before = next(iter(await store.db.read("SELECT COUNT(*) FROM coupons")))[0]
    for kind in ("daily", "exchange"):
        await bench.run(kind, scripts.chunk(kind, 3), None)
    claims = next(iter(await store.db.read(
        "SELECT COUNT(*) FROM ledger WHERE reason = 'daily_checkin'")))[0]  # fmt: skip
    coupons = next(iter(await store.db.read("SELECT COUNT(*) FROM coupons")))[0]
    if claims != claims_before + 3:
        problems.append(f"3 /daily made {claims - claims_before} check-ins")
    if coupons != coupons_before + 1:
        problems.append(f"1 exchange issued {coupons - coupons_before} coupons")
    code = scripts.buyers.users[scripts.buyers.i - 1].person.last_reply()
    if not code.protect_content:
        problems.append("the coupon code was not sent with protect_content")
    if bench.emu.handler_errors:
        problems.append(f"handler errors: {bench.emu.handler_errors[:3]!r}")
    return problems


async def count(store: Store, sql: str) -> int:
    return int(next(iter(await store.db.read(sql)))[0])


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


def verdict(kind: str, r: dict[str, Any]) -> str:
    goal = GOAL_READ if kind in READ_ONLY else GOAL_MIX if kind == "mix" else None
    if goal is None:
        return ""
    # Met only when both estimates agree: the whole run's ratio and the chunks' median.
    ok = min(r["ratio"], r["ratio_chunk_median"]) >= goal
    return f"{'ok' if ok else 'BELOW'} (>= {goal:.0%})"


def table(results: dict[str, Any], rounds: int, chunk: int) -> str:
    lines = [
        f"closed loop: {rounds} rounds x {chunk} updates per kind, kinds interleaved",
        f"{'kind':<14} {'updates/s':>9} {'mean us':>8} {'p50 ms':>7} {'p99 ms':>7}"
        f"  {'ratio':>6} {'(chunks)':>8}  goal",
    ]
    for kind in results:
        r = results[kind]
        lines.append(
            f"{LABELS[kind]:<14} {r['updates_per_s']:>9.0f} {r['mean_us']:>8.0f}"
            f" {r['p50_ms']:>7.3f} {r['p99_ms']:>7.3f}  {r['ratio']:>6.0%}"
            f" {r['ratio_chunk_median']:>8.0%}  {verdict(kind, r)}"
        )
    return "\n".join(lines)


def paced_line(r: dict[str, Any]) -> str:
    ok = r["p99_ms"] < GOAL_P99_MS
    return (
        f"paced mix {r['rate']:.0f}/s {r['arrivals']:<8} {r['updates']} updates"
        f" (achieved {r['achieved_per_s']:.0f}/s, {r['queued']} queued behind another):"
        f" p50 {r['p50_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms,"
        f" max {r['max_ms']:.1f} ms  {'ok' if ok else 'ABOVE'} (p99 < {GOAL_P99_MS:g} ms)\n"
        f"  busy {r['busy']:.0%} of the time; slowest updates (ms, no queueing):"
        f" {', '.join(f'{t} {k}' for t, k in r['slowest_ms'])};"
        f" {r['gc_pauses']} garbage collections, longest {r['gc_max_ms']:.1f} ms"
    )


async def run(args: argparse.Namespace) -> int:
    config = bot_config(args.preset, args.synchronous)
    program: Program = config.program
    path = Path(args.db)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": vars(args),
        "machine": machine(),
        "load_before": os.getloadavg(),
        "mix": MIX,
    }
    # The built store is kept beside the run's copy: --reuse starts again from it.
    base, users_file = Path(f"{path}.base"), Path(f"{path}.users.json")
    if args.reuse and reusable(base, users_file):
        print(f"reusing {base}")
    else:
        print(f"building {args.members} members, {args.ledger_rows} ledger rows at {base} ...")
        built = await build(base, program, args.members, args.ledger_rows, 0, args.seed)
        report["build"] = vars(built)
        print(f"built in {built.seconds:.1f} s; {built.file_mb:.0f} MB; "
              f"{built.telegram_links} Telegram links")  # fmt: skip
        write_json(users_file, link_users(base, args.users, args.seed))
    picked = fresh_copy(base, path, users_file)

    clock = ManualClock(NOW)
    store = await Store.open(path, program, clock=clock, synchronous=args.synchronous)
    emu = TelegramEmulator(
        bot_username="loyalty_bench_bot",
        clock=EmulatorClock(),
        limits=RateLimits(enabled=False),
        start_time=NOW,
    )
    emu.supergroup(AGENT_CHAT, "Agents", forum=True)
    # No AIORateLimiter: it paces outgoing messages at Telegram's 30/s, so it would measure
    # the limiter's sleep, not the bot. The emulator's flood limits are off for the same reason.
    bot = build_application(config, store, EmulatorRequest(emu), token=emu.token, rate_limiter=None)
    floor = echo_application(emu)
    users = [
        User(emu.user(tg, f"Member {tg}", language_code=language), member, language, points)
        for tg, member, language, points in picked
    ]
    scripts = Scripts(users, clock, args.seed)
    bench = Bench(emu, bot, floor)
    failed = False
    try:
        async with bot, floor:
            await start_up(bot)
            problems = await check_outcomes(bench, scripts, store)
            report["outcome_check"] = problems
            for problem in problems:
                print("CHECK FAILED:", problem)
            failed |= bool(problems)
            traced = await statements(bench, scripts, store, KINDS, 30)
            report["statements_per_update"] = traced
            print("SQL per update (statements in aiosqlite's threads + in-loop lookups;"
                  " write transactions):")  # fmt: skip
            for k, c in traced.items():
                print(f"  {LABELS[k]:<14} {c['threaded']:.2f} + {c['in_loop']:.2f};"
                      f" {c['transactions']:.2f}")  # fmt: skip
            claims0 = await count(
                store, "SELECT COUNT(*) FROM ledger WHERE reason = 'daily_checkin'"
            )
            coupons0 = await count(store, "SELECT COUNT(*) FROM coupons")
            scripts.claims = scripts.exchanges = 0
            if args.profile:
                for kind in args.profile:
                    await bench.run(kind, scripts.chunk(kind, 300), None)  # warm
                    print(f"--- profile: {args.profile_updates} updates of {kind}")
                    print(await profile(bench, scripts, kind, args.profile_updates, args.top))
                return 0
            gc.collect()
            gc.freeze()  # the store's and emulator's long-lived objects: not rescanned per chunk
            kinds = ["echo", *(k for k in args.kinds if k != "echo")]
            results = await closed_loop(bench, scripts, kinds, args.rounds, args.chunk, args.warmup)
            report["results"] = results
            print()
            print(table(results, args.rounds, args.chunk))
            report["paced"] = []
            for arrivals in args.arrivals:
                bench.prune()
                paced_result = await paced(
                    bench, scripts, args.rate, args.paced_seconds, arrivals, args.seed
                )
                report["paced"].append(paced_result)
                print(paced_line(paced_result))
            claims = await count(
                store, "SELECT COUNT(*) FROM ledger WHERE reason = 'daily_checkin'"
            )
            coupons = await count(store, "SELECT COUNT(*) FROM coupons")
            report["writes"] = {
                "check_ins": [claims - claims0, scripts.claims],
                "coupons": [coupons - coupons0, scripts.exchanges],
                "days": scripts.days,
            }
            print(f"writes: {claims - claims0} check-ins for {scripts.claims} /daily, "
                  f"{coupons - coupons0} coupons for {scripts.exchanges} Confirm taps, "
                  f"{scripts.days} programme days")  # fmt: skip
            if claims - claims0 != scripts.claims or coupons - coupons0 != scripts.exchanges:
                print("CHECK FAILED: a /daily or a Confirm did not write what it should")
                failed = True
            if emu.handler_errors:
                print(f"CHECK FAILED: {len(emu.handler_errors)} handler errors")
                failed = True
    finally:
        gc.unfreeze()
        await store.close()
        await emu.aclose()
    if args.check:
        started = time.perf_counter()
        store = await Store.open(path, program, clock=clock)
        try:
            problems = await check(store)
        finally:
            await store.close()
        report["check_after_run"] = problems[:20]
        print(f"check after run: {len(problems)} problems ({time.perf_counter() - started:.1f} s)")
        failed |= bool(problems)
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f}"
          f" on {os.cpu_count()} CPUs")  # fmt: skip
    if args.json:
        write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    return 1 if failed else 0


def reusable(base: Path, users_file: Path) -> bool:
    return base.exists() and users_file.exists()


def fresh_copy(base: Path, path: Path, users_file: Path) -> list[tuple[int, str, str, int]]:
    """Copy the built store for this run (runs write to it); return the users who write."""
    remove_database(path)
    shutil.copyfile(base, path)
    return [tuple(row) for row in json.loads(users_file.read_text())]


def write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=2, default=str) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=20_000, help="linked members who write")
    parser.add_argument("--rounds", type=int, default=30, help="chunks per kind")
    parser.add_argument("--chunk", type=int, default=102, help="updates per chunk")
    parser.add_argument("--warmup", type=int, default=60, help="untimed updates per kind")
    parser.add_argument("--rate", type=float, default=300, help="paced run: updates/s")
    parser.add_argument("--paced-seconds", type=float, default=20)
    parser.add_argument(
        "--arrivals", nargs="*", default=["poisson", "uniform"], choices=["poisson", "uniform"]
    )
    parser.add_argument("--synchronous", default="FULL", choices=["OFF", "NORMAL", "FULL"])
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "loyalty-bot-bench.db"))
    parser.add_argument("--reuse", action="store_true", help="keep the database of a former run")
    parser.add_argument("--preset", default="marketplace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", action="store_true", help="run storage.check.check after")
    parser.add_argument("--kinds", nargs="+", default=KINDS, choices=KINDS, help="(with echo)")
    parser.add_argument("--profile", nargs="+", choices=KINDS, help="profile these kinds only")
    parser.add_argument("--profile-updates", type=int, default=2000)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--json", help="also write the results here")
    return uvloop.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
