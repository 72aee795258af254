"""The outbox: notices for members, written in the transaction of the change they announce."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from storage.db import Conn, to_db


def notify(
    conn: Conn,
    member_id: str,
    kind: str,
    dedupe_key: str,
    payload: dict[str, Any],
    now: datetime,
    *,
    due_at: datetime | None = None,
) -> None:
    """Queue a notice for a member who has linked Telegram; a repeated dedupe key is ignored."""
    conn.execute(
        "INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at)"
        " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS"
        " (SELECT 1 FROM telegram_links WHERE member_id = ?)"
        " ON CONFLICT (dedupe_key) DO NOTHING",
        (
            member_id,
            kind,
            dedupe_key,
            json.dumps(payload, separators=(",", ":")),
            to_db(due_at or now),
            to_db(now),
            member_id,
        ),
    )
