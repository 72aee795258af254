"""The PostgreSQL store: the same surface as `storage.db.Database`, on a psycopg pool.

Write bodies are the same plain `def body(conn) -> T` functions with the same `?` statements as
on SQLite: `PgConn` translates each statement once (`storage.dialect`) and hands rows that read
by name and by index. Each `write` takes a pooled connection in a worker thread and runs the body
as one SERIALIZABLE transaction, run again from the start (a fresh snapshot) when PostgreSQL
reports a serialisation failure or a deadlock: why SERIALIZABLE and not row locks is in
docs/storage.md. Timestamps are `timestamptz` and days `date` in the schema, yet they come back
as the same text `storage.db.to_db` writes, so every operation reads them the same on both.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql as pg_sql
from psycopg.adapt import Buffer, Dumper, Loader
from psycopg.pq import Format
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from storage.dialect import make_row_factory, translate
from storage.errors import Invalid
from storage.logs import kv

log = logging.getLogger(__name__)
T = TypeVar("T")
Params = Sequence[Any] | dict[str, Any]

# Transactions that lost a serialisation race are run again; past this many tries (or this
# long) the failure goes to the caller like any other error.
MAX_ATTEMPTS = 200
MAX_RETRY_SECONDS = 30.0
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
# A transaction that lost this many races in a row runs alone: every write transaction holds
# one advisory lock shared, and a straggler takes it exclusively. Without it, a long
# transaction (an order's delivery: credit, level, notices) under many short ones could be
# picked as the pivot again and again: bench/web_workers.py saw one lose 200 times in 5.8 s
# (a 500 to the shop). PostgreSQL queues later shared requests behind the waiting exclusive
# one, so the straggler waits only for the transactions already running.
ALONE_AFTER = 5
_WRITE_LOCK = 0x6C6F79616C7478  # "loyaltx": the write transactions' lock
# One lock id for "a migration is running": two processes starting together migrate once.
_MIGRATION_LOCK = 0x6C6F79616C7479  # "loyalty"


class PgConn:
    """A psycopg connection speaking the storage modules' SQLite-style statements."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Params = (), /) -> psycopg.Cursor[Any]:
        """Run one statement (`?` or `:name` placeholders) and return its cursor."""
        try:
            return self._conn.execute(translate(sql), parameters)
        except psycopg.DataError as exc:
            raise _refusal(exc) from None

    def executemany(self, sql: str, parameters: Iterable[Params], /) -> psycopg.Cursor[Any]:
        """Run one statement for each parameter set (psycopg pipelines them)."""
        cursor = self._conn.cursor()
        cursor.executemany(translate(sql), parameters)
        return cursor

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Load rows into a table with COPY (`storage.copy`): ten times an INSERT's rate."""
        names = pg_sql.SQL(", ").join(pg_sql.Identifier(c) for c in columns)
        statement = pg_sql.SQL("COPY {} ({}) FROM STDIN").format(pg_sql.Identifier(table), names)
        with self._conn.cursor().copy(statement) as copy:
            for row in rows:
                copy.write_row(row)


class PostgresDatabase:
    """A pool of connections to one PostgreSQL database (or one schema of it)."""

    dialect = "postgresql"

    def __init__(
        self, pool: ConnectionPool[Any], quick: AsyncConnectionPool[Any], workers: int
    ) -> None:
        self._pool = pool
        self._quick = quick
        # One thread per pooled connection: a body holds its connection for its whole run.
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pg")
        self.retries = 0  # transactions run again after a serialisation failure (for tests)

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        pool_size: int = 10,
        schema: str | None = None,
        migrate: bool = True,
        durable: bool = True,
    ) -> PostgresDatabase:
        """Connect a pool of `pool_size` to `dsn` and bring the schema up to date.

        `schema` (created if missing) puts every table in that schema through `search_path`:
        the tests give each store its own. Without `durable` a COMMIT does not wait for the
        WAL to reach the disk (`synchronous_commit = off`: a crash may lose the last
        transactions, never half of one), like SQLite's synchronous = NORMAL.
        """

        session_sql = session_setup(schema, durable)

        def configure(conn: psycopg.Connection[Any]) -> None:
            register_types(conn)
            conn.execute(session_sql)

        async def configure_quick(conn: psycopg.AsyncConnection[Any]) -> None:
            register_types(conn)
            await conn.execute(session_sql)

        # One plain connection first: a wrong DSN or a server that is down fails here at once,
        # in words that never repeat the DSN (it may hold a password), not after the pool's
        # 10 s of retries.
        await asyncio.to_thread(_probe, dsn, schema)
        pool: ConnectionPool[Any] = ConnectionPool(
            dsn,
            min_size=pool_size,
            max_size=pool_size,
            kwargs={"autocommit": True, "row_factory": make_row_factory()},
            configure=configure,
            open=False,
            name="loyaltybot",
        )
        # `lookup`'s one connection, on the event loop: answers come back in the order they
        # were asked (see `lookup`).
        quick: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn,
            min_size=1,
            max_size=1,
            kwargs={"autocommit": True, "row_factory": make_row_factory()},
            configure=configure_quick,
            open=False,
            name="loyaltybot-lookup",
        )
        try:
            await asyncio.to_thread(pool.open, wait=True, timeout=10.0)
            await quick.open(wait=True, timeout=10.0)
        except BaseException:
            await asyncio.to_thread(pool.close)
            await quick.close()
            raise
        db = cls(pool, quick, pool_size)
        try:
            if migrate:
                await asyncio.to_thread(db._migrate)
        except BaseException:
            await db.close()
            raise
        return db

    async def close(self) -> None:
        """Close the pool (waiting for running transactions) and its threads."""
        await self._quick.close()
        await asyncio.to_thread(self._pool.close)
        self._threads.shutdown(wait=False)

    async def write(self, body: Callable[[PgConn], T]) -> T:
        """Run `body(conn)` as one SERIALIZABLE transaction in a worker thread; return its value.

        Like `Database.write`: a plain function, committed entirely or rolled back on any
        exception; a coroutine function is refused (TypeError, nothing written). A body may run
        more than once (a serialisation failure rolls it back and runs it again on a fresh
        snapshot), so it must do nothing but its statements.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._write, body)

    def _write(self, body: Callable[[PgConn], T]) -> T:
        started = time.monotonic()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with _checked_out(self._pool) as conn:
                    return _run_whole(conn, body, alone=attempt > ALONE_AFTER)
            except _RETRYABLE as exc:
                if attempt == MAX_ATTEMPTS or time.monotonic() - started > MAX_RETRY_SECONDS:
                    raise
                self.retries += 1
                log.debug(
                    "transaction retried",
                    extra=kv(event="db_retry", attempt=attempt, error=type(exc).__name__),
                )
                # Jittered, growing back-off: the losers of one race do not meet again at once.
                time.sleep(random.uniform(0, min(0.05, 0.0005 * 2 ** min(attempt, 7))))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def read(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one read-only query (its own snapshot) and return its rows."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, self._fetch, sql, params)

    async def read_one(self, sql: str, params: Params = ()) -> Any | None:
        """Run one read-only query and return its first row, or None."""
        rows = await self.read(sql, params)
        return rows[0] if rows else None

    async def lookup(self, sql: str, params: Params = ()) -> list[Any]:
        """Run one short read by key on the event loop's own connection; return its rows.

        One connection, asked in turn: answers come back in the order the reads were made,
        as SQLite's `lookup` (which answers at once) does. Handlers rely on it: two quick
        messages of one member reach the support lock, and so the agents, in order. No
        thread hop either, which is most of the cost of a read this short.
        """
        # getconn/putconn, not `async with connection()`: that also enters the connection's
        # own context, whose exit awaits a commit of nothing (autocommit): ~40 us a read.
        conn = await self._quick.getconn()
        try:
            cursor = await conn.execute(translate(sql), params)
            return await cursor.fetchall()
        except psycopg.DataError as exc:
            raise _refusal(exc) from None
        finally:
            await self._quick.putconn(conn)  # a connection left mid-query is replaced

    async def lookup_one(self, sql: str, params: Params = ()) -> Any | None:
        """Like `lookup`, returning the first row or None."""
        rows = await self.lookup(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        """Return the highest applied migration."""
        row = await self.read_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0

    def _fetch(self, sql: str, params: Params) -> list[Any]:
        with _checked_out(self._pool) as conn:
            try:
                return conn.execute(translate(sql), params).fetchall()
            except psycopg.DataError as exc:
                raise _refusal(exc) from None

    def _migrate(self) -> list[str]:
        with self._pool.connection() as conn:
            return apply_migrations(conn)


@contextlib.contextmanager
def _checked_out(pool: ConnectionPool[Any]) -> Iterator[psycopg.Connection[Any]]:
    """A connection of `pool` for one transaction or read, given back after.

    `pool.connection()` would also enter the connection's own context, whose exit commits (a
    no-op in autocommit, still ~20-40 us of waiting machinery a transaction). The bodies end
    their transactions themselves (`_run_whole`); one left open, or a broken connection, is
    rolled back or replaced by `putconn`.
    """
    conn = pool.getconn()
    try:
        yield conn
    finally:
        pool.putconn(conn)


def _refusal(exc: psycopg.DataError) -> Exception:
    """A value PostgreSQL cannot hold (text with NUL, which SQLite takes) is bad input."""
    if "NUL" in str(exc):
        return Invalid("text may not contain NUL (0x00) characters")
    return exc


def _run_whole(
    conn: psycopg.Connection[Any], body: Callable[[PgConn], T], *, alone: bool = False
) -> T:
    """Run `body` to completion as one SERIALIZABLE transaction on `conn` (`alone`: with no
    other write transaction running, see ALONE_AFTER)."""
    # One round trip: without parameters both statements go as one simple query.
    lock = "pg_advisory_xact_lock" if alone else "pg_advisory_xact_lock_shared"
    conn.execute(f"BEGIN ISOLATION LEVEL SERIALIZABLE; SELECT {lock}({_WRITE_LOCK})")
    try:
        result = body(PgConn(conn))
        if inspect.iscoroutine(result):
            result.close()  # an unstarted coroutine has done nothing
            raise TypeError(
                f"a write() body is a plain function, def body(conn) -> T; got {body!r},"
                " which returned a coroutine"
            )
        conn.execute("COMMIT")
        return result
    except BaseException:
        if not conn.closed:
            conn.execute("ROLLBACK")
        raise


def migrations() -> list[tuple[int, str, str]]:
    """Return the shipped PostgreSQL migrations as (version, name, sql), in order."""
    found = []
    for entry in resources.files("storage.migrations").joinpath("postgresql").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text("utf-8")))
    return sorted(found)


def apply_migrations(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply every migration newer than the database, each in its own transaction."""
    applied = []
    # Another process may be migrating the same database: one waits for the other.
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            with conn.transaction():
                conn.execute(sql.encode())  # no parameters: the script goes as it is
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                    (version, name),
                )
            applied.append(name)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


class _InstantLoader(Loader):
    """`timestamptz` as `to_db` text: '2026-03-10T09:00:00.000000+00:00' (session in UTC)."""

    def load(self, data: Buffer) -> str:
        text = bytes(data).decode()
        # PostgreSQL prints '2026-03-10 09:00:00.12+00', dropping trailing zeros of the
        # fraction (and the whole fraction when it is zero).
        if len(text) >= 22 and text.endswith("+00"):
            fraction = text[20:-3] if text[19] == "." else ""
            return f"{text[:10]}T{text[11:19]}.{fraction:0<6}+00:00"
        from datetime import UTC, datetime

        return datetime.fromisoformat(text).astimezone(UTC).isoformat(timespec="microseconds")


class _TextLoader(Loader):
    """A value as PostgreSQL prints it: `date` as '2026-03-10', `jsonb` as JSON text."""

    def load(self, data: Buffer) -> str:
        return bytes(data).decode()


class _NumericLoader(Loader):
    """`numeric` (what SUM of a bigint is) as an int when whole: money stays integer cents."""

    def load(self, data: Buffer) -> int | Decimal:
        raw = bytes(data)
        return Decimal(raw.decode()) if b"." in raw or b"N" in raw else int(raw)


class _BoolAsIntDumper(Dumper):
    """Python bools go to the integer flag columns as 0/1, the way SQLite stores them."""

    format = Format.TEXT

    def dump(self, obj: Any) -> Buffer:
        return b"1" if obj else b"0"


def _probe(dsn: str, schema: str | None) -> None:
    """Connect once (creating `schema` if given); OSError saying why, without the DSN."""
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.ProgrammingError:
        raise OSError("the PostgreSQL connection string is not valid") from None
    except psycopg.OperationalError as exc:
        reason = " ".join(line.strip() for line in str(exc).splitlines()) or type(exc).__name__
        raise OSError(f"cannot connect to PostgreSQL: {reason}") from None
    with conn:
        if schema is not None:
            # Another process may create it at the same moment: IF NOT EXISTS races.
            with contextlib.suppress(psycopg.errors.UniqueViolation):
                conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


def session_setup(schema: str | None, durable: bool) -> bytes:
    """Return what every new connection runs first: UTC, durability, the schema if any."""
    # Timestamps come back in UTC, so their text is `to_db`'s (see _InstantLoader).
    setup = "SET TIME ZONE 'UTC'"
    if not durable:
        setup += "; SET synchronous_commit TO off"
    if schema is not None:
        setup += f'; SET search_path TO "{schema}"'
    return setup.encode()


def register_types(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> None:
    """Load timestamps, dates and JSON as the text SQLite stores (see the loaders below)."""
    adapters = conn.adapters
    adapters.register_loader("timestamptz", _InstantLoader)
    for name in ("date", "json", "jsonb"):
        adapters.register_loader(name, _TextLoader)
    adapters.register_loader("numeric", _NumericLoader)
    int8 = adapters.types.get("int8")
    _BoolAsIntDumper.oid = int8.oid if int8 is not None else 0
    adapters.register_dumper(bool, _BoolAsIntDumper)
