"""Telegram's refusals and failures, counted by kind for /metrics (one count per process).

Counted where the product meets them: a handler that failed (handlers.errors.on_error), a
notice that could not be sent (bot.jobs), a failed poll for updates (bot.service).
"""

from __future__ import annotations

from collections import Counter

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

# Most specific first: TimedOut, BadRequest and Forbidden are NetworkErrors too.
KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (RetryAfter, "retry_after"),
    (Forbidden, "forbidden"),
    (InvalidToken, "unauthorized"),
    (Conflict, "conflict"),
    (ChatMigrated, "chat_migrated"),
    (EndPointNotFound, "not_found"),
    (BadRequest, "bad_request"),
    (TimedOut, "timeout"),
    (NetworkError, "network"),
)
_counts: Counter[str] = Counter()


def kind_of(error: BaseException) -> str:
    """Return the kind of a Telegram error ("forbidden", "retry_after"...), else "other"."""
    return next((kind for type_, kind in KINDS if isinstance(error, type_)), "other")


def count(error: BaseException) -> str:
    """Count one Telegram error; return its kind."""
    kind = kind_of(error)
    _counts[kind] += 1
    return kind


def counts() -> dict[str, int]:
    """Return the errors counted so far, by kind."""
    return dict(_counts)
