"""The configured store: where the service, the CLI and the demo's config meet storage/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from bot.config import Config, StorageConfig, secret
from loyalty.clock import Clock, system_clock
from storage.db import AnyDatabase, Database
from storage.store import Store


def postgres_dsn(storage: StorageConfig) -> str:
    """Return the PostgreSQL connection string from the environment (ConfigError if unset)."""
    return secret(storage.dsn_env, "storage.dsn_env")


async def open_database(
    storage: StorageConfig, *, create: bool = False, migrate: bool = True
) -> AnyDatabase:
    """Open the configured database; a SQLite file must already exist unless `create`."""
    if storage.backend == "postgresql":
        from storage.postgres import PostgresDatabase

        return await PostgresDatabase.open(
            postgres_dsn(storage),
            pool_size=storage.pool_size,
            migrate=migrate,
            durable=storage.synchronous != "NORMAL",
        )
    path = Path(storage.path)
    if not create and not path.exists():  # noqa: ASYNC240 (one stat, before any I/O starts)
        raise OSError(f"database {path} does not exist; run `loyaltybot db migrate` first")
    return await Database.open(path, synchronous=cast(Any, storage.synchronous), migrate=migrate)


@asynccontextmanager
async def open_store(
    config: Config, *, create: bool = False, clock: Clock = system_clock
) -> AsyncIterator[Store]:
    """Open the configured database; unless `create`, a SQLite file must already exist."""
    store = Store(
        await open_database(config.storage, create=create),
        config.program,
        clock,
        shop_platforms=config.connectors.coupon_platforms,
    )
    try:
        yield store
    finally:
        await store.close()
