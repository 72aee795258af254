"""`Database.write`: a whole transaction in the writer's thread, committed entirely or not."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database, InThread, Tx


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "w.db", synchronous="NORMAL", migrate=False)

    async def create(tx: Tx) -> None:
        await tx.execute("CREATE TABLE t (n INTEGER NOT NULL CHECK (n >= 0))")

    await database.write(create)
    yield database
    await database.close()


async def count(db: Database) -> int:
    row = await db.read_one("SELECT count(*) FROM t")
    assert row is not None
    return int(row[0])


async def test_the_body_runs_in_the_writer_thread_and_its_value_comes_back(db: Database) -> None:
    threads: list[str] = []

    async def insert_three(tx: InThread) -> int:
        threads.append(threading.current_thread().name)
        await tx.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
        cursor = await tx.execute("INSERT INTO t VALUES (4)")
        rows = await tx.execute_fetchall("SELECT sum(n) FROM t")
        assert cursor.rowcount == 1 and cursor.lastrowid == 4
        return int(rows[0][0])

    assert await db.write(insert_three) == 10
    assert threads and threads[0] != threading.current_thread().name
    assert await count(db) == 4


async def two_then_fail(tx: InThread) -> None:
    await tx.execute("INSERT INTO t VALUES (1)")
    await tx.execute("INSERT INTO t VALUES (2)")
    raise LookupError("the operation refused")


async def spend_too_much(tx: InThread) -> None:
    await tx.execute("INSERT INTO t VALUES (5)")
    await tx.execute("UPDATE t SET n = n - 6")  # CHECK (n >= 0), the last line of defence


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (two_then_fail, LookupError, "refused"),
        (spend_too_much, sqlite3.IntegrityError, "CHECK constraint failed"),
    ],
)
async def test_a_failure_halfway_rolls_back_every_statement_before_it(
    db: Database,
    body: Callable[[InThread], Coroutine[Any, Any, None]],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await db.write(body)
    assert await count(db) == 0


async def test_a_body_that_awaits_anything_else_is_refused_and_rolled_back(db: Database) -> None:
    async def waits(tx: InThread) -> None:
        await tx.execute("INSERT INTO t VALUES (1)")
        await asyncio.sleep(0)  # would suspend: not allowed outside the event loop

    with pytest.raises(RuntimeError, match="awaited something other than its connection"):
        await db.write(waits)
    assert await count(db) == 0


async def test_concurrent_writes_never_lose_an_increment(db: Database) -> None:
    async def start(tx: Tx) -> None:
        await tx.execute("INSERT INTO t VALUES (0)")

    await db.write(start)

    async def bump(tx: Tx) -> None:
        rows = await tx.execute_fetchall("SELECT n FROM t")
        await tx.execute("UPDATE t SET n = ?", (rows[0][0] + 1,))  # read-decide-write

    async def bump_through_a_helper(tx: Tx) -> None:
        await bump(tx)

    await asyncio.gather(*(db.write(bump) for _ in range(40)),
                         *(db.write(bump_through_a_helper) for _ in range(40)))  # fmt: skip
    row = await db.read_one("SELECT n FROM t")
    assert row is not None and row[0] == 80


async def test_a_cancelled_caller_leaves_the_transaction_whole(db: Database) -> None:
    async def insert_ten(tx: InThread) -> None:
        for n in range(10):
            await tx.execute("INSERT INTO t VALUES (?)", (n,))

    task = asyncio.create_task(db.write(insert_ten))
    await asyncio.sleep(0)  # let it reach the writer's queue
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.write(insert_ten)  # the writer is free again, and queued behind the first
    assert await count(db) in (10, 20)  # all ten rows of the cancelled one, or none
