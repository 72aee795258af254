"""Shared fixtures: real SQLite stores in a temp dir, a manual clock, event factories."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvloop

from loyalty.clock import ManualClock
from loyalty.loader import load_program
from loyalty.program import Program
from storage.events import apply_event
from storage.store import Store

START = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async test on uvloop, the loop the product runs on (bot/cli.py)."""
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


async def open_store(path: Path, program: Program, clock: ManualClock) -> Store:
    return await Store.open(path, program, clock=clock, synchronous="NORMAL")


@pytest.fixture
async def store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "loyalty.db", load_program({"preset": "marketplace"}), clock)
    yield s
    await s.close()


@pytest.fixture
async def vip_store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Store]:
    s = await open_store(tmp_path / "vip.db", load_program({"preset": "vip-shop"}), clock)
    yield s
    await s.close()


StoreFactory = Callable[..., Awaitable[Store]]


@pytest.fixture
async def make_store(tmp_path: Path, clock: ManualClock) -> AsyncIterator[StoreFactory]:
    """Open extra stores on the shared clock: `await make_store("vip-shop", timezone=...)`."""
    opened: list[Store] = []

    async def make(preset: str = "marketplace", **overrides: Any) -> Store:
        program = load_program({"preset": preset, **overrides})
        s = await open_store(tmp_path / f"store-{len(opened)}.db", program, clock)
        opened.append(s)
        return s

    yield make
    for s in opened:
        await s.close()


async def rows(store: Store, sql: str, params: Any = ()) -> list[Any]:
    """Read rows through the store's reader connection."""
    return list(await store.db.read(sql, params))


async def scalar(store: Store, sql: str, params: Any = ()) -> Any:
    """Read one value through the store's reader connection."""
    row = await store.db.read_one(sql, params)
    assert row is not None
    return row[0]


def event_body(store: Store, type_: str, event_id: str | None = None, **data: Any) -> dict:
    """Build a shop event body dated now by the store's clock."""
    return {
        "id": event_id or f"evt-{next(_ids)}",
        "type": type_,
        "occurred_at": store.now().isoformat(),
        "data": data,
    }


async def send(store: Store, type_: str, event_id: str | None = None, **data: Any) -> dict:
    """Apply a shop event and return the answer."""
    return await apply_event(store, event_body(store, type_, event_id, **data))


async def member(store: Store, member_id: str = "m-1", **data: Any) -> str:
    """Register a member."""
    await send(store, "member.upserted", member_id=member_id, **data)
    return member_id


async def delivered_order(
    store: Store, member_id: str, amount_cents: int, order_id: str | None = None
) -> str:
    """Place and deliver an order; return its id."""
    order_id = order_id or f"o-{next(_ids)}"
    await send(store, "order.placed", order_id=order_id, member_id=member_id,
               amount_cents=amount_cents)  # fmt: skip
    await send(store, "order.delivered", order_id=order_id)
    return order_id


TABLES = (
    "members", "orders", "ledger", "coupons", "holds", "idempotency",
    "link_tokens", "telegram_links", "outbox",
)  # fmt: skip


async def snapshot(store: Store, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple]]:
    """Return every row of every table (but `skip`): compare two to prove nothing changed."""
    return {
        table: [tuple(r) for r in await rows(store, f"SELECT * FROM {table} ORDER BY rowid")]
        for table in TABLES
        if table not in skip
    }
