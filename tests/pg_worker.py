"""One process of the multi-process PostgreSQL tests (tests/test_postgres_processes.py).

`python -m tests.pg_worker DSN SCHEMA PRESET ACTION COUNT`: opens the store, prints "ready",
waits for a line on stdin (so every process starts at once), runs COUNT operations at the same
time and prints one JSON line: how many succeeded, and the refusals by code.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from typing import Any

import uvloop

from loyalty.loader import load_program
from storage import checkout, coupons, events
from storage.errors import OperationError
from storage.store import Store

EVENT = {
    "id": "evt-shared",
    "type": "member.email_verified",
    "occurred_at": "2026-03-10T09:00:00+00:00",
    "data": {"member_id": "m-1"},
}


def operation(store: Store, action: str, n: int) -> Any:
    """Return the n-th operation of `action` (each process's keys are its own)."""
    me = os.getpid()
    if action == "exchange":
        return coupons.exchange(store, "m-1", 500, "points", key=f"x-{me}-{n}")
    if action == "hold":
        return checkout.hold(store, f"h-{me}-{n}", "m-1", f"o-{me}-{n}", 1)
    if action == "release":
        return checkout.release(store, "h-shared")
    if action == "event":
        return events.apply_event(store, EVENT)
    raise SystemExit(f"unknown action {action}")


async def main(dsn: str, schema: str, preset: str, action: str, count: int) -> None:
    store = await Store.open_postgres(
        dsn, load_program({"preset": preset}), pool_size=5, schema=schema, durable=False
    )
    try:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        results = await asyncio.gather(
            *(operation(store, action, n) for n in range(count)), return_exceptions=True
        )
    finally:
        await store.close()
    refused = Counter(
        getattr(r, "code", type(r).__name__) for r in results if isinstance(r, BaseException)
    )
    unexpected = [
        repr(r)
        for r in results
        if isinstance(r, BaseException) and not isinstance(r, OperationError)
    ]
    answers = Counter(
        r.get("status", "ok") if isinstance(r, dict) else "ok"
        for r in results
        if not isinstance(r, BaseException)
    )
    print(json.dumps({"ok": sum(answers.values()), "answers": answers, "refused": refused,
                      "unexpected": unexpected[:3]}), flush=True)  # fmt: skip


if __name__ == "__main__":
    dsn, schema, preset, action, count = sys.argv[1:6]
    uvloop.run(main(dsn, schema, preset, action, int(count)))
