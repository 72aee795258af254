"""Several processes on one PostgreSQL database: the invariants hold across processes.

Each test starts 4 (or 2) worker processes (tests/pg_worker.py) on one schema, releases them
at once and counts what they did; then the store is checked from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from loyalty.loader import load_program
from storage import checkout, members
from storage.check import check
from storage.events import apply_event
from storage.grants import grant
from storage.store import Store
from tests.conftest import member, rows, send
from tests.pg_worker import EVENT
from tests.postgres_kit import PostgresSchemas

PROCESSES = 4
EACH = 50


@pytest.fixture
async def shared(postgres_schemas: PostgresSchemas) -> AsyncIterator[tuple[str, str]]:
    """A fresh schema the workers share: (dsn, schema)."""
    schema = postgres_schemas.new()
    yield postgres_schemas.dsn, schema
    postgres_schemas.give_back(schema)


async def open_here(dsn: str, schema: str, preset: str) -> Store:
    program = load_program({"preset": preset})
    return await Store.open_postgres(dsn, program, pool_size=2, schema=schema, durable=False)


async def run_workers(
    dsn: str, schema: str, preset: str, action: str, *, processes: int = PROCESSES
) -> list[dict[str, Any]]:
    """Start the workers, release them together, return each one's counts."""
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.pg_worker",
            dsn,
            schema,
            preset,
            action,
            str(EACH),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(processes)
    ]
    for worker in workers:
        assert worker.stdout is not None
        assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    results = []
    for worker in workers:
        out, _ = await asyncio.wait_for(worker.communicate(), 120)
        assert worker.returncode == 0
        results.append(json.loads(out.decode().strip().splitlines()[-1]))
    for result in results:
        assert result["unexpected"] == []
    return results


@pytest.mark.parametrize(
    ("points", "allowed", "reason"),
    [(1_000, 2, "insufficient"), (10_000, 3, "daily_limit")],
    ids=["the-balance-allows-two", "the-daily-limit-allows-three"],
)
async def test_concurrent_exchanges_from_four_processes_give_exactly_the_allowed_number(
    shared: tuple[str, str], points: int, allowed: int, reason: str
) -> None:
    dsn, schema = shared
    store = await open_here(dsn, schema, "marketplace")
    try:
        await member(store)
        await grant(store, "m-1", points, reason="test", actor="test")
        results = await run_workers(dsn, schema, "marketplace", "exchange")
        assert sum(r["ok"] for r in results) == allowed
        refused = sum(r["refused"].get(reason, 0) for r in results)
        assert refused + allowed == PROCESSES * EACH
        view = await members.view(store, "m-1")
        assert view.points == points - allowed * 500
        assert len(await rows(store, "SELECT code FROM coupons")) == allowed
        assert await check(store) == []
    finally:
        await store.close()


@contextlib.asynccontextmanager
async def vip_member(dsn: str, schema: str, points: int) -> AsyncIterator[Store]:
    """A vip-shop store where m-1 has `points` and may pay with them (e-mail verified)."""
    store = await open_here(dsn, schema, "vip-shop")
    try:
        await member(store)
        await send(store, "member.email_verified", member_id="m-1")  # 5 points, may pay
        await grant(store, "m-1", points - 5, reason="test", actor="test")
        yield store
    finally:
        await store.close()


async def test_concurrent_holds_from_four_processes_never_exceed_the_balance(
    shared: tuple[str, str],
) -> None:
    dsn, schema = shared
    async with vip_member(dsn, schema, 120) as store:
        results = await run_workers(dsn, schema, "vip-shop", "hold")
        assert sum(r["ok"] for r in results) == 120
        view = await members.view(store, "m-1")
        assert (view.points, view.points_held) == (0, 120)
        assert len(await checkout.open_holds(store, "m-1", limit=500)) == 120
        assert await check(store) == []


async def test_a_hold_released_from_two_processes_at_once_is_released_once(
    shared: tuple[str, str],
) -> None:
    dsn, schema = shared
    async with vip_member(dsn, schema, 10) as store:
        await checkout.hold(store, "h-shared", "m-1", "o-1", 4)
        results = await run_workers(dsn, schema, "vip-shop", "release", processes=2)
        assert sum(r["ok"] for r in results) == 2 * EACH  # every repeat answers "released"
        found = await rows(store, "SELECT amount FROM ledger WHERE reason = 'hold_release'")
        assert [r[0] for r in found] == [4]
        view = await members.view(store, "m-1")
        assert (view.points, view.points_held) == (10, 0)
        assert await check(store) == []


async def test_the_same_event_posted_to_two_processes_at_once_is_applied_once(
    shared: tuple[str, str],
) -> None:
    dsn, schema = shared
    store = await open_here(dsn, schema, "vip-shop")
    try:
        await member(store)
        results = await run_workers(dsn, schema, "vip-shop", "event", processes=2)
        answers = [r["answers"] for r in results]
        assert sum(a.get("processed", 0) for a in answers) == 1
        assert sum(a.get("duplicate", 0) for a in answers) == 2 * EACH - 1
        credits = await rows(store, "SELECT amount FROM ledger")
        assert [r[0] for r in credits] == [5]
        assert (await members.view(store, "m-1")).points == 5
        assert await check(store) == []
        # And once more from here: still a duplicate.
        again = await apply_event(store, EVENT)
        assert again["status"] == "duplicate"
    finally:
        await store.close()
