"""A write that fails reaches its caller once, and nothing is left behind for asyncio to log."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest

from storage.db import Database


async def test_a_failing_write_leaves_no_unretrieved_exception(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    db = await Database.open(tmp_path / "x.db", checkpoints=False)
    try:

        def refuse(conn: object) -> None:
            raise ValueError("refused")

        for _ in range(3):
            with pytest.raises(ValueError, match="refused"):
                await db.write(refuse)
        # Two at once: a group, one failing, one not.
        results = await asyncio.gather(
            db.write(refuse), db.write(lambda conn: 7), return_exceptions=True
        )
        assert isinstance(results[0], ValueError) and results[1] == 7
    finally:
        await db.close()
    gc.collect()
    await asyncio.sleep(0)
    assert [c.get("message") for c in reported] == []
