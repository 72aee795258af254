"""Shared fixtures: real stores (SQLite files, PostgreSQL schemas), a manual clock, factories.

Every store fixture (`store`, `vip_store`, `make_store`, the bot's `bot_store`) runs on the
`backend` fixture: the storage, API and conversation suites (`BOTH_BACKENDS`) run once on
SQLite and once on PostgreSQL, each store in a fresh schema of its own; the rest on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import uvloop

from loyalty.clock import ManualClock
from loyalty.loader import load_program
from loyalty.program import Program
from storage.db import PRIVATE_MODE, Database
from storage.events import apply_event
from storage.store import Store
from tests.postgres_kit import PostgresSchemas, postgres_or_skip

# What a broken constraint raises, on either backend.
INTEGRITY_ERRORS = (sqlite3.IntegrityError, psycopg.IntegrityError)
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


# A migrated empty database, made once per test process: migrating a new file costs ~80 ms
# (every migration, each table and index), copying one ~1 ms, and the suite opens thousands.
_migrated: list[bytes] = []


async def _migrated_bytes() -> bytes:
    if not _migrated:
        with tempfile.TemporaryDirectory(prefix="lbt-template-") as folder:
            template = Path(folder) / "template.db"
            db = await Database.open(template, synchronous="NORMAL", checkpoints=False)
            await db.close()  # the last connection checkpoints: the file holds everything
            _migrated.append(template.read_bytes())
    return _migrated[0]


async def open_store(path: Path, program: Program, clock: ManualClock) -> Store:
    template = await _migrated_bytes()
    try:  # a new store starts as a copy of the migrated template; an existing one is reopened
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as file:
            file.write(template)
    return await Store.open(path, program, clock=clock, synchronous="NORMAL")


# The suites that run on both backends (paths under tests/); the issue asks for these three.
BOTH_BACKENDS = (
    "test_store_", "test_outbox.py", "test_reminder_planning.py", "test_day_start.py",
    "test_concurrency.py", "api/", "bot/",
)  # fmt: skip


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run tests of BOTH_BACKENDS on SQLite and PostgreSQL, every other store test on SQLite."""
    if "backend" not in metafunc.fixturenames:
        return
    where = Path(str(metafunc.definition.path)).relative_to(Path(__file__).parent).as_posix()
    both = where.startswith(BOTH_BACKENDS) and not metafunc.definition.get_closest_marker(
        "sqlite_only"
    )
    metafunc.parametrize("backend", ["sqlite", "postgresql"] if both else ["sqlite"], indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the test's fixtures open: "sqlite" or "postgresql"."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture(scope="session")
def postgres_schemas() -> Iterator[PostgresSchemas]:
    """Fresh PostgreSQL schemas for stores (skips, or fails under CI, without a server)."""
    schemas = PostgresSchemas(postgres_or_skip())
    yield schemas
    schemas.close()


class StoreOpener:
    """Opens stores of one backend for one test on the shared clock; closes them all after."""

    def __init__(self, backend: str, tmp_path: Path, clock: ManualClock, request: Any) -> None:
        self.backend, self.tmp_path, self.clock = backend, tmp_path, clock
        self._request = request
        self.opened: list[tuple[Store, str | None]] = []
        self._where: dict[int, Path | str] = {}  # id(store): its file, or its schema
        self._others: set[int] = set()  # second stores, which a test may have closed itself

    async def open(self, program: Program, name: str) -> Store:
        """Open a fresh, migrated store named `name` (a file, or a schema) for `program`."""
        if self.backend == "sqlite":
            path = self.tmp_path / f"{name}.db"
            s = await open_store(path, program, self.clock)
            self.opened.append((s, None))
            self._where[id(s)] = path
            return s
        schemas: PostgresSchemas = self._request.getfixturevalue("postgres_schemas")
        schema = schemas.new()
        s = await Store.open_postgres(
            schemas.dsn, program, clock=self.clock, pool_size=2, schema=schema, durable=False
        )
        self.opened.append((s, schema))
        self._where[id(s)] = schema
        return s

    async def another(self, store: Store) -> Store:
        """Open a second Store on `store`'s database, as a second process would."""
        where = self._where[id(store)]
        if isinstance(where, Path):
            s = await open_store(where, store.program, self.clock)
        else:
            dsn = self._request.getfixturevalue("postgres_schemas").dsn
            s = await Store.open_postgres(
                dsn, store.program, clock=self.clock, pool_size=2, schema=where, durable=False
            )
        self.opened.insert(0, (s, None))  # closed first; the first store gives the schema back
        self._others.add(id(s))
        return s

    async def close(self) -> None:
        for s, schema in self.opened:
            if id(s) in self._others:
                with contextlib.suppress(Exception):  # closed by the test already
                    await s.close()
                continue
            await s.close()
            if schema is not None:
                self._request.getfixturevalue("postgres_schemas").give_back(schema)


@pytest.fixture
async def stores(
    backend: str, tmp_path: Path, clock: ManualClock, request: pytest.FixtureRequest
) -> AsyncIterator[StoreOpener]:
    opener = StoreOpener(backend, tmp_path, clock, request)
    yield opener
    await opener.close()


@pytest.fixture
async def store(stores: StoreOpener) -> Store:
    return await stores.open(load_program({"preset": "marketplace"}), "loyalty")


@pytest.fixture
async def vip_store(stores: StoreOpener) -> Store:
    return await stores.open(load_program({"preset": "vip-shop"}), "vip")


StoreFactory = Callable[..., Awaitable[Store]]


@pytest.fixture
async def make_store(stores: StoreOpener) -> StoreFactory:
    """Open extra stores on the shared clock: `await make_store("vip-shop", timezone=...)`."""

    async def make(preset: str = "marketplace", **overrides: Any) -> Store:
        program = load_program({"preset": preset, **overrides})
        return await stores.open(program, f"store-{len(stores.opened)}")

    return make


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
        table: [tuple(r) for r in await rows(store, f"SELECT * FROM {table} ORDER BY 1")]
        for table in TABLES
        if table not in skip
    }
