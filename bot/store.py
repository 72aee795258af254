"""The configured store: where the service, the CLI and the demo's config meet storage/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from bot.config import Config
from storage.store import Store


@asynccontextmanager
async def open_store(config: Config, *, create: bool = False) -> AsyncIterator[Store]:
    """Open the configured database; unless `create`, it must already exist."""
    path = Path(config.storage.path)
    if not create and not path.exists():  # noqa: ASYNC240 (one stat, before any I/O starts)
        raise OSError(f"database {path} does not exist; run `loyaltybot db migrate` first")
    store = await Store.open(
        path,
        config.program,
        synchronous=cast(Any, config.storage.synchronous),
        shop_platforms=config.connectors.coupon_platforms,
    )
    try:
        yield store
    finally:
        await store.close()
