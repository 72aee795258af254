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
                  loop, no `?` translation, plain tuples instead of rows by name)

Both floors run their transactions SERIALIZABLE, as the engine does. The sides alternate in
chunks so noise hits all alike.

    python bench/engine_pg.py --members 100000 --ledger-rows 1000000 --ops 2000
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
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
from storage.postgres import _register_types, _session_setup  # noqa: E402
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
    setup = _session_setup(SCHEMA, durable)
    aconn = await psycopg.AsyncConnection.connect(
        dsn, autocommit=True, row_factory=make_row_factory()
    )
    _register_types(aconn)
    await aconn.execute(setup)
    sconn = psycopg.connect(dsn, autocommit=True, row_factory=make_row_factory())
    _register_types(sconn)
    sconn.execute(setup)
    return aconn, sconn


async def run(args: argparse.Namespace) -> int:
    program = load_program({"preset": args.preset})
    path = Path(args.db)
    report: dict[str, Any] = {"args": vars(args), "machine": base.machine()}
    report["load_before"] = os.getloadavg()
    placed = len(args.synchronous) * 4 * (args.ops + args.warmup) + 1000  # engine twice, 2 floors
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dsn", default=os.environ.get("LOYALTYBOT_BENCH_POSTGRES", DEFAULT_DSN))
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=2000, help="timed operations per side")
    parser.add_argument("--warmup", type=int, default=100, help="untimed operations per side")
    parser.add_argument("--chunk", type=int, default=100, help="operations per alternation")
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
