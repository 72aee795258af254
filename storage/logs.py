"""The one way a log call adds its fields: `log.info("day started", extra=kv(event=..., ...))`.

Kept in the lowest layer that logs, so `storage/`, `handlers/` and `bot/` share one helper
without an upward import; `bot/logs.py` formats the fields and sets up the handler. Fields carry
ids and counts only, never personal data (names, e-mails, message text).
"""

from __future__ import annotations

from typing import Any

FIELDS = "kv"  # the LogRecord attribute the fields travel in


def kv(**fields: Any) -> dict[str, Any]:
    """Return `extra` for a log call that adds `fields` to the line."""
    return {FIELDS: fields}
