"""Idempotency keys: a repeated request returns the first answer and changes nothing."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from storage.db import Conn, to_db
from storage.errors import Conflict


def fingerprint(body: Any) -> str:
    """Return a stable hash of a request body (key order and spacing do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def recall(conn: Conn, key: str, print_: str) -> dict[str, Any] | None:
    """Return the stored answer for `key`, None if new; Conflict if it came with another body."""
    row = conn.execute(
        "SELECT fingerprint, response FROM idempotency WHERE key = ?", (key,)
    ).fetchone()
    if row is None:
        return None
    if row["fingerprint"] != print_:
        raise Conflict(
            f"{_what(key)} was already used with a different body",
            code="idempotency_conflict",
            key=key,
        )
    return json.loads(row["response"])


# How a conflict names the caller's own id (the key's prefix is internal).
_NAMES = {
    "event": "event id",
    "exchange": "exchange key",
    "goodwill": "goodwill coupon key",
    "grant": "grant key",
}


def _what(key: str) -> str:
    kind, _, own = key.partition(":")
    return f"{_NAMES[kind]} {own!r}" if kind in _NAMES and own else f"key {key!r}"


def remember(conn: Conn, key: str, print_: str, response: dict[str, Any], now: datetime) -> None:
    """Store the answer to `key` in the same transaction as the change it describes."""
    conn.execute(
        "INSERT INTO idempotency (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)",
        (key, print_, json.dumps(response, separators=(",", ":")), to_db(now)),
    )
