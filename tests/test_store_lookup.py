"""Database.lookup: short reads by key on the event loop's own connection, same answers as read."""

from __future__ import annotations

import sqlite3

import pytest

from storage import members
from storage.grants import grant
from storage.store import Store
from tests.conftest import member

SQL = "SELECT member_id, points FROM members WHERE member_id = ?"


async def test_lookup_answers_as_read_does_and_sees_the_last_commit(store: Store) -> None:
    await member(store)
    assert [tuple(r) for r in await store.db.lookup(SQL, ("m-1",))] == [
        tuple(r) for r in await store.db.read(SQL, ("m-1",))
    ]
    await grant(store, "m-1", 700, reason="test", actor="test")
    row = await store.db.lookup_one(SQL, ("m-1",))
    assert row is not None and row["points"] == 700
    assert await store.db.lookup_one(SQL, ("nobody",)) is None
    assert (await members.view(store, "m-1")).points == 700


class Locked:
    """Stands in for the quick connection while another process holds a lock."""

    def __init__(self) -> None:
        self.calls = 0

    def execute(self, sql: str, params: object = ()) -> None:
        self.calls += 1
        error = sqlite3.OperationalError("database is locked")
        error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # type: ignore[attr-defined]
        raise error

    def close(self) -> None:
        pass


@pytest.mark.sqlite_only
async def test_a_locked_database_sends_the_lookup_to_the_reader_thread(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 42, reason="test", actor="test")
    # The quick connection never waits for a lock (busy timeout 0: the event loop must not
    # block); the read goes to the reader thread, which waits out the busy timeout.
    locked = Locked()
    store.db._quick = locked  # type: ignore[assignment]
    row = await store.db.lookup_one(SQL, ("m-1",))
    assert locked.calls == 1
    assert row is not None and row["points"] == 42


@pytest.mark.sqlite_only
async def test_other_errors_are_not_retried(store: Store) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        await store.db.lookup("SELECT * FROM no_such_table")
