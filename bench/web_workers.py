"""Shop events/s and bot updates/s for one and two `--role web` workers on PostgreSQL.

    python bench/web_workers.py                 # 1 then 2 workers, 10 s a measurement (~70 s)
    python bench/web_workers.py --smoke         # 1 s a measurement: does it all work (~20 s)
    python bench/web_workers.py --workers 2 --seconds 20 --concurrency 64
    python bench/web_workers.py --workers 1 --profile prof   # where each loop's CPU goes

On a fresh PostgreSQL schema of its own (dropped after; `--dsn`, default the local test
server), for each worker count in turn: `loyaltybot run --role web` as that many separate
processes on one store (docs/scaling.md; no scheduler: neither measurement needs one, the web
role answers both), Telegram played by `telegram_emulator` served over HTTP in a process of its
own. Then, in one run:

1. shop events: member stories (bench/http_events.py's: sign-up, orders placed, paid,
   delivered, reviewed) POSTed to /api/v1/events over `--connections` keep-alive connections
   from this process (blocking sockets, one thread each), spread round robin over the workers'
   ports (no nginx in front: it would take CPU from the two cores the workers need; the
   nginx deployment itself is tested by tests/e2e/test_scaling.py);
2. bot updates in webhook mode: the emulator process plays Telegram delivering updates of
   many linked users (`--command`, /me by default) to the workers' /telegram/webhook, over
   `--concurrency` keep-alive connections spread over the workers (Telegram keeps up to 40 per
   bot), each waiting for the bot's answer (its sendMessage) before the next: closed loop,
   updates/s counted from the answers.

The bot's own message budget (30 a second per bot, split between processes: bot/budget.py)
would cap (2) at 29 answers a second; the workers run with it lifted (the limiter still runs)
and the emulator's flood limits are off, so what is measured is the service, not Telegram's
limits. Around each measurement the CPU time of every process is read from /proc: each worker
(and its main thread, the event loop), the emulator, this process, and the PostgreSQL backends
of the workers' connections; with the machine's busy share (/proc/stat, which includes other
work) and each worker's count of retried transactions (SERIALIZABLE) they say what limits each
figure. Results are printed and written as JSON to bench/out/; bench/README-pg.md has figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import uvloop  # noqa: E402

from bench.http_events import (  # noqa: E402
    KEY,
    Connection,
    http_closed_loop,
    stories,
    wait_for_line,
)
from storage.db import to_db  # noqa: E402
from storage.postgres import PostgresDatabase  # noqa: E402
from telegram_emulator import Person, RateLimits, TelegramEmulator, serve  # noqa: E402
from tests.run_kit import child_env, free_port  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN_ENV = "LBT_BENCH_DSN"
SECRET = "bench-webhook-secret"
TOKEN = "123456:TEST"
APP_NAME = "lbt-bench-web"  # the workers' PostgreSQL connections: their backends are found by it
FIRST_USER = 7_000_000  # Telegram ids of the linked users
TICK = os.sysconf("SC_CLK_TCK")

# `loyaltybot run` with the bot-wide budget lifted (bot/budget.py would keep a web worker's
# answers at 29 a second at most, Telegram's limit, not the service's); everything else as is.
WORKER = """
import os
import sys
import bot.budget as budget

real = budget.share

def share(config, role):
    part = real(config, role)
    return budget.Share(1_000_000, part.bulk_per_second, part.group_per_minute)

budget.share = share

# The store's retries (transactions run again after a serialisation failure), written to a
# file five times a second for the bench to read around each measurement.
import threading
import time
from storage import postgres

stores = []
opened = postgres.PostgresDatabase.__init__

def init(self, *args, **kwargs):
    opened(self, *args, **kwargs)
    stores.append(self)

postgres.PostgresDatabase.__init__ = init

def report(path):
    while True:
        with open(path + ".tmp", "w") as out:
            out.write(str(sum(db.retries for db in stores)))
        os.replace(path + ".tmp", path)
        time.sleep(0.2)

threading.Thread(target=report, args=(os.environ["LBT_BENCH_RETRIES"],), daemon=True).start()
from bot.cli import main

profile = os.environ.get("LBT_BENCH_PROFILE")
if profile:  # --profile: the main thread (the event loop) under cProfile while the bench says
    import cProfile
    import signal
    import time

    profilers = []

    def start(*_):
        profilers.append(cProfile.Profile(time.thread_time))  # CPU, not wall: a shared machine
        profilers[-1].enable()

    def stop(*_):  # one file per measurement: PROFILE-1.prof, PROFILE-2.prof, ...
        profilers[-1].disable()
        profilers[-1].dump_stats(f"{profile}-{len(profilers)}.prof")

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
sys.exit(main(sys.argv[1:]))
"""

EMULATOR = "from bench.web_workers import emulator_process; emulator_process()"


# --- the emulator's process -----------------------------------------------------------------


def emulator_process() -> None:
    """Serve the emulator over HTTP; take commands as JSON lines on stdin, answer on stdout."""
    users = int(sys.argv[1])
    uvloop.run(_emulator(users))


async def _emulator(users: int) -> None:
    emu = TelegramEmulator(token=TOKEN, bot_username="bench_bot", limits=RateLimits(enabled=False))
    people = [emu.user(FIRST_USER + i, f"M{i}", language_code="en") for i in range(users)]
    loop = asyncio.get_running_loop()
    async with serve(emu) as base_url:
        _say({"base_url": base_url})
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            command = json.loads(line)
            if command["do"] == "detach":
                # The bench delivers updates itself, over several connections (below); the
                # emulator's own sender posts one at a time, to one URL.
                await emu.webhook_sender.stop()
                url, emu.webhook.url = emu.webhook.url, ""
                _say({"webhook_url": url})
            elif command["do"] == "updates":
                _say(await deliver(emu, people, **command["args"]))
    await emu.aclose()


def _say(answer: dict[str, Any]) -> None:
    print(json.dumps(answer), flush=True)


async def deliver(
    emu: TelegramEmulator,
    people: list[Person],
    *,
    ports: list[int],
    concurrency: int,
    text: str,
    count: int | None = None,
    seconds: float | None = None,
) -> dict[str, Any]:
    """Deliver updates (`text` from the users in turn) over `concurrency` connections spread
    over `ports`, each waiting for the bot's answer, until `count` were sent or `seconds`
    passed; return updates/s and latencies."""
    conns = [await Connection.open(ports[i % len(ports)]) for i in range(concurrency)]
    header = f"X-Telegram-Bot-Api-Secret-Token: {SECRET}"
    turns = itertools.count()
    latencies: list[float] = []
    calls_before = len(emu.calls)

    started = time.perf_counter()
    deadline = math.inf if seconds is None else started + seconds
    last = math.inf if count is None else count

    async def session(conn: Connection) -> None:
        while (turn := next(turns)) < last and time.perf_counter() < deadline:
            person = people[turn % len(people)]
            sent = time.perf_counter()
            await person.send(text)  # queued (no webhook URL): it is the last update pending
            update = emu.updates.pending.pop()
            status, answer = await conn.post("/telegram/webhook", update, header)
            if status != 200:
                raise RuntimeError(f"webhook answered {status}: {answer[:200]!r}")
            await person.wait_reply(timeout=30)
            latencies.append(time.perf_counter() - sent)

    await asyncio.gather(*(session(conn) for conn in conns))
    took = time.perf_counter() - started
    for conn in conns:
        conn.close()
    ordered = sorted(latencies)
    calls = Counter(c.method for c in emu.calls[calls_before:])
    return {
        "updates": len(ordered),
        "updates_per_s": len(ordered) / took,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "bot_calls": dict(calls),
        "failed_calls": sum(1 for c in emu.calls[calls_before:] if c.status != 200),
    }


class Emulator:
    """The emulator's process, seen from here."""

    def __init__(self, users: int) -> None:
        script = [sys.executable, "-c", EMULATOR, str(users)]
        self.process = subprocess.Popen(script, cwd=ROOT, text=True, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE)  # fmt: skip
        self.base_url = self._answer()["base_url"]

    def ask(self, do: str, **args: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": do, "args": args}) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator's process ended")
        return dict(json.loads(line))

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- CPU time from /proc ----------------------------------------------------------------------


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """User + system CPU seconds of a process (or one of its threads), 0 if it is gone."""
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        text = Path(path).read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def machine_busy_seconds() -> float:
    """CPU seconds all CPUs spent busy (not idle or waiting for I/O) since boot."""
    first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    ticks = [int(x) for x in first]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / TICK


@dataclass
class Processes:
    """The processes whose CPU is read around each measurement."""

    workers: list[int]
    emulator: int
    dsn: str
    retry_files: list[Path] = field(default_factory=list)
    backends: list[int] = field(default_factory=list)

    def find_backends(self) -> None:
        """The PostgreSQL server processes of the workers' connections (by application_name)."""
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (APP_NAME,)
            ).fetchall()
        self.backends = [int(r[0]) for r in rows]

    def retries(self) -> int:
        """The workers' transactions run again so far after a serialisation failure (each
        worker's store counts them, storage/postgres.py; WORKER writes the count to a file)."""
        return sum(int(path.read_text() or 0) for path in self.retry_files if path.exists())

    def snapshot(self) -> dict[str, float]:
        """CPU seconds so far, per part."""
        out = {}
        for i, pid in enumerate(self.workers, 1):
            out[f"worker {i}"] = cpu_seconds(pid)
            out[f"worker {i} loop"] = cpu_seconds(pid, pid)  # the main thread: the event loop
        out["emulator"] = cpu_seconds(self.emulator)
        out["load generator"] = cpu_seconds(os.getpid())
        out["postgresql"] = sum(cpu_seconds(pid) for pid in self.backends)
        out["machine"] = machine_busy_seconds()
        return out


def cpu_shares(before: dict[str, float], after: dict[str, float], wall: float) -> dict[str, float]:
    """Percent of one CPU each part used over `wall` seconds (the machine: of all its CPUs)."""
    return {k: round(100 * (after[k] - before[k]) / wall, 1) for k in before}


def limit(shares: dict[str, float], workers: int) -> str:
    """Say what most likely limits a figure, from the CPU shares of its measurement."""
    cpus = os.cpu_count() or 1
    loops = [shares[f"worker {i} loop"] for i in range(1, workers + 1)]
    parts = {k: v for k, v in shares.items() if k != "machine" and not k.endswith(" loop")}
    top = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
    biggest = ", ".join(f"{k} {v:.0f}%" for k, v in top)
    procs = [shares[f"worker {i}"] for i in range(1, workers + 1)]
    each = "/".join(f"{x:.0f}%" for x in procs)
    if max(loops) >= 85:
        return f"the workers' event loops (main threads {'/'.join(f'{x:.0f}%' for x in loops)})"
    if max(procs) >= 90:  # the loop and the psycopg threads share one GIL: one core at most
        return f"the workers' processes at one core each ({each}; loop and psycopg threads)"
    if shares["machine"] >= 85 * cpus:
        return f"the machine's {cpus} CPUs ({shares['machine']:.0f}% busy): {biggest}"
    return f"waiting, not CPU ({shares['machine']:.0f}% of {cpus * 100}% busy): {biggest}"


# --- the deployment -------------------------------------------------------------------------


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def worker_config(path: Path, base_url: str, port: int, webhook_port: int, workers: int) -> Path:
    """One web worker's config: its port, the shared store, webhook mode (docs/scaling.md)."""
    path.write_text(
        f'[storage]\nbackend = "postgresql"\ndsn_env = "{DSN_ENV}"\npool_size = 4\n'
        f'[telegram]\nbase_url = "{base_url}"\nbot_username = "bench_bot"\nmode = "webhook"\n'
        f'webhook_url = "http://127.0.0.1:{webhook_port}/telegram/webhook"\n'
        f"[server]\nport = {port}\n[reminders]\nenabled = false\n"
        f'[scaling]\nweb_workers = {workers}\n[program]\npreset = "marketplace"\n'
    )
    return path


def start_workers(
    workdir: Path, base_url: str, count: int, dsn: str, profile: Path | None = None
) -> list[Worker]:
    """Start `count` web workers; return once each listens and its bot runs.

    With `profile` (a directory) each worker's event loop runs under cProfile, its stats
    written there when it stops."""
    ports = [free_port() for _ in range(count)]
    env = child_env(SHOP_API_KEY=KEY, BOT_TOKEN=TOKEN, WEBHOOK_SECRET=SECRET, **{DSN_ENV: dsn})
    workers = []
    for i, port in enumerate(ports):
        config = worker_config(workdir / f"web{count}-{i}.toml", base_url, port, ports[0], count)
        log = workdir / f"web{count}-{i}.log"
        env = {**env, "LBT_BENCH_RETRIES": str(workdir / f"web{count}-{i}.retries")}
        if profile is not None:
            env = {**env, "LBT_BENCH_PROFILE": str(profile / f"web{count}-{i}")}
        with log.open("wb") as sink:  # a line per request: a file, never a pipe
            process = subprocess.Popen(
                [sys.executable, "-c", WORKER, "run", "-c", str(config), "--role", "web"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=sink,
            )  # fmt: skip
        workers.append(Worker(process, port, log))
    try:
        for worker in workers:
            wait_for_line(worker.process, worker.log, "msg=listening")
            wait_for_line(worker.process, worker.log, "event=bot_running")
    except BaseException:
        for worker in workers:
            worker.process.kill()
            worker.process.wait()
        raise
    return workers


def problems_in(worker: Worker, context: int = 0) -> list[str]:
    """The worker's log lines of errors and tracebacks, each with `context` lines after it."""
    lines = worker.log.read_text().splitlines()
    found = [i for i, line in enumerate(lines) if "Traceback" in line or "level=ERROR" in line]
    return [lines[j] for i in found for j in range(i, min(len(lines), i + 1 + context))]


# --- the store ------------------------------------------------------------------------------


async def prepare(dsn: str, schema: str, users: int) -> None:
    """Create and migrate the schema; link `users` members to Telegram users seen before."""
    db = await PostgresDatabase.open(dsn, schema=schema, pool_size=1)
    stamp = to_db(datetime.now(UTC))
    members = [(f"b-{i}", stamp, stamp) for i in range(users)]
    seen = [(FIRST_USER + i, stamp, stamp) for i in range(users)]
    links = [(f"b-{i}", FIRST_USER + i, stamp) for i in range(users)]

    def insert(conn: Any) -> None:
        conn.executemany("INSERT INTO members (member_id, level_code, created_at, updated_at)"
                         " VALUES (?, 'A0', ?, ?)", members)  # fmt: skip
        conn.executemany("INSERT INTO telegram_users (telegram_user_id, telegram_language,"
                         " first_seen, updated_at) VALUES (?, 'en', ?, ?)", seen)  # fmt: skip
        conn.executemany("INSERT INTO telegram_links (member_id, telegram_user_id, linked_at)"
                         " VALUES (?, ?, ?)", links)  # fmt: skip

    try:
        await db.write(insert)
        await db.write(lambda conn: conn.execute("ANALYZE"))
    finally:
        await db.close()


def drop_schema(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# --- the run --------------------------------------------------------------------------------


def measured(
    procs: Processes, work: Any, profiles: list[Path] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Run `work()`; return its value and the wall seconds, CPU shares and retries meanwhile.

    `profiles`: the files the workers' profilers (--profile) write for this measurement; they
    run meanwhile."""
    for pid in procs.workers if profiles else ():
        os.kill(pid, signal.SIGUSR1)
    retries = procs.retries()
    before, started = procs.snapshot(), time.perf_counter()
    value = work()
    wall = time.perf_counter() - started
    after = procs.snapshot()
    for pid in procs.workers if profiles else ():
        os.kill(pid, signal.SIGUSR2)
    # Wait for the stats before another signal: two pending at once run in the order of their
    # numbers (SIGUSR1 first), not the order they were sent.
    deadline = time.monotonic() + 30
    while profiles and not all(p.exists() for p in profiles):
        if time.monotonic() > deadline:
            raise RuntimeError(f"no profile written: {profiles}")
        time.sleep(0.05)
    time.sleep(0.5)  # the workers write their retry counts every 0.2 s
    seen = {"seconds": wall, "cpu_percent": cpu_shares(before, after, wall),
            "retries": procs.retries() - retries}  # fmt: skip
    return value, seen


def run_workers(
    args: argparse.Namespace, count: int, emulator: Emulator, workdir: Path, dsn: str
) -> dict[str, Any]:
    """Start `count` workers, measure shop events then bot updates, stop them."""
    profile = Path(args.profile).resolve() if args.profile else None
    workers = start_workers(workdir, emulator.base_url, count, dsn, profile)
    result: dict[str, Any] = {"workers": count, "load_before": os.getloadavg()}
    try:
        emulator.ask("detach")
        ports = [w.port for w in workers]
        procs = Processes([w.process.pid for w in workers], emulator.process.pid, dsn)
        procs.retry_files = [w.log.with_suffix(".retries") for w in workers]
        procs.find_backends()
        tag = f"w{count}"

        def profiles(n: int) -> list[Path] | None:
            if profile is None:
                return None
            return [profile / f"web{count}-{i}-{n}.prof" for i in range(count)]

        # Warm-up, untimed: each worker's connections, caches, the planner's plans.
        http_closed_loop(ports, stories(args.connections * 2, 1, f"{tag}-warm"), args.connections)
        emulator.ask("updates", ports=ports, count=args.concurrency * 4,
                     concurrency=args.concurrency, text=args.command)  # fmt: skip
        # More stories than the time allows: the run stops starting new ones after --seconds.
        chunk = stories(args.max_stories, args.orders, tag)
        rate, seen = measured(
            procs,
            lambda: http_closed_loop(ports, chunk, args.connections, args.seconds),
            profiles(1),
        )
        result["events"] = {"events_per_s": rate, "connections": args.connections, **seen,
                            "limit": limit(seen["cpu_percent"], count)}  # fmt: skip
        ask = {"ports": ports, "concurrency": args.concurrency, "text": args.command}
        answer, seen = measured(
            procs, lambda: emulator.ask("updates", seconds=args.seconds, **ask), profiles(2)
        )
        result["updates"] = {**answer, "command": args.command, "concurrency": args.concurrency,
                             **seen, "limit": limit(seen["cpu_percent"], count)}  # fmt: skip
        result["load_after"] = os.getloadavg()
    except BaseException:
        for worker in workers:  # the logs go with the temporary directory: say why first
            for line in problems_in(worker, context=30):
                print(f"{worker.log.name}: {line}", file=sys.stderr)
        raise
    finally:
        codes = [w.stop() for w in workers]
    result["exit_codes"] = codes
    if profile is not None:
        result["profile_percent"] = {
            f"{what}, worker {i + 1}": profile_summary(profile / f"web{count}-{i}-{n}.prof")
            for i in range(count)
            for n, what in ((1, "events"), (2, "updates"))
        }
    result["problems"] = [p for w in workers for p in problems_in(w)][:10]
    return result


# Where a worker's loop spends its CPU, by the packages the profiled functions live in.
AREAS = {
    "telegram": "PTB",
    "httpx": "HTTP out (httpx)",
    "httpcore": "HTTP out (httpx)",
    "h11": "HTTP out (httpx)",
    "anyio": "HTTP out (httpx)",
    "uvicorn": "HTTP in (uvicorn, Starlette)",
    "starlette": "HTTP in (uvicorn, Starlette)",
    "psycopg": "psycopg",
    "psycopg_pool": "psycopg",
    "bot": "loyaltybot",
    "handlers": "loyaltybot",
    "storage": "loyaltybot",
    "loyalty": "loyaltybot",
    "asyncio": "asyncio",
    "logging": "logging",
    "~": "builtins (C)",
}


def profile_summary(path: Path) -> dict[str, float]:
    """Percent of a profiled loop's CPU per area."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    areas: Counter[str] = Counter()
    for (filename, _, _), (_, _, own, _, _) in stats.items():
        parts = Path(filename).parts
        found = next((AREAS[part] for part in reversed(parts) if part in AREAS), None)
        if found is None:
            stdlib = "site-packages" not in parts and any(p.startswith("python3") for p in parts)
            found = "stdlib" if stdlib or filename.startswith("<frozen") else "other"
        areas[found] += own
    total = sum(areas.values()) or 1.0
    return {k: round(100 * v / total, 1) for k, v in areas.most_common()}


def table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'workers':>7}  {'measure':<12} {'per s':>8}  {'p50/p99 ms':>12}  "
             f"{'load':>9}  what limits it; transactions retried"]  # fmt: skip
    for r in results:
        load = f"{r['load_before'][0]:.1f}-{r['load_after'][0]:.1f}"
        e, u = r["events"], r["updates"]
        rows = (("shop events", e["events_per_s"], "", e),
                ("bot " + u["command"], u["updates_per_s"],
                 f"{u['p50_ms']:>5.1f}/{u['p99_ms']:<6.1f}", u))  # fmt: skip
        for number, (name, rate, latency, m) in enumerate(rows):
            workers = "" if number else r["workers"]
            lines.append(f"{workers:>7}  {name:<12} {rate:>8.0f}  {latency:>12}  {load:>9}"
                         f"  {m['limit']}; {m['retries']}")  # fmt: skip
            lines.append(f"{'':>7}  {'  CPU %':<12} {fmt_cpu(m['cpu_percent'])}")
    return "\n".join(lines)


def fmt_cpu(shares: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.0f}" for k, v in shares.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("LOYALTYBOT_BENCH_POSTGRES", DEFAULT_DSN))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--max-stories", type=int, default=3000, help="member stories at most")
    parser.add_argument("--orders", type=int, default=4, help="orders per member story")
    parser.add_argument("--connections", type=int, default=8, help="shop API connections")
    parser.add_argument("--concurrency", type=int, default=32, help="updates in flight")
    parser.add_argument("--users", type=int, default=2000, help="linked users sending them")
    parser.add_argument("--command", default="/me", help="what each update says")
    parser.add_argument("--profile", help="a directory: cProfile each worker's loop into it")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a check, no figures")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seconds, args.users, args.concurrency = 1.0, 40, 8
    if args.users < 2 * args.concurrency:
        parser.error("--users must be at least twice --concurrency (one update per user at once)")
    schema = f"bench_web_{os.getpid()}"
    dsn = psycopg.conninfo.make_conninfo(
        args.dsn, options=f"-c search_path={schema}", application_name=APP_NAME
    )
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    results = []
    emulator = None
    try:
        uvloop.run(prepare(args.dsn, schema, args.users))
        emulator = Emulator(args.users)
        with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp:
            for count in args.workers:
                results.append(run_workers(args, count, emulator, Path(tmp), dsn))
    finally:
        if emulator is not None:
            emulator.stop()
        drop_schema(args.dsn, schema)
    print(table(results))
    for r in results:
        for name, areas in r.get("profile_percent", {}).items():
            print(f"{r['workers']} workers, {name}'s loop CPU: {fmt_cpu(areas)}")
    report: dict[str, Any] = {"args": vars(args), "cpus": os.cpu_count(), "results": results,
              "load_after": os.getloadavg()}  # fmt: skip
    print(f"load average after: {' '.join(f'{x:.2f}' for x in report['load_after'])}")
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"web_workers-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    failed = [r for r in results if any(r["exit_codes"]) or r["problems"]]
    for r in failed:
        print(f"FAILED with {r['workers']} workers: exit codes {r['exit_codes']}, {r['problems']}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
