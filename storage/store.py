"""The store: the database, the programme and the clock that every operation needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from loyalty.clock import Clock, system_clock
from loyalty.program import Program
from storage.db import DEFAULT_SYNCHRONOUS, AnyDatabase, Database, Synchronous


@dataclass
class Store:
    """What each operation runs against; operations are the functions in the storage modules."""

    db: AnyDatabase
    program: Program
    clock: Clock = system_clock
    # The connected shop platforms that take coupons ("woocommerce", "shopify"): a coupon for
    # one of their customers is created there too (storage.shop_tasks).
    shop_platforms: frozenset[str] = frozenset()

    @classmethod
    async def open(
        cls,
        path: str | Path,
        program: Program,
        *,
        clock: Clock = system_clock,
        synchronous: Synchronous = DEFAULT_SYNCHRONOUS,
        shop_platforms: frozenset[str] = frozenset(),
    ) -> Store:
        """Open the SQLite database at `path` (migrating it) for `program`."""
        db = await Database.open(path, synchronous=synchronous)
        return cls(db, program, clock, shop_platforms)

    @classmethod
    async def open_postgres(
        cls,
        dsn: str,
        program: Program,
        *,
        clock: Clock = system_clock,
        pool_size: int = 10,
        schema: str | None = None,
        durable: bool = True,
        shop_platforms: frozenset[str] = frozenset(),
    ) -> Store:
        """Open the PostgreSQL database at `dsn` (migrating it) for `program`."""
        from storage.postgres import PostgresDatabase  # psycopg only where it is used

        db = await PostgresDatabase.open(dsn, pool_size=pool_size, schema=schema, durable=durable)
        return cls(db, program, clock, shop_platforms)

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()

    def now(self) -> datetime:
        """Return the injected clock's current instant."""
        return self.clock()
