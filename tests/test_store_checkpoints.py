"""WAL checkpoints run on a connection of their own, not inside a member's COMMIT."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage import db as dbmod
from storage.db import Conn, Database


def in_main_file(path: Path) -> int:
    """Count the rows the database file itself holds, ignoring the WAL (immutable mode)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        tables = conn.execute("SELECT count(*) FROM sqlite_schema WHERE name = 't'").fetchone()
        if not tables[0]:
            return 0
        return int(conn.execute("SELECT count(*) FROM t").fetchone()[0])
    finally:
        conn.close()


async def test_the_background_round_copies_committed_writes_into_the_database_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "wal.db"
    db = await Database.open(path, synchronous="NORMAL", migrate=False, checkpoints=False)
    try:

        def fill(conn: Conn) -> None:
            conn.execute("CREATE TABLE t (n INTEGER)")
            conn.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(50)])

        await db.write(fill)
        assert in_main_file(path) == 0  # committed, but only in the WAL so far

        rounds: list[float] = []

        async def one_round(seconds: float) -> None:
            rounds.append(seconds)
            if len(rounds) > 1:
                raise asyncio.CancelledError

        checkpointer = await dbmod._connect(path, "NORMAL", 1_000)
        try:
            with pytest.raises(asyncio.CancelledError):
                await dbmod._checkpoint_loop(checkpointer, sleep=one_round)
        finally:
            await checkpointer.close()
        assert rounds == [dbmod.CHECKPOINT_SECONDS, dbmod.CHECKPOINT_SECONDS]
        assert in_main_file(path) == 50
    finally:
        await db.close()


async def test_the_writer_leaves_checkpoints_to_the_background_task(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db", synchronous="NORMAL")
    try:
        row = await (await db._writer.execute("PRAGMA wal_autocheckpoint")).fetchone()
        assert row is not None and row[0] == dbmod.AUTOCHECKPOINT_PAGES
        assert db._checkpoints is not None and not db._checkpoints.done()
        task = db._checkpoints
    finally:
        await db.close()
    assert task.cancelled()


async def test_without_the_task_sqlite_keeps_its_own_threshold(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "b.db", synchronous="NORMAL", checkpoints=False)
    try:
        row = await (await db._writer.execute("PRAGMA wal_autocheckpoint")).fetchone()
        assert row is not None and row[0] == 1000
        assert db._checkpoints is None
    finally:
        await db.close()


async def test_closing_right_after_opening_leaves_no_connection_behind(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    db = await Database.open(path, synchronous="NORMAL")
    await db.close()  # before the checkpoint task ever ran
    conn = sqlite3.connect(path, timeout=0)
    try:  # leaving WAL mode needs the database to itself
        assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    finally:
        conn.close()
