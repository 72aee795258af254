"""Engine benchmark on PostgreSQL: the storage operations against raw psycopg floors.

The store is built the way bench/engine.py builds it (SQLite, the real schema, consistent bulk
data), then moved into a fresh PostgreSQL schema with `storage.copy` (the `db copy` code; its
time is printed too). In the same run, against the same schema, each operation is measured
against floors that issue the same statements in the same order (bench/engine.py's `Floor`,
whose statements that benchmark's shape check proves equal to the engine's) with no engine
code:

    floor-async   psycopg's AsyncConnection, one await per statement (psycopg's asyncio API,
                  as the SQLite floor uses aiosqlite); the goal's floor
    floor-thread  the whole transaction as one plain function on a sync psycopg connection in
                  a worker thread: what the engine does, minus the engine (no pool, no retry
                  loop, each statement translated once per floor, not looked up per call)

Both floors read rows with the store's own row factory (by name and by index) and its type
loaders, so the comparison is of the engine's code, not of how rows are built.

Both floors run their transactions SERIALIZABLE, as the engine does. The sides alternate in
chunks so noise hits all alike.

    python bench/engine_pg.py                     # 10,000 members, 500 ops a side (~3 min)
    python bench/engine_pg.py --members 100000 --ledger-rows 1000000 --ops 2000   # ~15 min
    python bench/engine_pg.py --profile 300       # where the engine's time goes, no timing

`--profile N` runs N of each write operation, engine and thread floor, with the worker thread
taken out (each transaction run inline in the main thread, as the worker thread would run it)
under cProfile counting CPU time, and prints each side's CPU per operation and the functions
only the engine runs: a profile says what the engine adds even on a busy machine, where the
times of the chunks do not.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import uvloop  # noqa: E402

from bench import engine as base  # noqa: E402
from loyalty.clock import ManualClock  # noqa: E402
from loyalty.loader import load_program  # noqa: E402
from storage import copy as copying  # noqa: E402
from storage.check import check  # noqa: E402
from storage.dialect import make_row_factory, translate  # noqa: E402
from storage.postgres import register_types, session_setup  # noqa: E402
from storage.store import Store  # noqa: E402

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_engine"


class AsyncFloorConn:
    """aiosqlite's calls (as bench/engine.py's Floor makes them) on a psycopg AsyncConnection."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Any = ()) -> None:
        if sql == "BEGIN IMMEDIATE":
            sql = "BEGIN ISOLATION LEVEL SERIALIZABLE"
        await self.conn.execute(translate(sql), params)

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        cursor = await self.conn.execute(translate(sql), params)
        return await cursor.fetchall()

    async def commit(self) -> None:
        await self.conn.execute("COMMIT")

    async def rollback(self) -> None:
        await self.conn.execute("ROLLBACK")


class SyncFloorConn:
    """The same calls on a sync connection, for a Floor run whole in a worker thread.

    The Floor's methods are coroutines; here every awaited call completes at once, so a whole
    transaction runs in the thread without yielding (driven by `_drive`).
    """

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        self._sql: dict[str, bytes] = {}

    def _q(self, sql: str) -> bytes:
        found = self._sql.get(sql)
        if found is None:
            text = "BEGIN ISOLATION LEVEL SERIALIZABLE" if sql == "BEGIN IMMEDIATE" else sql
            found = self._sql[sql] = translate(text).encode()
        return found

    async def execute(self, sql: str, params: Any = ()) -> None:
        self.conn.execute(self._q(sql), params)

    async def execute_fetchall(self, sql: str, params: Any = ()) -> list[Any]:
        return self.conn.execute(self._q(sql), params).fetchall()

    async def commit(self) -> None:
        self.conn.execute(b"COMMIT")

    async def rollback(self) -> None:
        self.conn.execute(b"ROLLBACK")


def _drive(coroutine: Any) -> Any:
    """Run a coroutine that never suspends to its end, in the calling thread."""
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise RuntimeError("a floor transaction suspended in the worker thread")


class ThreadFloor:
    """bench/engine.py's Floor, each transaction run whole in one worker thread."""

    def __init__(self, floor: base.Floor) -> None:
        self.floor = floor

    def wrap(self, op: Callable[[Any], Any]) -> Callable[[Any], Any]:
        async def run(arg: Any) -> None:
            await asyncio.to_thread(lambda: _drive(op(arg)))

        return run


class PgInputs(base.Inputs):
    """bench/engine.py's inputs, read from the PostgreSQL copy (balances change there)."""

    def __init__(self, store: Store, clock: ManualClock, n_members: int, seed: int) -> None:
        super().__init__(Path("unused"), clock, n_members, seed)
        self.store = store

    async def load(self) -> None:
        rows = await self.store.db.read(
            "SELECT order_id FROM orders WHERE status = 'placed' ORDER BY order_id"
        )
        top = await self.store.db.read(
            "SELECT member_id FROM ledger GROUP BY member_id ORDER BY COUNT(*) DESC LIMIT ?",
            (max(1, len(self.ids) // 100),),
        )
        self.orders = [r[0] for r in rows]
        self.rng.shuffle(self.orders)
        self.active = [r[0] for r in top]

    async def exchanger(self) -> str:
        if not self.exchangers:
            self.next_day()
            rows = await self.store.db.read(
                "SELECT member_id FROM members WHERE points >= 500 ORDER BY member_id"
            )
            self.exchangers = [r[0] for r in rows]
            self.rng.shuffle(self.exchangers)
        return self.exchangers.pop()


async def fresh_schema(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


async def floor_connections(
    dsn: str, durable: bool
) -> tuple[psycopg.AsyncConnection[Any], psycopg.Connection[Any]]:
    setup = session_setup(SCHEMA, durable)
    aconn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, row_factory=make_row_factory()
    )
    register_types(aconn)
    await aconn.execute(setup)
    sconn = psycopg.connect(dsn, autocommit=True, row_factory=make_row_factory())
    register_types(sconn)
    sconn.execute(setup)
    return aconn, sconn


async def run(args: argparse.Namespace) -> int:
    program = load_program({"preset": args.preset})
    path = Path(args.db)
    report: dict[str, Any] = {"args": vars(args), "machine": base.machine()}
    report["load_before"] = os.getloadavg()
    placed = len(args.synchronous) * 4 * (args.ops + args.warmup) + 1000  # engine twice, 2 floors
    if args.profile:
        placed = 2 * (args.profile + PROFILE_WARMUP) + 1000
    print(f"building {args.members} members, {args.ledger_rows} ledger rows in SQLite ...")
    built = await base.build(path, program, args.members, args.ledger_rows, placed, args.seed)
    print(f"built in {built.seconds:.1f} s; {built.ledger_rows} ledger rows")
    clock = ManualClock(base.NOW)
    await fresh_schema(args.dsn)
    source = await Store.open(path, program, clock=clock)
    target = await Store.open_postgres(
        args.dsn, program, clock=clock, schema=SCHEMA, pool_size=4, durable=False
    )
    try:
        started = time.perf_counter()
        copied = await copying.copy(source.db, target.db, batch=5_000)
        seconds = time.perf_counter() - started
        print(f"db copy into PostgreSQL: {copied} rows in {seconds:.1f} s"
              f" ({copied / seconds:,.0f} rows/s)")  # fmt: skip
        report["copy"] = {"rows": copied, "seconds": seconds}
        started = time.perf_counter()
        comparison = await copying.compare(source.db, target.db, batch=5_000)
        print(f"compared {comparison.rows} rows in {time.perf_counter() - started:.1f} s:"
              f" {len(comparison.differences)} differences")  # fmt: skip
    finally:
        await source.close()
        await target.close()
    failed = bool(comparison.differences)
    inputs = PgInputs(target, clock, args.members, args.seed)
    if args.profile:
        await profile(args, program, clock, inputs)
        return 1 if failed else 0
    for mode in args.synchronous:
        durable = mode != "NORMAL"
        store = await Store.open_postgres(
            args.dsn, program, clock=clock, schema=SCHEMA, pool_size=4, durable=durable
        )
        await store.db.write(lambda conn: conn.execute("ANALYZE"))
        aconn, sconn = await floor_connections(args.dsn, durable)
        try:
            inputs.store = store  # one Inputs for the whole run: its keys never repeat
            await inputs.load()
            inputs.next_day()
            engine = base.Engine(store)
            afloor = base.Floor(AsyncFloorConn(aconn), None, program, clock)  # type: ignore[arg-type]
            tfloor = ThreadFloor(base.Floor(SyncFloorConn(sconn), None, program, clock))  # type: ignore[arg-type]
            results: dict[str, dict[str, Any]] = {}
            for name, e_op, a_op, t_op in (
                ("apply-event", engine.deliver, afloor.deliver, tfloor.floor.deliver),
                ("exchange", engine.exchange, afloor.exchange, tfloor.floor.exchange),
                ("claim", engine.claim, afloor.claim, tfloor.floor.claim),
                ("lookup", engine.lookup, afloor.lookup, tfloor.floor.lookup),
            ):
                pair = {p.name: p for p in base.pairs(engine, afloor, inputs)}[name]
                for label, floor_op in (("async", a_op), ("thread", tfloor.wrap(t_op))):
                    gc.collect()
                    measured = await base.measure(
                        base.Pair(name, e_op, floor_op, pair.take), args.ops, args.chunk,
                        args.warmup,
                    )  # fmt: skip
                    results[f"{name} vs {label}"] = measured
            report.setdefault("results", {})[mode] = results
            print()
            print(base.table(f"{mode} (PostgreSQL)", results, args.ops, args.chunk))
            print()
        finally:
            await aconn.close()
            sconn.close()
            await store.close()
    store = await Store.open_postgres(args.dsn, program, clock=clock, schema=SCHEMA, pool_size=2)
    try:
        problems = await check(store)
    finally:
        await store.close()
    print(f"check after the run: {len(problems)} problems")
    failed |= bool(problems)
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load_before'][0]:.2f},"
          f" after {report['load_after'][0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
    if args.json:
        base.write_json(Path(args.json), report)
    return 1 if failed else 0


PROFILE_WARMUP = 20
# Where the profiled CPU goes, by the file a function lives in (first match wins).
AREAS = (
    ("storage/postgres.py", "storage/postgres.py (pool, retry loop, PgConn)"),
    ("storage/dialect.py", "storage/dialect.py (translate, rows)"),
    ("psycopg_pool", "psycopg_pool (check-out, return)"),
    ("psycopg", "psycopg"),
    ("bench/", "the floor's own code"),
    ("storage/", "the operation (storage/)"),
    ("loyalty/", "the programme (loyalty/)"),
    ("~", "C built-ins (libpq, I/O)"),
)


def area(filename: str) -> str:
    """The area of a profiled function's file (this checkout's files by their relative path)."""
    root = f"{ROOT}/"
    relative = filename[len(root) :] if filename.startswith(root) else filename
    return next((name for part, name in AREAS if relative.startswith(part) or
                 (part in ("psycopg", "psycopg_pool") and f"/{part}/" in relative)),
                "stdlib and other")  # fmt: skip


def run_inline(db: Any) -> None:
    """Make `db` run each transaction and read in the calling thread, not a worker thread."""

    async def write(body: Callable[[Any], Any]) -> Any:
        return db._write(body)

    async def read(sql: str, params: Any = ()) -> list[Any]:
        return db._fetch(sql, params)

    db.write, db.read = write, read


async def profile(
    args: argparse.Namespace, program: Any, clock: ManualClock, inputs: PgInputs
) -> None:
    """Profile `args.profile` ops of each write, engine and thread floor, all in this thread;
    and the member lookup, engine and async floor (both run in the event loop)."""
    store = await Store.open_postgres(
        args.dsn, program, clock=clock, schema=SCHEMA, pool_size=4, durable=True
    )
    await store.db.write(lambda conn: conn.execute("ANALYZE"))
    aconn, sconn = await floor_connections(args.dsn, True)
    try:
        inputs.store = store
        await inputs.load()
        inputs.next_day()
        run_inline(store.db)
        engine = base.Engine(store)
        tfloor = base.Floor(SyncFloorConn(sconn), None, program, clock)  # type: ignore[arg-type]
        afloor = base.Floor(AsyncFloorConn(aconn), None, program, clock)  # type: ignore[arg-type]
        by_name = {p.name: p for p in base.pairs(engine, afloor, inputs)}
        for name, e_op, t_op in (
            ("apply-event", engine.deliver, tfloor.deliver),
            ("exchange", engine.exchange, tfloor.exchange),
            ("claim", engine.claim, tfloor.claim),
            ("lookup", engine.lookup, None),  # in the loop: against the async floor
        ):
            take = by_name[name].take

            async def floor_op(arg: Any, t_op: Any = t_op) -> None:
                _drive(t_op(arg))

            sides = {"engine": e_op, "floor": floor_op if t_op else afloor.lookup}
            stats = {}
            for side, op in sides.items():
                for _ in range(PROFILE_WARMUP):
                    await op(await take(side))
                todo = [await take(side) for _ in range(args.profile)]
                gc.collect()
                profiler = cProfile.Profile(time.thread_time)
                started = time.perf_counter()
                profiler.enable()
                for arg in todo:
                    await op(arg)
                profiler.disable()
                wall = time.perf_counter() - started
                stats[side] = pstats.Stats(profiler)
                cpu = stats[side].total_tt / args.profile * 1000  # type: ignore[attr-defined]
                print(f"{name} {side}: {cpu:.3f} ms CPU per op in this thread"
                      f" ({wall / args.profile * 1000:.3f} ms wall)")  # fmt: skip
            print_areas(name, stats, args.profile)
            out = io.StringIO()
            stats["engine"].stream = out  # type: ignore[attr-defined]
            stats["engine"].sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())
    finally:
        await aconn.close()
        sconn.close()
        await store.close()


def print_areas(name: str, stats: dict[str, pstats.Stats], ops: int) -> None:
    """Each side's CPU per op by area, and the difference."""
    per: dict[str, Counter[str]] = {}
    statements = {}
    for side, st in stats.items():
        counter: Counter[str] = Counter()
        for (filename, _, function), (_, calls, own, _, _) in st.stats.items():  # type: ignore[attr-defined]
            counter[area(filename)] += own * 1e6 / ops
            if function == "execute" and filename.endswith(
                ("psycopg/cursor.py", "cursor_async.py")
            ):
                statements[side] = statements.get(side, 0) + calls / ops
        per[side] = counter
    print(
        f"{name}: statements per op (psycopg execute calls; an async one counts each resume):"
        f" engine {statements.get('engine', 0):.1f}, floor {statements.get('floor', 0):.1f}"
    )
    names = sorted(set(per["engine"]) | set(per["floor"]), key=lambda k: -per["engine"][k])
    print(f"{name}: us of CPU per op   engine    floor  engine - floor")
    for key in names:
        e, f = per["engine"][key], per["floor"][key]
        print(f"  {key:<48} {e:7.0f}  {f:7.0f}  {e - f:+7.0f}")
    e, f = sum(per["engine"].values()), sum(per["floor"].values())
    print(f"  {'total':<48} {e:7.0f}  {f:7.0f}  {e - f:+7.0f}")
    # The functions whose own time differs most between the sides (calls per op, us per op).
    own = {side: {k: (v[1] / ops, v[2] * 1e6 / ops) for k, v in st.stats.items()}  # type: ignore[attr-defined]
           for side, st in stats.items()}  # fmt: skip
    keys = set(own["engine"]) | set(own["floor"])
    none = (0.0, 0.0)
    gaps = sorted(
        keys, key=lambda k: -abs(own["engine"].get(k, none)[1] - own["floor"].get(k, none)[1])
    )
    print(f"{name}: functions differing most    calls/op engine floor   us/op engine floor")
    for key in gaps[:12]:
        (ec, et), (fc, ft) = own["engine"].get(key, none), own["floor"].get(key, none)
        where = f"{Path(key[0]).name}:{key[1]}({key[2]})"
        print(f"  {where[:48]:<48} {ec:6.1f} {fc:6.1f}  {et:7.0f} {ft:7.0f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("LOYALTYBOT_BENCH_POSTGRES", DEFAULT_DSN))
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--ledger-rows", type=int, default=100_000)
    parser.add_argument("--ops", type=int, default=500, help="timed operations per side")
    parser.add_argument("--warmup", type=int, default=50, help="untimed operations per side")
    parser.add_argument("--chunk", type=int, default=50, help="operations per alternation")
    parser.add_argument("--profile", type=int, metavar="N", help="profile N ops, no timing")
    parser.add_argument("--top", type=int, default=25, help="functions shown per profile")
    parser.add_argument(
        "--db", default=str(Path(tempfile.gettempdir()) / "loyalty-bench-pg-source.db")
    )
    parser.add_argument(
        "--synchronous", nargs="+", default=["FULL", "NORMAL"], choices=["NORMAL", "FULL"],
        help="FULL: synchronous_commit on; NORMAL: off",
    )  # fmt: skip
    parser.add_argument("--preset", default="marketplace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the results here")
    return uvloop.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
