"""The SQLite connection pair: one serialised writer, one reader, WAL, and numbered migrations.

Also what both backends share: the `Conn` and `Row` a write body sees, the timestamp format and
the SQLite migrations. The PostgreSQL store with the same surface is `storage.postgres`;
the SQL rules that let one statement run on both are in docs/storage.md.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import sqlite3
import stat
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import aiosqlite

from storage.logs import kv

log = logging.getLogger(__name__)
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
# The one default (`[storage] synchronous` takes it too): every commit on disk before it answers.
DEFAULT_SYNCHRONOUS: Synchronous = "FULL"
Params = Sequence[Any] | dict[str, Any]
T = TypeVar("T")


class Row(Protocol):
    """A result row on either backend: by column name (`row["points"]`) or by index."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __len__(self) -> int: ...
    def __iter__(self) -> Iterator[Any]: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What a statement returns on either backend (sqlite3 and psycopg cursors both are one)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """What an operation's statements run on, as a `def body(conn: Conn) -> T` given to
    `write` sees it; storage helpers take it too. SQLite: the writer's `sqlite3.Connection`;
    PostgreSQL: `storage.postgres.PgConn` (same `?` statements, see docs/storage.md)."""

    def execute(self, sql: str, parameters: Params = ..., /) -> Any: ...
    def executemany(self, sql: str, parameters: Iterable[Params], /) -> Any: ...


def dialect_of(conn: Conn) -> str:
    """Return "sqlite" or "postgresql": the SQL `conn` speaks (for statements that differ)."""
    return getattr(conn, "dialect", "sqlite")


def pick(dialect: str, sqlite: str, postgresql: str) -> str:
    """Return the statement for `dialect` (a `dialect_of(conn)` or a database's `dialect`)."""
    return postgresql if dialect == "postgresql" else sqlite


# A list parameter is one JSON array (`json.dumps(ids)`), unpacked by the database: one
# statement (and one cached plan) whatever the list's length.
_IDS_IN = {
    "sqlite": "(SELECT value FROM json_each(?))",
    "postgresql": "(SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST(? AS jsonb)))",
}
_TEXTS_IN = {
    "sqlite": "(SELECT value FROM json_each(?))",
    "postgresql": "(SELECT value FROM jsonb_array_elements_text(CAST(? AS jsonb)))",
}


def ids_in(conn: Conn) -> str:
    """Return `(SELECT ...)` for `x IN ...` over one parameter: a JSON array of integers."""
    return _IDS_IN[dialect_of(conn)]


def texts_in(conn: Conn) -> str:
    """Return `(SELECT ...)` for `x IN ...` over one parameter: a JSON array of strings."""
    return _TEXTS_IN[dialect_of(conn)]


class AnyDatabase(Protocol):
    """The surface every store backend offers: `Database` (SQLite), `PostgresDatabase`."""

    dialect: str

    async def write(self, body: Callable[[Conn], T]) -> T: ...
    async def read(self, sql: str, params: Params = ()) -> Iterable[Row]: ...
    async def read_one(self, sql: str, params: Params = ()) -> Row | None: ...
    async def lookup(self, sql: str, params: Params = ()) -> list[Row]: ...
    async def lookup_one(self, sql: str, params: Params = ()) -> Row | None: ...
    async def schema_version(self) -> int: ...
    async def close(self) -> None: ...


def to_db(instant: datetime) -> str:
    """Format an aware datetime for storage: UTC, fixed width, so text order is time order."""
    if instant.tzinfo is None:
        raise ValueError("naive datetimes are not stored")
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    """Parse a stored timestamp back into an aware UTC datetime."""
    return datetime.fromisoformat(text)


def migrations() -> list[tuple[int, str, str]]:
    """Return the shipped migrations as (version, name, sql), in order."""
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text("utf-8")))
    return sorted(found)


def latest_migration(dialect: str) -> int:
    """Return the newest shipped migration's version for "sqlite" or "postgresql"."""
    if dialect == "postgresql":
        found = resources.files("storage.migrations").joinpath("postgresql").iterdir()
        return max(
            int(e.name[:4]) for e in found if e.name.endswith(".sql") and e.name[:4].isdigit()
        )
    return migrations()[-1][0]


class Database:
    """A writer connection, used by one transaction at a time, and a reader connection.

    SQLite allows one writer: every read-decide-write of the storage operations runs inside
    `write()`, which holds an asyncio lock (transactions of this process never interleave on
    the shared connection) and `BEGIN IMMEDIATE` (other processes wait on the busy timeout
    instead of racing), and runs the whole transaction in the writer's thread in one round
    trip.

    Short reads by key on the bot's hot path (`lookup`) run on a third, plain connection in
    the event loop's own thread: see `lookup`.
    """

    def __init__(
        self,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        quick: sqlite3.Connection | None = None,
    ) -> None:
        self.dialect = "sqlite"
        self._writer = writer
        self._reader = reader
        self._quick = quick
        self._lock = asyncio.Lock()
        self._pending: list[_Write] = []
        self._checkpoints: asyncio.Task[None] | None = None
        self._checkpointer: aiosqlite.Connection | None = None

    @classmethod
    async def open(
        cls,
        path: str | Path,
        *,
        synchronous: Synchronous = DEFAULT_SYNCHRONOUS,
        busy_timeout_ms: int = 10_000,
        migrate: bool = True,
        checkpoints: bool = True,
    ) -> Database:
        """Open (creating if needed) the database at `path` and bring its schema up to date.

        With `checkpoints`, the WAL is copied back into the database by a background task on
        its own connection (see `_checkpoint_loop`), not by whichever COMMIT crosses SQLite's
        threshold.
        """
        folder = Path(path).parent
        if not folder.is_dir():
            # Said here, not by SQLite: aiosqlite's thread answers a failed connect late, and
            # a process exiting on the error meets it on a closed loop (a stray traceback).
            raise sqlite3.OperationalError(
                f"unable to open database file: the directory {folder} does not exist"
            )
        create_private(path)
        writer = await _connect(path, synchronous, busy_timeout_ms)
        try:
            if migrate:
                await apply_migrations(writer)
            reader = await _connect(path, synchronous, busy_timeout_ms)
        except BaseException:
            await writer.close()
            raise
        db = cls(writer, reader, _connect_quick(path))
        if checkpoints:
            await writer.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")
            db._checkpointer = await _connect(path, synchronous, busy_timeout_ms)
            db._checkpoints = asyncio.create_task(_checkpoint_loop(db._checkpointer))
        return db

    async def close(self) -> None:
        """Close the connections (waiting for a running transaction to finish)."""
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
        if self._checkpointer is not None:
            # Closed here, not in the task: a task cancelled before it first ran never runs
            # its own cleanup, and the open connection would keep the database locked.
            await self._checkpointer.close()
        async with self._lock:
            if self._quick is not None:
                self._quick.close()
            await self._reader.close()
            await self._writer.close()

    async def write(self, body: Callable[[Conn], T]) -> T:
        """Run `body(conn)` as one IMMEDIATE transaction in the writer's thread; return its value.

        `body` is a plain function of the DB-API connection. One round trip to aiosqlite's
        thread instead of one per statement: each costs the event loop 100-250 us, and while
        the loop is busy a transaction held open across round trips keeps every other writer
        waiting. `body` runs outside the event loop, so it must not touch asyncio; a coroutine
        function is refused (TypeError, nothing written). Committed entirely, or rolled back on
        any exception.

        Group commit: writes that arrive while another is being committed wait for it, then
        go together, at most GROUP_MAX, in one transaction, each body inside a savepoint of
        its own (so each is still whole or not at all, and a failing one takes nothing of the
        others with it), with one COMMIT: one fsync for the group instead of one each. Under
        synchronous = FULL on a busy disk the fsync is what queued writes behind each other
        (bench/http_mixed.py); a write alone commits at once, as before. Every caller learns
        its outcome only after the COMMIT.
        """
        loop = asyncio.get_running_loop()
        mine = _Write(body, loop.create_future())
        self._pending.append(mine)
        try:
            async with self._lock:
                if mine in self._pending:  # else an earlier group took it along
                    await self._commit_group()
        except asyncio.CancelledError:
            if mine in self._pending:  # cancelled while waiting: it never runs
                self._pending.remove(mine)
            raise
        return await mine.outcome

    async def _commit_group(self) -> None:
        """Run the waiting writes (at most GROUP_MAX) as one group, under the lock."""
        group, self._pending = self._pending[:GROUP_MAX], self._pending[GROUP_MAX:]
        # The one private line: aiosqlite has no public "run this callable in the connection's
        # thread", so this uses the private call and attribute its own methods use. Pinned:
        # aiosqlite<0.23 in pyproject.toml; tests/test_store_write.py fails, saying what
        # changed, when a release moves them.
        job = asyncio.ensure_future(self._writer._execute(_run_group, self._writer._conn, group))
        # Outcomes are delivered by callback: should this caller be cancelled while the thread
        # runs the group, the others in it still get theirs.
        job.add_done_callback(lambda done: _deliver(group, done))
        # Wait without taking the outcome: a failure reaches each caller through its own
        # outcome (shield would raise it here too, and the leader's outcome future, never
        # awaited then, was logged as "exception never retrieved"). Like shield, a cancelled
        # caller stops waiting and the group runs on.
        await asyncio.wait([job])

    async def read(self, sql: str, params: Params = ()) -> Iterable[Row]:
        """Run one read-only query on the reader connection and return its rows."""
        return await self._reader.execute_fetchall(sql, params)

    async def read_one(self, sql: str, params: Params = ()) -> Row | None:
        """Run one read-only query and return its first row, or None."""
        rows = await self._reader.execute_fetchall(sql, params)
        return next(iter(rows), None)

    async def lookup(self, sql: str, params: Params = ()) -> list[Row]:
        """Run one short read by key at once, in the event loop's thread; return its rows.

        Only for reads that touch a few rows through an index (a profile, a member's view, a
        history page): each aiosqlite call is a round trip to its thread that costs the event
        loop 100-250 us, while such a read takes 15-50 us in SQLite itself. Anything that may
        scan belongs in `read()`, which never blocks the loop. In WAL mode a reader does not
        wait for the writer; should it meet a lock anyway (WAL recovery), the read goes to the
        reader thread, which waits out the busy timeout as `read()` does.
        """
        if self._quick is not None:
            try:
                return self._quick.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if getattr(exc, "sqlite_errorcode", 0) & 0xFF not in _BUSY:
                    raise
        return list(await self._reader.execute_fetchall(sql, params))

    async def lookup_one(self, sql: str, params: Params = ()) -> Row | None:
        """Like `lookup`, returning the first row or None."""
        rows = await self.lookup(sql, params)
        return rows[0] if rows else None

    async def schema_version(self) -> int:
        """Return the applied migration version."""
        row = await self.read_one("PRAGMA user_version")
        return int(row[0]) if row else 0


GROUP_MAX = 64  # writes committed together at most: the write lock is never held long


@dataclass
class _Write:
    body: Callable[[Conn], Any]
    outcome: asyncio.Future[Any]


def _run_group(conn: sqlite3.Connection, group: list[_Write]) -> list[tuple[bool, Any]]:
    """Run each body in a savepoint of its own, all in one transaction with one COMMIT.

    Returns (succeeded, value or exception) per body. A body that raises is rolled back to
    its savepoint alone; a failure of the transaction itself (the COMMIT) fails them all. A
    group of one, the usual case, needs no savepoint: its exception rolls back the whole.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if len(group) == 1:
            outcomes = [(True, _checked(group[0], group[0].body(conn)))]
        else:
            outcomes = [_in_savepoint(conn, write) for write in group]
        conn.commit()
        return outcomes
    except BaseException:
        conn.rollback()
        raise


def _in_savepoint(conn: Conn, write: _Write) -> tuple[bool, Any]:
    conn.execute("SAVEPOINT write")
    try:
        result = _checked(write, write.body(conn))
    except Exception as exc:  # this body's failure only: the group goes on
        conn.execute("ROLLBACK TO write")
        conn.execute("RELEASE write")
        return False, exc
    conn.execute("RELEASE write")
    return True, result


def _checked(write: _Write, result: Any) -> Any:
    """Return a body's value; TypeError for a coroutine (a body must be a plain function)."""
    if inspect.iscoroutine(result):
        result.close()  # an unstarted coroutine has done nothing
        raise TypeError(
            f"a write() body is a plain function, def body(conn) -> T; got {write.body!r},"
            " which returned a coroutine"
        )
    return result


def _deliver(group: list[_Write], job: asyncio.Future[list[tuple[bool, Any]]]) -> None:
    """Hand each write of a finished group its value or its exception."""
    if job.cancelled():
        failure: BaseException | None = asyncio.CancelledError()
    else:
        failure = job.exception()
    for n, write in enumerate(group):
        if write.outcome.done():
            continue
        if failure is not None:
            write.outcome.set_exception(failure)
            continue
        succeeded, value = job.result()[n]
        if succeeded:
            write.outcome.set_result(value)
        else:
            write.outcome.set_exception(value)


# The database holds e-mails, names, spendable coupon codes and support transcripts: owner only.
PRIVATE_MODE = 0o600
SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _is_file(path: str | Path) -> bool:
    return str(path) != ":memory:" and not str(path).startswith("file:")


def create_private(path: str | Path) -> None:
    """Create the database file 0600 if it does not exist yet.

    SQLite creates the -wal and -shm files with the database file's permissions, so they
    follow; an existing file keeps its mode (`loose_files` reports it).
    """
    if not _is_file(path):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def loose_files(path: str | Path) -> list[str]:
    """Return one line per database file (and its -wal, -shm, -journal) others may read."""
    if not _is_file(path):
        return []
    found = []
    for suffix in SIDE_FILES:
        name = f"{path}{suffix}"
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{name} is mode {mode:04o}, readable beyond its owner: chmod 600 it")
    return found


async def _connect(
    path: str | Path, synchronous: str, busy_timeout_ms: int
) -> aiosqlite.Connection:
    # isolation_level=None: the driver never opens transactions behind our back; we BEGIN.
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        await conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute(f"PRAGMA synchronous = {synchronous}")
        await conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        # "file is not a database": without the close, the connection's thread would keep the
        # process alive after the error was reported.
        await conn.close()
        raise
    return conn


_BUSY = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}

# SQLite checkpoints the WAL inside the COMMIT that crosses 1,000 pages: that write then takes
# tens of milliseconds more while holding the write lock. A PASSIVE checkpoint every second on
# a connection of its own (a thread of its own) keeps the WAL small without blocking writers or
# readers; the raised threshold remains a safety net should the task fall behind.
CHECKPOINT_SECONDS = 1.0
AUTOCHECKPOINT_PAGES = 10_000


async def _checkpoint_loop(
    conn: aiosqlite.Connection, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
) -> None:
    """Checkpoint the WAL on `conn` every second until cancelled (the caller closes `conn`)."""
    while True:
        await sleep(CHECKPOINT_SECONDS)
        try:
            await conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # a busy moment: the next round catches up
            log.warning("checkpoint failed", extra=kv(event="checkpoint_failed", error=str(exc)))


def _connect_quick(path: str | Path) -> sqlite3.Connection | None:
    """Open the connection `lookup` uses: read-only, never waiting for a lock."""
    if str(path) == ":memory:" or str(path).startswith("file:"):
        return None  # another connection would not see the same database
    # timeout=0: a lock means "ask the reader thread instead", never a wait on the loop.
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only = ON")
    return conn


async def apply_migrations(conn: aiosqlite.Connection) -> list[str]:
    """Apply every migration newer than the database, each in its own transaction."""
    applied = []
    for version, name, sql in migrations():
        await conn.execute("BEGIN IMMEDIATE")
        try:
            rows = await conn.execute_fetchall("PRAGMA user_version")
            current = next(iter(rows))[0]
            if version <= current:
                await conn.rollback()
                continue
            # executescript would COMMIT first; run the statements one by one instead.
            for statement in _statements(sql):
                await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {version}")
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (sqlite3 knows where each ends)."""
    statements, current = [], ""
    for line in sql.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    if current.strip() and not current.strip().startswith("--"):
        statements.append(current.strip())
    return [s for s in statements if s]
