"""`Database.write`: a whole transaction in the writer's thread, committed entirely or not."""

from __future__ import annotations

import asyncio
import inspect
import re
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiosqlite
import pytest

from storage.db import Conn, Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "w.db", synchronous="NORMAL", migrate=False)

    def create(conn: Conn) -> None:
        conn.execute("CREATE TABLE t (n INTEGER NOT NULL CHECK (n >= 0))")

    await database.write(create)
    yield database
    await database.close()


async def count(db: Database) -> int:
    row = await db.read_one("SELECT count(*) FROM t")
    assert row is not None
    return int(row[0])


async def test_the_body_runs_in_the_writer_thread_and_its_value_comes_back(db: Database) -> None:
    threads: list[str] = []

    def insert_three(conn: Conn) -> int:
        threads.append(threading.current_thread().name)
        conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
        cursor = conn.execute("INSERT INTO t VALUES (4)")
        rows = conn.execute("SELECT sum(n) FROM t").fetchall()
        assert cursor.rowcount == 1 and cursor.lastrowid == 4
        return int(rows[0][0])

    assert await db.write(insert_three) == 10
    assert threads and threads[0] != threading.current_thread().name
    assert await count(db) == 4


def two_then_fail(conn: Conn) -> None:
    conn.execute("INSERT INTO t VALUES (1)")
    conn.execute("INSERT INTO t VALUES (2)")
    raise LookupError("the operation refused")


def spend_too_much(conn: Conn) -> None:
    conn.execute("INSERT INTO t VALUES (5)")
    conn.execute("UPDATE t SET n = n - 6")  # CHECK (n >= 0), the last line of defence


def touches_the_event_loop(conn: Conn) -> None:
    conn.execute("INSERT INTO t VALUES (1)")
    asyncio.get_running_loop()  # the body runs in the writer's thread, outside the loop


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (two_then_fail, LookupError, "refused"),
        (spend_too_much, sqlite3.IntegrityError, "CHECK constraint failed"),
        (touches_the_event_loop, RuntimeError, "no running event loop"),
    ],
)
async def test_a_failure_halfway_rolls_back_every_statement_before_it(
    db: Database,
    body: Callable[[Conn], None],
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        await db.write(body)
    assert await count(db) == 0


async def test_a_coroutine_function_is_refused_and_nothing_is_written(db: Database) -> None:
    async def still_async(conn: Conn) -> None:
        conn.execute("INSERT INTO t VALUES (1)")

    with pytest.raises(TypeError, match=r"a write\(\) body is a plain function"):
        await db.write(still_async)  # type: ignore[unused-coroutine]
    assert await count(db) == 0


async def test_concurrent_writes_never_lose_an_increment(db: Database) -> None:
    def start(conn: Conn) -> None:
        conn.execute("INSERT INTO t VALUES (0)")

    await db.write(start)

    def bump(conn: Conn) -> None:
        row = conn.execute("SELECT n FROM t").fetchone()
        conn.execute("UPDATE t SET n = ?", (row[0] + 1,))  # read-decide-write

    def bump_through_a_helper(conn: Conn) -> None:
        bump(conn)

    await asyncio.gather(*(db.write(bump) for _ in range(40)),
                         *(db.write(bump_through_a_helper) for _ in range(40)))  # fmt: skip
    row = await db.read_one("SELECT n FROM t")
    assert row is not None and row[0] == 80


async def test_a_cancelled_caller_leaves_the_transaction_whole(db: Database) -> None:
    def insert_ten(conn: Conn) -> None:
        for n in range(10):
            conn.execute("INSERT INTO t VALUES (?)", (n,))

    task = asyncio.create_task(db.write(insert_ten))
    await asyncio.sleep(0)  # let it reach the writer's queue
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await db.write(insert_ten)  # the writer is free again, and queued behind the first
    assert await count(db) in (10, 20)  # all ten rows of the cancelled one, or none


# The pin on the one private line. aiosqlite has no public "run this callable in the
# connection's thread", so `Database.write` uses the connection's private call and attribute
# (aiosqlite<0.23 in pyproject.toml). These tests read their names from that line, so that
# the line stays the only place naming them, and say what changed when an aiosqlite release
# moves them.
PINNED = re.compile(
    r"ensure_future\(self\._writer\.(?P<call>_\w+)\(_run_group, "
    r"self\._writer\.(?P<conn>_\w+), group\)"
)
WHERE = "storage/db.py, Database._commit_group (the one private aiosqlite line)"


def pinned() -> re.Match[str]:
    found = [m for line in inspect.getsource(Database._commit_group).splitlines()
             if (m := PINNED.search(line))]  # fmt: skip
    if len(found) != 1:
        pytest.fail(f"{WHERE} no longer reads as this test expects; update the pin here with it")
    return found[0]


def test_aiosqlite_still_has_the_private_call_database_write_uses() -> None:
    call = pinned()["call"]
    version = f"aiosqlite {aiosqlite.__version__}"
    found = inspect.getattr_static(aiosqlite.Connection, call, None)
    if found is None:
        pytest.fail(f"{version} has no Connection.{call}: {WHERE} must find its new way to run "
                    "a callable in the connection's thread (aiosqlite/core.py)")  # fmt: skip
    if not inspect.iscoroutinefunction(found):
        pytest.fail(f"{version}: Connection.{call} is no longer a coroutine function; "
                    f"{WHERE} awaits it")  # fmt: skip


async def test_the_body_runs_on_aiosqlite_s_own_thread_and_connection(tmp_path: Path) -> None:
    # Its own database, not the fixture's: the fixture writes, and a broken pin must fail here,
    # with this message, rather than as an AttributeError while setting up.
    db = await Database.open(tmp_path / "pin.db", migrate=False, checkpoints=False)
    try:
        await check_thread_and_connection(db)
    finally:
        await db.close()


async def check_thread_and_connection(db: Database) -> None:
    version = f"aiosqlite {aiosqlite.__version__}"
    attribute = pinned()["conn"]
    writer = db._writer
    underneath = getattr(writer, attribute, None)
    if not isinstance(underneath, sqlite3.Connection):
        pytest.fail(f"{version}: Connection.{attribute} is no longer the sqlite3 connection "
                    f"(got {type(underneath).__name__}); {WHERE} hands it to the body")  # fmt: skip
    # Where aiosqlite's own public calls run: a function registered on its connection reports it.
    await writer.create_function("worker_thread", 0, threading.get_ident)
    rows = await writer.execute_fetchall("SELECT worker_thread()")
    aiosqlite_thread = next(iter(rows))[0]

    def where(conn: Conn) -> tuple[int, int]:
        # Only the connection the function was registered on knows worker_thread().
        return threading.get_ident(), conn.execute("SELECT worker_thread()").fetchone()[0]

    try:
        body_thread, seen_by_sqlite = await db.write(where)
    except (sqlite3.OperationalError, sqlite3.ProgrammingError) as exc:
        pytest.fail(f"{version}: the write body did not get aiosqlite's own connection in its "
                    f"thread ({exc}); {WHERE}")  # fmt: skip
    if not body_thread == seen_by_sqlite == aiosqlite_thread:
        pytest.fail(f"{version}: the write body ran outside the connection's thread; {WHERE}")


async def test_concurrent_writes_share_a_commit_and_each_stays_whole(db: Database) -> None:
    """Group commit: writes waiting behind one in progress go together, one COMMIT (one fsync)
    for all, each in a savepoint of its own, so a failing one takes nothing of the others."""
    statements: list[str] = []

    def trace(conn: Conn) -> None:
        conn.set_trace_callback(statements.append)

    await db.write(trace)

    def insert(n: int) -> Callable[[Conn], int]:
        def body(conn: Conn) -> int:
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            if n == 7:
                conn.execute("INSERT INTO t VALUES (-1)")  # CHECK (n >= 0): this one fails
            return n

        return body

    outcomes = await asyncio.gather(*(db.write(insert(n)) for n in range(20)),
                                    return_exceptions=True)  # fmt: skip
    assert [o for o in outcomes if isinstance(o, BaseException)] == [outcomes[7]]
    assert isinstance(outcomes[7], sqlite3.IntegrityError)
    assert [o for o in outcomes if not isinstance(o, BaseException)] == [
        n for n in range(20) if n != 7
    ]
    rows = await db.read("SELECT n FROM t ORDER BY n")
    assert [r[0] for r in rows] == [n for n in range(20) if n != 7]  # not even 7's first row
    commits = [s for s in statements if s.strip().upper() == "COMMIT"]
    assert 1 <= len(commits) < 20, statements  # the first alone, the rest waited and grouped


async def test_a_write_cancelled_while_waiting_never_runs(db: Database) -> None:
    gate, running = threading.Event(), threading.Event()

    def held(conn: Conn) -> None:
        running.set()
        gate.wait(10)  # in the writer's thread: the next writes queue behind this one
        conn.execute("INSERT INTO t VALUES (1)")

    def second(conn: Conn) -> None:
        conn.execute("INSERT INTO t VALUES (2)")

    first = asyncio.create_task(db.write(held))
    assert await asyncio.to_thread(running.wait, 10)  # it holds the writer now
    waiting = asyncio.create_task(db.write(second))
    third = asyncio.create_task(db.write(second))
    await asyncio.sleep(0)
    waiting.cancel()
    gate.set()
    await first
    await third
    with pytest.raises(asyncio.CancelledError):
        await waiting
    rows = await db.read("SELECT n FROM t ORDER BY n")
    assert [r[0] for r in rows] == [1, 2]  # the cancelled one's row never written
