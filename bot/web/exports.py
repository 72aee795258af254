"""CSV exports for the console: every member, and the ledger of a date range, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable
from datetime import datetime

from starlette.responses import StreamingResponse

from storage import console
from storage.db import from_db
from storage.store import Store

Local = Callable[[datetime], str]
MEMBER_COLUMNS = (
    "member_id", "email", "name", "language", "level", "points", "points_held", "coins",
    "telegram_user_id", "telegram_username", "created_at",
)  # fmt: skip
LEDGER_COLUMNS = (
    "id", "created_at", "member_id", "currency", "amount", "balance_after", "reason", "ref",
    "actor", "note", "shortfall",
)  # fmt: skip
# A spreadsheet runs a cell that starts like a formula: text from members and operators is
# prefixed with an apostrophe then (OWASP's advice for CSV injection).
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def safe(value: object) -> object:
    """Return a cell value a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA):
        return "'" + value
    return value


def _lines(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows([safe(v) for v in row] for row in rows)
    return buffer.getvalue()


def _response(body: AsyncIterator[str], filename: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def members_csv(store: Store, local: Local) -> StreamingResponse:
    """Stream every member as CSV, in id order."""

    async def body() -> AsyncIterator[str]:
        yield _lines([MEMBER_COLUMNS])
        async for batch in console.members_batches(store):
            yield _lines(
                (f.member_id, f.email, f.name, f.language, f.level_code, f.points,
                 f.points_held, f.coins, f.telegram_user_id, f.username, local(f.created_at))
                for f in batch
            )  # fmt: skip

    return _response(body(), "members.csv")


def ledger_csv(
    store: Store, start: datetime, end: datetime, local: Local, filename: str
) -> StreamingResponse:
    """Stream the ledger rows created in [start, end) as CSV, in id order."""

    async def body() -> AsyncIterator[str]:
        yield _lines([LEDGER_COLUMNS])
        async for batch in console.ledger_batches(store, start, end):
            yield _lines(
                (r["id"], local(from_db(r["created_at"])), r["member_id"], r["currency"],
                 r["amount"], r["balance_after"], r["reason"], r["ref"], r["actor"], r["note"],
                 r["shortfall"])
                for r in batch
            )  # fmt: skip

    return _response(body(), filename)
