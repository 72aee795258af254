"""`storage.postgres` and `storage.dialect`: SQLite-style statements, rows and transactions on
PostgreSQL (the operations themselves run on both backends in the store suites)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

import psycopg
import pytest

from storage.dialect import translate
from storage.postgres import ALONE_AFTER, PgConn, PostgresDatabase, migrations
from tests.postgres_kit import PostgresSchemas


@pytest.mark.parametrize(
    ("sqlite", "psycopg_form"),
    [
        ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
        ("SELECT :a, :b_2 FROM t WHERE c = :a", "SELECT %(a)s, %(b_2)s FROM t WHERE c = %(a)s"),
        ("SELECT '?', ':x' WHERE n LIKE 'a%' AND m = ?",
         "SELECT '?', ':x' WHERE n LIKE 'a%%' AND m = %s"),
        ("SELECT 'it''s ?' -- a ? here\n, ?", "SELECT 'it''s ?' -- a ? here\n, %s"),
        ('SELECT "odd?name" FROM t WHERE x = ?', 'SELECT "odd?name" FROM t WHERE x = %s'),
        ("SELECT CAST(? AS jsonb), x::text, 5 % 2", "SELECT CAST(%s AS jsonb), x::text, 5 %% 2"),
        ("SELECT '09:30', :t", "SELECT '09:30', %(t)s"),
    ],
)  # fmt: skip
def test_placeholders_are_translated_outside_literals_and_comments(
    sqlite: str, psycopg_form: str
) -> None:
    assert translate(sqlite) == psycopg_form


@pytest.fixture
async def db(postgres_schemas: PostgresSchemas) -> AsyncIterator[PostgresDatabase]:
    schema = postgres_schemas.new()
    database = await PostgresDatabase.open(
        postgres_schemas.dsn, pool_size=3, schema=schema, migrate=False, durable=False
    )

    def create(conn: PgConn) -> None:
        conn.execute("CREATE TABLE t (n BIGINT NOT NULL CHECK (n >= 0), note TEXT)")

    await database.write(create)
    yield database
    await database.close()
    postgres_schemas.drop(schema)


async def total(db: PostgresDatabase) -> int:
    row = await db.read_one("SELECT COALESCE(SUM(n), 0) AS total FROM t")
    assert row is not None
    assert row["total"] == row[0]
    return int(row[0])


async def test_a_body_runs_in_a_worker_thread_and_rows_read_by_name_and_index(
    db: PostgresDatabase,
) -> None:
    threads: list[str] = []

    def insert(conn: PgConn) -> tuple[int, str, list[str]]:
        threads.append(threading.current_thread().name)
        conn.executemany("INSERT INTO t (n, note) VALUES (?, ?)", [(1, "a%"), (2, "b")])
        cursor = conn.execute("INSERT INTO t (n, note) VALUES (:n, :note)", {"n": 3, "note": "c"})
        assert cursor.rowcount == 1
        row = conn.execute(
            "SELECT SUM(n) AS s, MAX(note) AS m FROM t WHERE note LIKE '%'"
        ).fetchone()
        return row["s"], row[1], row.keys()

    summed, most, keys = await db.write(insert)
    assert (summed, most, keys) == (6, "c", ["s", "m"])
    assert type(summed) is int  # SUM of bigint is numeric: loaded as an int, not a Decimal
    assert threads and threads[0] != threading.current_thread().name


async def test_a_failure_rolls_back_the_whole_body(db: PostgresDatabase) -> None:
    def two_then_fail(conn: PgConn) -> None:
        conn.execute("INSERT INTO t (n) VALUES (1)")
        conn.execute("INSERT INTO t (n) VALUES (2)")
        raise LookupError("refused")

    def check_broken(conn: PgConn) -> None:
        conn.execute("INSERT INTO t (n) VALUES (5)")
        conn.execute("INSERT INTO t (n) VALUES (-1)")

    with pytest.raises(LookupError):
        await db.write(two_then_fail)
    with pytest.raises(psycopg.errors.CheckViolation):
        await db.write(check_broken)
    assert await total(db) == 0


async def test_a_coroutine_function_is_refused_and_nothing_is_written(
    db: PostgresDatabase,
) -> None:
    async def body(conn: PgConn) -> None:
        conn.execute("INSERT INTO t (n) VALUES (1)")

    with pytest.raises(TypeError, match="plain function"):
        await db.write(body)  # type: ignore[arg-type]
    assert await total(db) == 0


async def test_conflicting_read_decide_writes_are_run_again_and_none_is_lost(
    db: PostgresDatabase,
) -> None:
    """Each body reads the total and writes total + 1: under READ COMMITTED two would read the
    same total; SERIALIZABLE makes the losers run again on a fresh snapshot."""
    await db.write(lambda conn: conn.execute("INSERT INTO t (n, note) VALUES (0, 'counter')"))

    def increment(conn: PgConn) -> None:
        (current,) = conn.execute("SELECT n FROM t WHERE note = 'counter'").fetchone()
        conn.execute("UPDATE t SET n = ? WHERE note = 'counter'", (current + 1,))

    await asyncio.gather(*(db.write(increment) for _ in range(30)))
    assert await total(db) == 30
    assert db.retries > 0  # three writer threads really did collide


async def test_a_transaction_that_keeps_losing_runs_alone(db: PostgresDatabase) -> None:
    """A long transaction among many short ones lost 200 races in a row in 5.8 s (a 500 to the
    shop): after ALONE_AFTER losses it takes the write lock every other write holds shared."""
    modes: list[str] = []

    def straggler(conn: PgConn) -> str:
        (mode,) = conn.execute(
            "SELECT mode FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
        ).fetchone()
        modes.append(mode)
        if len(modes) <= ALONE_AFTER:
            raise psycopg.errors.SerializationFailure("lost the race (simulated)")
        return "written"

    assert await db.write(straggler) == "written"
    assert modes == ["ShareLock"] * ALONE_AFTER + ["ExclusiveLock"]


async def test_lookups_answer_in_the_order_they_were_asked(db: PostgresDatabase) -> None:
    order: list[int] = []

    async def ask(n: int) -> None:
        # The first asks for a slow answer: a second connection would overtake it.
        await db.lookup("SELECT pg_sleep(?)", (0.05 if n == 0 else 0,))
        order.append(n)

    await asyncio.gather(*(ask(n) for n in range(5)))
    assert order == [0, 1, 2, 3, 4]


async def test_timestamps_days_and_json_come_back_as_the_text_sqlite_stores(
    db: PostgresDatabase,
) -> None:
    row = await db.read_one(
        "SELECT CAST(? AS timestamptz), CAST(? AS timestamptz), CAST(? AS date),"
        " CAST(? AS jsonb), CAST(? AS bigint) = 1",
        ("2026-03-10T09:00:00.000000+00:00", "2026-03-10T17:00:00.123400+08:00",
         "2026-03-10", '{"b": 1, "a": [1, 2]}', True),
    )  # fmt: skip
    assert row is not None
    assert row[0] == "2026-03-10T09:00:00.000000+00:00"
    assert row[1] == "2026-03-10T09:00:00.123400+00:00"
    assert row[2] == "2026-03-10"
    assert row[3] == '{"a": [1, 2], "b": 1}'
    assert row[4] is True


async def test_two_processes_starting_at_once_migrate_once(
    postgres_schemas: PostgresSchemas,
) -> None:
    schema = postgres_schemas.new()
    opened = await asyncio.gather(
        *(PostgresDatabase.open(postgres_schemas.dsn, pool_size=1, schema=schema) for _ in range(3))
    )
    try:
        versions = {await db.schema_version() for db in opened}
        rows = await opened[0].read("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == [version for version, _, _ in migrations()]
        assert versions == {migrations()[-1][0]}
    finally:
        for db in opened:
            await db.close()
        postgres_schemas.drop(schema)
