"""Copy one store into another, empty one (SQLite to PostgreSQL or back), then compare them.

Every table both schemas have is copied, the columns both have, in batches: each batch is one
write transaction on the target, read from the source in key order (the first column, the
primary key of every table). Tables go parents first (`ORDER`, then any other table), so every
foreign key finds its row; a member's referrer, which may come later in key order, is filled in
by a second pass. PostgreSQL's identity counters are moved past the copied ids at the end.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from storage.db import AnyDatabase, Conn
from storage.errors import Conflict

BATCH = 1_000
# Parents before children; tables not named here (added later) come after, in name order.
ORDER = (
    "members", "telegram_users", "orders", "ledger", "coupons", "holds", "idempotency",
    "link_tokens", "telegram_links", "outbox", "tickets", "ticket_messages", "support_bans",
    "scheduler_runs", "refunds", "connector_customers", "shop_tasks", "sends",
)  # fmt: skip
_SKIP = {"schema_migrations"}
# Self-references filled in after every row is there: (table, key, column).
_LATER = {("members", "member_id", "referred_by")}
Progress = Callable[[int], None]


class NotEmpty(Conflict):
    """The target store already holds rows: copying would mix two shops."""


@dataclass
class Comparison:
    """What the comparison of two stores found: rows compared and every difference."""

    members: int = 0
    rows: int = 0
    differences: list[str] = field(default_factory=list)


async def tables(db: AnyDatabase) -> list[str]:
    """Return the store's tables, parents first."""
    if db.dialect == "postgresql":
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    names = {row[0] for row in await db.read(sql)} - _SKIP
    known = [t for t in ORDER if t in names]
    return known + sorted(names - set(known))


async def columns(db: AnyDatabase, table: str) -> list[str]:
    """Return a table's columns in their order."""
    if db.dialect == "postgresql":
        found = await db.read(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
        return [row[0] for row in found]
    return [row[1] for row in await db.read(f'PRAGMA table_info("{table}")')]


async def count(db: AnyDatabase, table: str) -> int:
    """Return how many rows a table holds."""
    row = await db.read_one(f'SELECT COUNT(*) FROM "{table}"')
    return int(row[0]) if row else 0


async def plan(source: AnyDatabase, target: AnyDatabase) -> list[tuple[str, list[str], int]]:
    """Return (table, shared columns, source rows) for each table both stores have.

    Raises NotEmpty when the target holds any row.
    """
    target_tables = await tables(target)
    for table in target_tables:
        if await count(target, table):
            raise NotEmpty(
                f"the target already has rows in {table}; copy only into an empty store",
                code="not_empty",
            )
    planned = []
    for table in await tables(source):
        if table not in target_tables:
            continue
        theirs = set(await columns(target, table))
        shared = [c for c in await columns(source, table) if c in theirs]
        planned.append((table, shared, await count(source, table)))
    return planned


async def copy(
    source: AnyDatabase,
    target: AnyDatabase,
    progress: Progress = lambda rows: None,
    *,
    batch: int = BATCH,
) -> int:
    """Copy every row of `source` into the empty `target`; return how many rows were copied."""
    copied = 0
    for table, shared, _ in await plan(source, target):
        later = [(key, col) for t, key, col in _LATER if t == table and col in shared]
        written = [c for c in shared if c not in {col for _, col in later}]
        async for rows in _batches(source, table, shared, batch):
            await target.write(_insert(table, shared, written, rows))
            copied += len(rows)
            progress(len(rows))
        for key, column in later:
            async for rows in _batches(source, table, [key, column], batch):
                filled = [(r[1], r[0]) for r in rows if r[1] is not None]
                await target.write(_update(table, key, column, filled))
    if target.dialect == "postgresql":
        await target.write(_move_identities)
    return copied


async def _batches(
    db: AnyDatabase, table: str, names: list[str], batch: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Yield a table's rows in key order (text in byte order, as SQLite sorts it), in batches."""
    cols = ", ".join(f'"{c}"' for c in names)
    key = f'"{names[0]}"'
    probe = await db.read_one(f'SELECT {key} FROM "{table}" LIMIT 1')
    if probe is None:
        return
    if db.dialect == "postgresql" and isinstance(probe[0], str):
        key += ' COLLATE "C"'  # PostgreSQL sorts text by the database's locale otherwise
    rows = list(await db.read(f'SELECT {cols} FROM "{table}" ORDER BY {key} LIMIT ?', (batch,)))
    while rows:
        yield [tuple(r) for r in rows]
        if len(rows) < batch:
            return
        rows = list(
            await db.read(
                f'SELECT {cols} FROM "{table}" WHERE {key} > ? ORDER BY {key} LIMIT ?',
                (rows[-1][0], batch),
            )
        )


def _insert(
    table: str, shared: list[str], written: list[str], rows: list[tuple[Any, ...]]
) -> Callable[[Conn], None]:
    keep = [shared.index(c) for c in written]
    sql = (
        f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in written)})'
        f" VALUES ({', '.join('?' for _ in written)})"
    )

    def insert(conn: Conn) -> None:
        values = [tuple(r[i] for i in keep) for r in rows]
        load = getattr(conn, "copy_rows", None)  # PostgreSQL's COPY, where there is one
        if load is not None:
            load(table, written, values)
        else:
            conn.executemany(sql, values)

    return insert


def _update(
    table: str, key: str, column: str, values: Iterable[tuple[Any, Any]]
) -> Callable[[Conn], None]:
    sql = f'UPDATE "{table}" SET "{column}" = ? WHERE "{key}" = ?'
    pairs = list(values)

    def update(conn: Conn) -> None:
        if pairs:
            conn.executemany(sql, pairs)

    return update


def _move_identities(conn: Conn) -> None:
    """Set each identity column's counter past the largest copied value."""
    found = conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in found:
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'),"
            f' COALESCE(MAX("{column}"), 0) + 1, false) FROM "{table}"'
        )


# What "equal" means for a shop moved over: every member's balances and level, their coupons
# and their ledger, row for row; and every table holds as many rows on both sides.
_COMPARED = (
    ("members", "member_id", "member_id, points, points_held, coins, level_code"),
    ("coupons", "code", "code, member_id, value_cents, paid_with, cost, status, expires_at"),
    (
        "ledger",
        "id",
        "id, member_id, currency, amount, balance_after, reason, ref, idem_key, created_at",
    ),
)


async def compare(
    source: AnyDatabase, target: AnyDatabase, *, batch: int = BATCH, limit: int = 20
) -> Comparison:
    """Compare two stores: members' balances and levels, coupons, ledgers, and table sizes."""
    result = Comparison()
    for table, key, cols in _COMPARED:
        names = [c.strip() for c in cols.split(",")]
        right = _batches(target, table, names, batch)
        # Both sides in the same key order and batch size: equal stores give equal batches.
        async for mine in _batches(source, table, names, batch):
            theirs: list[tuple[Any, ...]] = await anext(right, [])
            for a, b in zip_longest(mine, theirs):
                if a == b:
                    result.rows += 1
                    result.members += table == "members"
                elif len(result.differences) < limit:
                    shown = a if a is not None else b
                    result.differences.append(f"{table} {key}={shown[0]}: {a} != {b}")
        async for theirs in right:
            for b in theirs[: max(0, limit - len(result.differences))]:
                result.differences.append(f"{table} {key}={b[0]}: only in the copy")
    for table in set(await tables(source)) & set(await tables(target)):
        ours, other = await count(source, table), await count(target, table)
        if ours != other:
            result.differences.append(f"{table}: {ours} rows, {other} in the copy")
    return result
