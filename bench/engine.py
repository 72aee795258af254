"""Engine benchmark: the storage operations against a floor of the same SQL written raw.

Builds a store of (by default) 100,000 members and 1,000,000 ledger rows directly in SQLite,
with the real schema (the shipped migrations) and consistent data (cached balances equal the
ledger sums, `storage.check.check` passes), then measures in the same run, against the same
file:

    apply-event   storage.events.apply_event(order.delivered) of a pre-placed order
    exchange      storage.coupons.exchange (a $5 coupon for points)
    claim         storage.daily.claim (the daily check-in)
    lookup        storage.members.view (the member lookup: Database.lookup, one read in the
                  event loop's thread)

Each is paired with its floor: the same transaction shape (the same SQL statements in the same
order, BEGIN IMMEDIATE ... COMMIT) issued directly on an aiosqlite connection opened with the
same pragmas, with no engine code and the least Python that can produce the same rows. Before
measuring, both sides of each pair are traced (`set_trace_callback`) and their statement
sequences compared, so the floor cannot drift from what the engine issues.

The two sides run in alternating chunks (A B, B A, ...) so machine noise hits both alike.

    python bench/engine.py \
        --members 100000 --ledger-rows 1000000 --ops 3000 --json engine-bench.json
"""

from __future__ import annotations

import argparse
import bisect
import gc
import hashlib
import json
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

# Import the packages of this checkout, not whichever one the virtualenv was installed from.
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiosqlite  # noqa: E402
import uvloop  # noqa: E402

from loyalty.calendar import day_start  # noqa: E402
from loyalty.clock import ManualClock  # noqa: E402
from loyalty.coupons import coupon_expiry  # noqa: E402
from loyalty.earning import coins_for_streak_day, order_points  # noqa: E402
from loyalty.levels import Standing, tier_for  # noqa: E402
from loyalty.loader import load_program  # noqa: E402
from loyalty.program import Program  # noqa: E402
from storage import coupons, daily, members  # noqa: E402
from storage.check import check  # noqa: E402
from storage.db import Database  # noqa: E402
from storage.events import apply_event  # noqa: E402
from storage.store import Store  # noqa: E402

# The benchmark's "now": history lies in the two years before it, the operations run on it.
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
HISTORY_DAYS = 730
END_OF_DAY = dt_time(23, 59, 59)  # coupons live until the last second of their last day
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def ts(instant: datetime) -> str:
    """Format like storage.db.to_db (UTC, microseconds, fixed width)."""
    return instant.astimezone(UTC).isoformat(timespec="microseconds")


# --------------------------------------------------------------------------------------------
# Building the store
# --------------------------------------------------------------------------------------------


@dataclass
class Built:
    """What the build made and how long it took."""

    members: int = 0
    ledger_rows: int = 0
    orders_delivered: int = 0
    orders_placed: int = 0
    coupons: int = 0
    idempotency: int = 0
    telegram_links: int = 0
    seconds: float = 0.0
    file_mb: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def remove_database(path: Path) -> None:
    """Delete the database file and its WAL companions, if any."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


async def build(
    path: Path, program: Program, n_members: int, n_ledger: int, n_placed: int, seed: int
) -> Built:
    """Create the database at `path`: the real schema, then consistent bulk data."""
    remove_database(path)
    started = time.perf_counter()
    # The schema comes from the shipped migrations, applied the way the product applies them.
    db = await Database.open(path)
    await db.close()
    built = load(path, program, n_members, n_ledger, n_placed, seed)
    built.timings = {"schema": time.perf_counter() - started - built.seconds, **built.timings}
    built.seconds = time.perf_counter() - started
    return built


def load(
    path: Path, program: Program, n_members: int, n_ledger: int, n_placed: int, seed: int
) -> Built:
    """Fill the empty schema at `path` in one transaction, as fast as SQLite takes rows."""
    started = time.perf_counter()
    built = Built()
    conn = sqlite3.connect(path, isolation_level=None)
    # Build-only settings: a big cache, no journal, no fsync. Every connection the measurement
    # opens sets the product's own pragmas again (WAL is persistent and restored below).
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -1000000")
    # Secondary indexes are dropped for the load and created again from their own SQL (the
    # migration's text, as stored in sqlite_master): one sort each instead of 1M random inserts.
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    ).fetchall()
    conn.execute("BEGIN")
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    t0 = time.perf_counter()
    history = _History(program, n_members, seed, conn)
    history.play(n_ledger, n_placed, built)
    built.timings["history"] = time.perf_counter() - t0
    built.timings["of which INSERTs"] = history.inserting
    t0 = time.perf_counter()
    for sql in _IDEMPOTENCY_SQL:
        conn.execute(sql)
    built.idempotency = conn.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0]
    built.timings["idempotency records"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, sql in indexes:
        conn.execute(sql)
    built.timings["indexes"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    conn.execute("COMMIT")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.close()
    built.timings["commit"] = time.perf_counter() - t0
    built.seconds = time.perf_counter() - started
    built.file_mb = path.stat().st_size / 1e6
    return built


class _History:
    """Two years of a shop's programme, played day by day; ledger ids follow time.

    Per member it keeps the running balances, streak, coupon count and level standing, so the
    rows it writes are consistent with one another and with the cached columns of `members`.
    Each member opens with one row, the balance carried over from the shop's previous programme
    (an operator grant), then checks in, orders and exchanges coupons; early members are the
    regulars. Referral bonuses and returns are not simulated.
    """

    def __init__(
        self, program: Program, n_members: int, seed: int, conn: sqlite3.Connection
    ) -> None:
        self.program, self.conn, self.inserting = program, conn, 0.0
        self.rng = random.Random(seed)
        self.n = n_members
        self.first_day = NOW.astimezone(program.timezone).date() - timedelta(days=HISTORY_DAYS)
        window = program.levels.window_days
        self.since = ts(NOW - timedelta(days=window)) if window else ""
        self.now_s = ts(NOW)
        # Members join over the first 700 days; member i joins on created_day[i] (sorted).
        self.created_day = sorted(self.rng.randrange(HISTORY_DAYS - 30) for _ in range(n_members))
        self.ids = [f"m{i:07d}" for i in range(n_members)]
        self.points = [0] * n_members
        self.coins = [0] * n_members
        self.streak = [0] * n_members
        self.last_claim = [-2] * n_members  # day index of the last check-in
        self.last_purchase = [-2] * n_members  # day index of the last daily-purchase credit
        self.coupon_day = [-1] * n_members
        self.coupon_count = [0] * n_members
        self.window_points = [0] * n_members
        self.window_spend = [0] * n_members
        self.best_order = [0] * n_members
        self.ledger: list[tuple[Any, ...]] = []
        self.orders: list[tuple[Any, ...]] = []
        self.coupons: list[tuple[Any, ...]] = []
        self.codes: set[str] = set()
        self.options = sorted(program.coupons.options, key=lambda o: o.value_cents)
        self.ledger_id = self.n_orders = self.n_exchanges = 0
        self.day_texts = [
            (self.first_day + timedelta(days=d)).isoformat() for d in range(HISTORY_DAYS + 1)
        ]

    def post(
        self, i: int, currency: str, amount: int, reason: str, at: str,
        ref: str | None = None, idem_key: str | None = None, level: int = 0,
        actor: str | None = None, note: str | None = None,
    ) -> int:  # fmt: skip
        self.ledger_id += 1
        if currency == "points":
            self.points[i] += amount
            balance = self.points[i]
        else:
            self.coins[i] += amount
            balance = self.coins[i]
        if level and at >= self.since:
            self.window_points[i] += level
        self.ledger.append(
            (self.ledger_id, self.ids[i], currency, amount, balance, reason, ref, idem_key,
             level, at, 0, actor, note, at)
        )  # fmt: skip
        return self.ledger_id

    def claim(self, i: int, d: int, day: str, at: str) -> None:
        streak = self.streak[i] + 1 if self.last_claim[i] == d - 1 else 1
        self.streak[i], self.last_claim[i] = streak, d
        key = f"daily:{self.ids[i]}:{day}"
        coins = coins_for_streak_day(self.program, streak)
        if coins:
            self.post(i, "coins", coins, "daily_coins", at, idem_key=key + ":coins")
        if points := self.program.earning.daily_checkin_points:
            self.post(i, "points", points, "daily_checkin", at, idem_key=key + ":points",
                      level=points)  # fmt: skip

    def order(self, i: int, d: int, day: str, at: str, one_row: bool = False) -> None:
        rng, earning, mid = self.rng, self.program.earning, self.ids[i]
        self.n_orders += 1
        oid = f"o{self.n_orders:08d}"
        amount = min(500_000, max(300, int(rng.lognormvariate(8.0, 1.0))))  # median ~$30
        if rng.random() < 0.05 and not one_row:
            amount = rng.randint(100, 200)  # too small to earn anything
        placed = f"{self.day_text(d - rng.randint(1, 5))}T12:00:00.000000+00:00"
        self.orders.append((oid, mid, amount, "delivered", 1, 0, placed, at, at))
        if points := order_points(self.program, amount):
            self.post(i, "points", points, "order", at, oid, f"order:{oid}", points)
        bonus = earning.daily_purchase_points
        if (
            bonus and amount > earning.order_min_cents
            and self.last_purchase[i] != d and not one_row
        ):  # fmt: skip
            self.last_purchase[i] = d
            self.post(i, "points", bonus, "daily_purchase", at, oid,
                      f"daily_purchase:{mid}:{day}", bonus)  # fmt: skip
        if at >= self.since:
            self.window_spend[i] += amount
        self.best_order[i] = max(self.best_order[i], amount)

    def exchange(self, i: int, d: int, day: str, at: str, instant: datetime) -> bool:
        rng, limit = self.rng, self.program.coupons.daily_limit
        if self.coupon_day[i] == d and self.coupon_count[i] >= limit:
            return False
        affordable = [
            (o, c)
            for o in self.options
            for c in ("points", "coins")
            if 0 < o.cost(c) <= (self.points[i] if c == "points" else self.coins[i])
        ]
        if not affordable:
            return False
        option, currency = rng.choice(affordable)
        cost = option.cost(currency)
        code = ""
        while not code or code in self.codes:
            code = "-".join("".join(rng.choices(CODE_ALPHABET, k=4)) for _ in range(3))
        self.codes.add(code)
        ledger_id = self.post(i, currency, -cost, "coupon", at, ref=code)
        if self.coupon_day[i] != d:
            self.coupon_day[i], self.coupon_count[i] = d, 0
        self.coupon_count[i] += 1
        expiry = coupon_expiry(self.program, instant)
        expires = ts(expiry.expires_at)
        used_at = ts(instant + timedelta(days=2)) if rng.random() < 0.5 else None
        if used_at and used_at < self.now_s:
            status = "used"
        elif expires < self.now_s:
            status, used_at = ("burned" if expiry.burns else "expired"), None
        else:
            status, used_at = "active", None
        self.coupons.append(
            (code, self.ids[i], option.value_cents, currency, cost, ledger_id, status, at, day,
             expires, int(expiry.burns), used_at, "o-shop" if used_at else None)
        )  # fmt: skip
        self.n_exchanges += 1
        return True

    def day_text(self, d: int) -> str:
        return self.day_texts[d]

    def insert(self, table: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            started = time.perf_counter()
            columns = _COLUMNS[table]
            marks = ", ".join("?" * len(columns))
            self.conn.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
            )
            self.inserting += time.perf_counter() - started

    def play(self, n_ledger: int, n_placed: int, built: Built) -> None:
        """Write the history (exactly `n_ledger` ledger rows) and `n_placed` open orders."""
        rng, total, joined = self.rng, 0, 0
        # Day 0 .. HISTORY_DAYS-1 are history; today (NOW's day) is left to the benchmark.
        for d in range(1, HISTORY_DAYS):
            day = self.day_text(d)
            start = day_start(self.program, self.first_day + timedelta(days=d))
            start_us = int(start.timestamp()) * 1_000_000
            target = n_ledger * d // (HISTORY_DAYS - 1)
            active = bisect.bisect_left(self.created_day, d)  # joined before today
            for i in range(joined, min(active, joined + target - total)):
                carried = min(20_000, int(rng.lognormvariate(7.3, 0.8)))  # median ~1500
                self.post(i, "points", carried, "grant", ts(start), actor="migration",
                          note="balance carried over from the previous programme")  # fmt: skip
                total += 1
                joined = i + 1
            step = 86_400_000_000 // (target - total + 2)
            j = 0
            while total < target and joined:
                j += 1
                at_us = start_us + j * step
                at = _us_text(at_us)
                i = int(joined * rng.random() ** 1.6)  # early members are the regulars
                r = rng.random()
                before = self.ledger_id
                if target - total == 1:  # exactly one row left: a one-row activity
                    instant = start + timedelta(microseconds=j * step)
                    if not self.exchange(i, d, day, at, instant):
                        self.order(i, d, day, at, one_row=True)
                elif r < 0.45 and self.last_claim[i] != d:
                    self.claim(i, d, day, at)
                elif r < 0.80 or not self.exchange(
                    i, d, day, at, start + timedelta(microseconds=j * step)
                ):
                    self.order(i, d, day, at)
                total += self.ledger_id - before
            if len(self.ledger) >= 50_000:
                self.insert("ledger", self.ledger)
                self.ledger = []
        self.insert("ledger", self.ledger)
        # Orders placed yesterday and not delivered yet: apply-event delivers them.
        placed_at = ts(NOW - timedelta(days=1))
        for k in range(n_placed):
            i = rng.randrange(self.n)
            oid, mid = f"p{k:08d}", self.ids[i]
            self.orders.append(
                (oid, mid, rng.randint(1_000, 20_000), "placed", 0, 0, placed_at, None, placed_at)
            )
        # Members last: balances, streaks and levels are where the history left them.
        members, links = [], []
        for i, mid in enumerate(self.ids):
            created = ts(day_start(self.program, self.first_day + timedelta(self.created_day[i])))
            verified = int(rng.random() < 0.5)
            referrer = self.ids[rng.randrange(i)] if i and rng.random() < 0.1 else None
            standing = Standing(
                points=self.window_points[i],
                spend_cents=self.window_spend[i],
                email_verified=bool(verified),
                best_delivered_order_cents=self.best_order[i],
            )
            level = tier_for(self.program, standing).code
            last = self.day_text(self.last_claim[i]) if self.last_claim[i] >= 0 else None
            members.append(
                (mid, f"{mid}@example.com", f"Member {i}", rng.choice(("en", "ru")), verified,
                 referrer, self.points[i], 0, self.coins[i], level, self.streak[i], last,
                 created, created)
            )  # fmt: skip
            if rng.random() < 0.6:  # linked Telegram: their notices go to the outbox
                links.append((mid, 1_000_000_000 + i, created))
        self.insert("members", members)
        self.insert("telegram_links", links)
        self.insert("orders", self.orders)
        self.insert("coupons", self.coupons)
        built.members, built.ledger_rows = self.n, total
        built.orders_delivered, built.orders_placed = self.n_orders, n_placed
        built.coupons, built.telegram_links = self.n_exchanges, len(links)


# The columns the history fills, in its tuples' order; later columns keep their defaults.
_COLUMNS = {
    "ledger": (
        "id", "member_id", "currency", "amount", "balance_after", "reason", "ref", "idem_key",
        "level_points", "counted_at", "shortfall", "actor", "note", "created_at",
    ),
    "orders": (
        "order_id", "member_id", "amount_cents", "status", "paid", "reviewed", "placed_at",
        "delivered_at", "updated_at",
    ),
    "coupons": (
        "code", "member_id", "value_cents", "paid_with", "cost", "ledger_id", "status",
        "issued_at", "issued_day", "expires_at", "burns", "used_at", "order_id",
    ),
    "members": (
        "member_id", "email", "name", "language", "email_verified", "referred_by", "points",
        "points_held", "coins", "level_code", "coin_streak", "last_claim_day", "created_at",
        "updated_at",
    ),
    "telegram_links": ("member_id", "telegram_user_id", "linked_at"),
}  # fmt: skip

# Every event and exchange the history contains has its idempotency record, as in production
# (nothing prunes that table): made in SQL from the rows above, the fingerprint a random
# 64-hex-digit stand-in for the hash of the request body.
_IDEMPOTENCY_SQL = (
    """INSERT INTO idempotency SELECT 'event:shop-' || order_id || '-p', lower(hex(randomblob(32))),
        json_object('status', 'processed', 'event_id', 'shop-' || order_id || '-p',
            'type', 'order.placed', 'order_id', order_id, 'member_id', member_id,
            'changed', json('true')), placed_at
        FROM orders""",
    """INSERT INTO idempotency SELECT 'event:shop-' || order_id || '-d', lower(hex(randomblob(32))),
        json_object('status', 'processed', 'event_id', 'shop-' || order_id || '-d',
            'type', 'order.delivered', 'order_id', order_id, 'member_id', member_id,
            'credited', json_array(json_object('member_id', member_id,
                'points', amount_cents / 100, 'reason', 'order')),
            'order_status', 'delivered', 'changed', json('true'), 'level_changes', json('[]')),
        delivered_at
        FROM orders WHERE status = 'delivered'""",
    """INSERT INTO idempotency SELECT 'exchange:tg-' || c.code, lower(hex(randomblob(32))),
        json_object('coupon', json_object('code', c.code, 'member_id', c.member_id,
                'value_cents', c.value_cents, 'paid_with', c.paid_with, 'cost', c.cost,
                'status', 'active', 'issued_at', c.issued_at, 'expires_at', c.expires_at,
                'burns', json(CASE c.burns WHEN 1 THEN 'true' ELSE 'false' END),
                'used_at', NULL, 'order_id', NULL),
            'currency', c.paid_with, 'cost', c.cost, 'balance_after', l.balance_after,
            'exchanges_left_today', 2, 'cut_short', json('false')), c.issued_at
        FROM coupons c JOIN ledger l ON l.id = c.ledger_id""",
    """INSERT INTO idempotency SELECT 'event:shop-' || member_id, lower(hex(randomblob(32))),
        json_object('status', 'processed', 'event_id', 'shop-' || member_id,
            'type', 'member.upserted', 'member_id', member_id, 'created', json('true'),
            'level_changes', json('[]')), created_at
        FROM members""",
)


def _us_text(epoch_us: int) -> str:
    """Format epoch microseconds like storage.db.to_db, cheaply (a day's prefix is cached)."""
    seconds, us = divmod(epoch_us, 1_000_000)
    day, second = divmod(seconds, 86_400)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = datetime.fromtimestamp(day * 86_400, UTC).date().isoformat()
    hour, rest = divmod(second, 3600)
    return f"{prefix}T{hour:02d}:{rest // 60:02d}:{rest % 60:02d}.{us:06d}+00:00"


_DAY_PREFIX: dict[int, str] = {}


# --------------------------------------------------------------------------------------------
# The floors: the engine's statements, in the engine's order, on a raw aiosqlite connection
# --------------------------------------------------------------------------------------------
# The SQL text is copied from storage/ on purpose (not imported): the shape check below traces
# both sides and fails if the engine's statements ever stop matching these.

SQL_RECALL = "SELECT fingerprint, response FROM idempotency WHERE key = ?"
SQL_REMEMBER = (
    "INSERT INTO idempotency (key, fingerprint, response, created_at) VALUES (?, ?, ?, ?)"
)
SQL_ORDER = (
    "SELECT o.*, m.referred_by FROM orders o JOIN members m USING (member_id) WHERE o.order_id = ?"
)
SQL_SET_DELIVERED = (
    "UPDATE orders SET status = ?, updated_at = ?, delivered_at = ? WHERE order_id = ?"
)
SQL_CREDIT = {
    column: f"UPDATE members SET {column} = {column} + ?, updated_at = ? "
    f"WHERE member_id = ? RETURNING {column}"
    for column in ("points", "coins")
}
SQL_LEDGER = (
    "INSERT INTO ledger (member_id, currency, amount, balance_after, reason, ref, idem_key,"
    " level_points, counted_at, shortfall, actor, note, created_at, occurred_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
SQL_SEEN = "SELECT 1 FROM ledger WHERE idem_key = ?"
SQL_STANDING = """
SELECT m.*,
    (SELECT COALESCE(SUM(level_points), 0) FROM ledger
        WHERE member_id = m.member_id AND level_points != 0 AND counted_at >= :since)
        AS level_points,
    (SELECT COALESCE(SUM(amount_cents - refunded_cents), 0) FROM orders
        WHERE member_id = m.member_id AND status = 'delivered' AND delivered_at >= :since)
        AS spend_cents,
    (SELECT COALESCE(MAX(amount_cents - refunded_cents), 0) FROM orders
        WHERE member_id = m.member_id AND status = 'delivered') AS best_order_cents
"""
SQL_STANDING_ONE = SQL_STANDING + " FROM members m WHERE m.member_id = :member_id"
SQL_VIEW = (
    SQL_STANDING
    + """, l.telegram_user_id,
            (SELECT COUNT(*) FROM coupons c WHERE c.member_id = m.member_id
                AND c.issued_day = :today AND c.paid_with != 'goodwill') AS coupons_today
        FROM members m LEFT JOIN telegram_links l ON l.member_id = m.member_id
        WHERE m.member_id = :member_id"""
)
SQL_SET_LEVEL = "UPDATE members SET level_code = ?, updated_at = ? WHERE member_id = ?"
SQL_NOTIFY = (
    "INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at)"
    " SELECT ?, ?, ?, ?, ?, ? WHERE EXISTS"
    " (SELECT 1 FROM telegram_links WHERE member_id = ?)"
    " ON CONFLICT (dedupe_key) DO NOTHING"
)
SQL_BALANCES = (
    "SELECT points, coins, (SELECT COUNT(*) FROM coupons WHERE member_id = :m"
    " AND issued_day = :day AND paid_with != 'goodwill') AS today"
    " FROM members WHERE member_id = :m"
)
SQL_COUPON = (
    "INSERT INTO coupons (code, member_id, value_cents, paid_with, cost, ledger_id, status,"
    " issued_at, issued_day, expires_at, burns)"
    " VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)"
)
SQL_CLAIM_ROW = "SELECT points, coins, coin_streak, last_claim_day FROM members WHERE member_id = ?"
SQL_SET_STREAK = (
    "UPDATE members SET coin_streak = ?, last_claim_day = ?, updated_at = ? WHERE member_id = ?"
)


async def connect_raw(path: Path, synchronous: str) -> aiosqlite.Connection:
    """Open a connection configured like the product's (WAL, busy timeout, foreign keys)."""
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    conn.row_factory = sqlite3.Row
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.execute("PRAGMA journal_mode = WAL")
    await conn.execute(f"PRAGMA synchronous = {synchronous}")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


def connect_quick(path: Path) -> sqlite3.Connection:
    """Open a plain connection like the product's `Database.lookup` one (no thread, no wait)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only = ON")
    return conn


Traced = aiosqlite.Connection | sqlite3.Connection


async def set_trace(conn: Traced, callback: Callable[[str], object] | None) -> None:
    """Trace an aiosqlite connection or a plain one."""
    if isinstance(conn, sqlite3.Connection):
        conn.set_trace_callback(callback)
    else:
        await conn.set_trace_callback(callback)


_FLOOR_RANDOM = random.Random(7)
_FLOOR_CODES: set[str] = set()


def floor_code() -> str:
    """A random code like the engine's (so it lands anywhere in the coupons' key index), but
    ending in 0, a digit the engine's alphabet lacks: the two sides can never collide."""
    while True:
        chars = _FLOOR_RANDOM.choices(CODE_ALPHABET, k=11)
        code = f"{''.join(chars[:4])}-{''.join(chars[4:8])}-{''.join(chars[8:])}0"
        if code not in _FLOOR_CODES:
            _FLOOR_CODES.add(code)
            return code


class Floor:
    """Each operation's transaction, written directly: the engine's SQL, minimal Python.

    The programme's numbers are read once; the decisions (points for an order, the streak,
    the level ladder, the coupon's expiry) are restated inline in their simplest form, and
    the stored answers are formatted with f-strings to about the engine's size.
    """

    def __init__(
        self,
        conn: aiosqlite.Connection,
        quick: sqlite3.Connection,
        program: Program,
        clock: ManualClock,
    ) -> None:
        self.conn, self.quick, self.program, self.clock = conn, quick, program, clock
        e = program.earning
        self.per_dollar, self.min_cents = e.order_points_per_dollar, e.order_min_cents
        self.daily_bonus, self.checkin = e.daily_purchase_points, e.daily_checkin_points
        self.window = timedelta(days=program.levels.window_days)
        self.by_points = program.levels.basis == "points"
        self.tiers = [
            (t.code, t.min_points if self.by_points else t.min_spend_cents,
             tuple((r.kind, r.cents) for r in t.requires))
            for t in program.levels.tiers
        ]  # fmt: skip
        self.streak = program.coins.streak if program.coins.enabled else ()
        self.limit = program.coupons.daily_limit
        self._expiry: dict[date, tuple[str, int]] = {}

    def _now(self) -> tuple[str, str, date]:
        now = self.clock.now
        return ts(now), ts(now - self.window), now.astimezone(self.program.timezone).date()

    def _level(self, row: sqlite3.Row) -> str:
        measure = row["level_points"] if self.by_points else row["spend_cents"]
        reached = self.tiers[0][0]
        for code, threshold, requires in self.tiers[1:]:
            for kind, cents in requires:
                if not (row["email_verified"] if kind == "email_verified"
                        else row["best_order_cents"] > cents):  # fmt: skip
                    return reached
            if measure >= threshold:
                reached = code
        return reached

    async def _relevel(self, member: str, now_s: str, since: str) -> None:
        c = self.conn
        rows = await c.execute_fetchall(SQL_STANDING_ONE, {"since": since, "member_id": member})
        row = rows[0]
        new = self._level(row)
        if new != row["level_code"]:
            await c.execute(SQL_SET_LEVEL, (new, now_s, member))
            payload = f'{{"old":"{row["level_code"]}","new":"{new}","up":true}}'
            await c.execute(
                SQL_NOTIFY,
                (member, "level_changed", f"level:{member}:{new}:{now_s}", payload, now_s,
                 now_s, member),
            )  # fmt: skip

    async def deliver(self, arg: tuple[str, str]) -> None:
        event_id, order_id = arg
        now_s, since, today = self._now()
        key = "event:" + event_id
        c = self.conn
        await c.execute("BEGIN IMMEDIATE")
        try:
            if await c.execute_fetchall(SQL_RECALL, (key,)):
                raise RuntimeError(f"{key} already applied")
            order = (await c.execute_fetchall(SQL_ORDER, (order_id,)))[0]
            member, amount = order["member_id"], order["amount_cents"]
            await c.execute(SQL_SET_DELIVERED, ("delivered", now_s, now_s, order_id))
            total = 0
            if amount > self.min_cents and (points := amount // 100 * self.per_dollar):
                rows = await c.execute_fetchall(SQL_CREDIT["points"], (points, now_s, member))
                await c.execute_fetchall(
                    SQL_LEDGER,
                    (member, "points", points, rows[0][0], "order", order_id,
                     f"order:{order_id}", points, now_s, 0, None, None, now_s, now_s),
                )  # fmt: skip
                total = points
            if self.daily_bonus and amount > self.min_cents:
                daily_key = f"daily_purchase:{member}:{today.isoformat()}"
                if not await c.execute_fetchall(SQL_SEEN, (daily_key,)):
                    bonus = self.daily_bonus
                    rows = await c.execute_fetchall(SQL_CREDIT["points"], (bonus, now_s, member))
                    await c.execute_fetchall(
                        SQL_LEDGER,
                        (member, "points", bonus, rows[0][0], "daily_purchase", order_id,
                         daily_key, bonus, now_s, 0, None, None, now_s, now_s),
                    )  # fmt: skip
                    total += bonus
            await self._relevel(member, now_s, since)
            if total:
                await c.execute(
                    SQL_NOTIFY,
                    (member, "order_points", f"order_points:{order_id}",
                     f'{{"order_id":"{order_id}","points":{total}}}', now_s, now_s, member),
                )  # fmt: skip
            response = (
                f'{{"status":"processed","event_id":"{event_id}","type":"order.delivered",'
                f'"order_id":"{order_id}","member_id":"{member}","credited":[{{"member_id":'
                f'"{member}","points":{total},"reason":"order"}}],"order_status":"delivered",'
                f'"changed":true,"level_changes":[]}}'
            )
            fingerprint = hashlib.sha256(key.encode()).hexdigest()
            await c.execute(SQL_REMEMBER, (key, fingerprint, response, now_s))
            await c.commit()
        except BaseException:
            await c.rollback()
            raise

    def _expires(self, today: date) -> tuple[str, int]:
        """The coupon's expiry for an issue day: validity, or the yearly burn if sooner."""
        if today not in self._expiry:
            cfg, tz = self.program.coupons, self.program.timezone
            end = datetime.combine(today + timedelta(days=cfg.validity_days), END_OF_DAY, tz)
            expires, burns = end, 0
            if cfg.burn_month_day:
                burn = datetime.combine(date(today.year, *cfg.burn_month_day), END_OF_DAY, tz)
                if burn.date() < today:
                    burn = burn.replace(year=today.year + 1)
                if burn <= end:
                    expires, burns = burn, 1
            self._expiry[today] = (ts(expires), burns)
        return self._expiry[today]

    async def exchange(self, arg: tuple[str, str]) -> None:
        member, request_key = arg
        now_s, _, today = self._now()
        key, day, cost, value = f"exchange:{request_key}", today.isoformat(), 500, 500
        c = self.conn
        await c.execute("BEGIN IMMEDIATE")
        try:
            if await c.execute_fetchall(SQL_RECALL, (key,)):
                raise RuntimeError(f"{key} already used")
            row = (await c.execute_fetchall(SQL_BALANCES, {"m": member, "day": day}))[0]
            if row["today"] >= self.limit or row["points"] < cost:
                raise RuntimeError(f"{member} cannot exchange")
            code = floor_code()
            balance = await c.execute_fetchall(SQL_CREDIT["points"], (-cost, now_s, member))
            ledger_rows = await c.execute_fetchall(
                SQL_LEDGER,
                (member, "points", -cost, balance[0][0], "coupon", code, None, 0, now_s, 0,
                 None, None, now_s, None),
            )  # fmt: skip
            expires, burns = self._expires(today)
            await c.execute(
                SQL_COUPON,
                (code, member, value, "points", cost, ledger_rows[0][0], now_s, day, expires,
                 burns),
            )  # fmt: skip
            response = (
                f'{{"coupon":{{"code":"{code}","member_id":"{member}","value_cents":{value},'
                f'"paid_with":"points","cost":{cost},"status":"active","issued_at":"{now_s}",'
                f'"expires_at":"{expires}","burns":{"true" if burns else "false"},'
                f'"used_at":null,"order_id":null}},"currency":"points","cost":{cost},'
                f'"balance_after":{balance[0][0]},"exchanges_left_today":'
                f'{self.limit - row["today"] - 1},"cut_short":false}}'
            )
            fingerprint = hashlib.sha256(key.encode()).hexdigest()
            await c.execute(SQL_REMEMBER, (key, fingerprint, response, now_s))
            await c.commit()
        except BaseException:
            await c.rollback()
            raise

    async def claim(self, member: str) -> None:
        now_s, since, today = self._now()
        c = self.conn
        await c.execute("BEGIN IMMEDIATE")
        try:
            row = (await c.execute_fetchall(SQL_CLAIM_ROW, (member,)))[0]
            last = row["last_claim_day"]
            day = today.isoformat()
            if last == day:
                raise RuntimeError(f"{member} already claimed today")
            yesterday = (today - timedelta(days=1)).isoformat()
            streak = row["coin_streak"] + 1 if last == yesterday else 1
            key = f"daily:{member}:{day}"
            if self.streak and (coins := self.streak[min(streak, len(self.streak)) - 1]):
                rows = await c.execute_fetchall(SQL_CREDIT["coins"], (coins, now_s, member))
                await c.execute_fetchall(
                    SQL_LEDGER,
                    (member, "coins", coins, rows[0][0], "daily_coins", None, key + ":coins", 0,
                     now_s, 0, None, None, now_s, None),
                )  # fmt: skip
            if points := self.checkin:
                rows = await c.execute_fetchall(SQL_CREDIT["points"], (points, now_s, member))
                await c.execute_fetchall(
                    SQL_LEDGER,
                    (member, "points", points, rows[0][0], "daily_checkin", None,
                     key + ":points", points, now_s, 0, None, None, now_s, None),
                )  # fmt: skip
            await c.execute(SQL_SET_STREAK, (streak, day, now_s, member))
            if points:
                await self._relevel(member, now_s, since)
            await c.commit()
        except BaseException:
            await c.rollback()
            raise

    async def lookup(self, member: str) -> None:
        # The floor: the same read written directly with aiosqlite.
        _, since, today = self._now()
        rows = await self.conn.execute_fetchall(
            SQL_VIEW, {"since": since, "today": today.isoformat(), "member_id": member}
        )
        if not rows:
            raise RuntimeError(f"unknown member {member}")

    async def lookup_inloop(self, member: str) -> None:
        # Like Database.lookup: one read on a plain connection in the event loop's thread.
        _, since, today = self._now()
        rows = self.quick.execute(
            SQL_VIEW, {"since": since, "today": today.isoformat(), "member_id": member}
        ).fetchall()
        if not rows:
            raise RuntimeError(f"unknown member {member}")


# --------------------------------------------------------------------------------------------
# The engine side, the inputs, the shape check and the measurement
# --------------------------------------------------------------------------------------------


class Engine:
    """The operations under test, called the way the bot and the shop API call them."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def deliver(self, body: dict[str, Any]) -> None:
        result = await apply_event(self.store, body)
        if result["status"] != "processed":
            raise RuntimeError(f"event not processed: {result}")

    async def exchange(self, arg: tuple[str, str]) -> None:
        member, key = arg
        await coupons.exchange(self.store, member, 500, "points", key)

    async def claim(self, member: str) -> None:
        if not (await daily.claim(self.store, member)).claimed:
            raise RuntimeError(f"{member} already claimed today")

    async def lookup(self, member: str) -> None:
        await members.view(self.store, member)


class Inputs:
    """Hands out inputs the operations accept: open orders, members who may claim or exchange.

    Each member claims (and exchanges) at most once per programme day; when every member has,
    the clock moves on a day. The order of members is random, the same for both sides.
    """

    def __init__(self, path: Path, clock: ManualClock, n_members: int, seed: int) -> None:
        self.path, self.clock, self.rng = path, clock, random.Random(seed + 1)
        self.ids = [f"m{i:07d}" for i in range(n_members)]
        self.orders: list[str] = []
        self.active: list[str] = []  # the most active 1% of members, by ledger rows
        self.claimers: list[str] = []
        self.exchangers: list[str] = []
        self.serial = 0

    async def load(self) -> None:
        async with aiosqlite.connect(self.path) as conn:
            rows = await conn.execute_fetchall(
                "SELECT order_id FROM orders WHERE status = 'placed' ORDER BY order_id"
            )
            top = await conn.execute_fetchall(
                "SELECT member_id FROM ledger GROUP BY member_id ORDER BY COUNT(*) DESC LIMIT ?",
                (max(1, len(self.ids) // 100),),
            )
        self.orders = [r[0] for r in rows]
        self.rng.shuffle(self.orders)
        self.active = [r[0] for r in top]

    def next_day(self) -> None:
        self.clock.advance(days=1)
        self.claimers, self.exchangers = [], []

    def order(self) -> str:
        if not self.orders:
            raise RuntimeError("no open orders left: build with more (--ops sets how many)")
        return self.orders.pop()

    def claimer(self) -> str:
        if not self.claimers:
            self.next_day()
            self.claimers = self.ids[:]
            self.rng.shuffle(self.claimers)
        return self.claimers.pop()

    async def exchanger(self) -> str:
        if not self.exchangers:
            self.next_day()
            async with aiosqlite.connect(self.path) as conn:
                rows = await conn.execute_fetchall(
                    "SELECT member_id FROM members WHERE points >= 500 ORDER BY member_id"
                )
            self.exchangers = [r[0] for r in rows]
            self.rng.shuffle(self.exchangers)
        return self.exchangers.pop()

    def key(self, prefix: str) -> str:
        self.serial += 1
        return f"bench-{prefix}-{self.serial}"


Op = Callable[[Any], Awaitable[None]]


@dataclass
class Pair:
    """One operation and its floor, and how to make an input for each."""

    name: str
    engine: Op
    floor: Op
    take: Callable[[str], Awaitable[Any]]  # side ("engine" | "floor") -> input


def pairs(engine: Engine, floor: Floor, inputs: Inputs) -> list[Pair]:
    async def delivery(side: str) -> Any:
        order_id, event_id = inputs.order(), inputs.key("evt")
        if side == "floor":
            return (event_id, order_id)
        return {"id": event_id, "type": "order.delivered", "occurred_at": ts(inputs.clock.now),
                "data": {"order_id": order_id}}  # fmt: skip

    async def exchange(side: str) -> Any:
        return (await inputs.exchanger(), inputs.key("xch"))

    async def claim(side: str) -> Any:
        return inputs.claimer()

    async def lookup(side: str) -> Any:
        return inputs.rng.choice(inputs.ids)

    async def lookup_active(side: str) -> Any:
        return inputs.rng.choice(inputs.active)

    return [
        Pair("apply-event", engine.deliver, floor.deliver, delivery),
        Pair("exchange", engine.exchange, floor.exchange, exchange),
        Pair("claim", engine.claim, floor.claim, claim),
        # The goal's floor is the read written directly with aiosqlite; the product reads in the
        # loop's thread (Database.lookup), so the same read done that way is shown too.
        Pair("lookup", engine.lookup, floor.lookup, lookup),
        Pair("lookup-inloop", engine.lookup, floor.lookup_inloop, lookup),
        # Not in the goal, but where history hurts: the regulars who use the bot every day.
        Pair("lookup-top1%", engine.lookup, floor.lookup_inloop, lookup_active),
    ]


_LITERAL = re.compile(r"'(?:[^']|'')*'|(?<![\w.])-?\d+(?:\.\d+)?\b|\bNULL\b")


def shape_of(sql: str) -> str:
    """Reduce a traced (expanded) statement to its shape: values become `?`, spaces collapse."""
    return " ".join(_LITERAL.sub("?", sql).split())


async def trace_shapes(
    pair: Pair, side: str, conns: Sequence[Traced], n: int
) -> list[tuple[str, ...]]:
    """Run `n` operations of one side with tracing on; return each one's statement shapes."""
    log: list[str] = []
    for conn in conns:
        await set_trace(conn, log.append)
    op = pair.engine if side == "engine" else pair.floor
    seen = []
    try:
        for _ in range(n):
            arg = await pair.take(side)
            log.clear()
            await op(arg)
            seen.append(tuple(shape_of(s) for s in log))
    finally:
        for conn in conns:
            await set_trace(conn, None)
    return seen


async def check_shapes(
    pair: Pair, engine_conns: Sequence[Traced], floor_conns: Sequence[Traced], n: int
) -> dict[str, Any]:
    """Compare the statements both sides issue: the usual sequence and every statement used."""
    engine = await trace_shapes(pair, "engine", engine_conns, n)
    floor = await trace_shapes(pair, "floor", floor_conns, n)
    e_common, f_common = Counter(engine).most_common(1)[0], Counter(floor).most_common(1)[0]
    e_set = {s for seq in engine for s in seq}
    f_set = {s for seq in floor for s in seq}
    same = e_common[0] == f_common[0] and e_set == f_set
    return {
        "same": same,
        "statements": len(e_common[0]),
        "engine_shapes": len(set(engine)),
        "floor_shapes": len(set(floor)),
        "usual": list(e_common[0]),
        "only_engine": sorted(e_set - f_set),
        "only_floor": sorted(f_set - e_set),
        "usual_floor": [] if same else list(f_common[0]),
    }


@dataclass
class Timing:
    """One side's measurement."""

    latencies: list[int] = field(default_factory=list)  # ns per operation
    chunks: list[float] = field(default_factory=list)  # ops/s of each chunk
    busy_ns: int = 0  # wall time of its chunks, inputs made beforehand

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        return {
            "ops": len(lat),
            "ops_per_s": len(lat) / (self.busy_ns / 1e9),
            "p50_ms": statistics.median(lat) / 1e6,
            "p99_ms": lat[min(len(lat) - 1, math.ceil(len(lat) * 0.99) - 1)] / 1e6,
        }


async def measure(pair: Pair, n_ops: int, chunk: int, warmup: int) -> dict[str, Any]:
    """Time both sides in alternating chunks (E F, F E, E F, ...) after a warm-up each."""
    sides = {"engine": pair.engine, "floor": pair.floor}
    for side, op in sides.items():
        for _ in range(warmup):
            await op(await pair.take(side))
    timings = {side: Timing() for side in sides}
    for number in range(math.ceil(n_ops / chunk)):
        order = ("engine", "floor") if number % 2 == 0 else ("floor", "engine")
        for side in order:
            size = min(chunk, n_ops - number * chunk)
            args = [await pair.take(side) for _ in range(size)]
            op, lat = sides[side], timings[side].latencies
            started = time.perf_counter_ns()
            for arg in args:
                t0 = time.perf_counter_ns()
                await op(arg)
                lat.append(time.perf_counter_ns() - t0)
            elapsed = time.perf_counter_ns() - started
            timings[side].busy_ns += elapsed
            timings[side].chunks.append(size / (elapsed / 1e9))
    engine, floor = timings["engine"].summary(), timings["floor"].summary()
    # The ratio of each pair of neighbouring chunks, then their median: a check on the main
    # ratio that a burst of noise in a few chunks cannot move much.
    by_chunk = [
        e / f for e, f in zip(timings["engine"].chunks, timings["floor"].chunks, strict=True)
    ]
    return {
        "engine": engine,
        "floor": floor,
        "ratio": engine["ops_per_s"] / floor["ops_per_s"],
        "ratio_chunk_median": statistics.median(by_chunk),
    }


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------

GOAL_RATIO, GOAL_LOOKUP_MS = 0.70, 1.0


def verdict(name: str, result: dict[str, Any]) -> str:
    # Met only when both estimates agree: the whole run's ratio and the chunks' median.
    ok = min(result["ratio"], result["ratio_chunk_median"]) >= GOAL_RATIO
    text = f"{'ok' if ok else 'BELOW'} (>= {GOAL_RATIO:.0%})"
    if name.startswith("lookup"):
        fast = result["engine"]["p50_ms"] < GOAL_LOOKUP_MS
        text += f"; p50 {'<' if fast else '>='} {GOAL_LOOKUP_MS:g} ms {'ok' if fast else 'SLOW'}"
    return text


def table(mode: str, results: dict[str, dict[str, Any]], n_ops: int, chunk: int) -> str:
    lines = [
        f"synchronous={mode}: {n_ops} ops per side, alternating chunks of {chunk}",
        f"{'operation':<12} {'engine ops/s':>12} {'p50 ms':>7} {'p99 ms':>7}  "
        f"{'floor ops/s':>11} {'p50 ms':>7} {'p99 ms':>7}  {'ratio':>6} {'(chunks)':>8}  goal",
    ]
    for name, r in results.items():
        e, f = r["engine"], r["floor"]
        lines.append(
            f"{name:<12} {e['ops_per_s']:>12.0f} {e['p50_ms']:>7.3f} {e['p99_ms']:>7.3f}  "
            f"{f['ops_per_s']:>11.0f} {f['p50_ms']:>7.3f} {f['p99_ms']:>7.3f}  "
            f"{r['ratio']:>6.0%} {r['ratio_chunk_median']:>8.0%}  {verdict(name, r)}"
        )
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "aiosqlite": aiosqlite.__version__,
        "platform": platform.platform(),
    }


async def run(args: argparse.Namespace) -> int:
    program = load_program({"preset": args.preset})
    path = Path(args.db)
    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": vars(args),
        "machine": machine(),
        "load_before": os.getloadavg(),
    }
    placed = len(args.synchronous) * 2 * (args.ops + args.warmup + args.shape_ops) + 1000
    print(f"building {args.members} members, {args.ledger_rows} ledger rows at {path} ...")
    built = await build(path, program, args.members, args.ledger_rows, placed, args.seed)
    report["build"] = vars(built)
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in built.timings.items())
    print(
        f"built in {built.seconds:.1f} s ({steps}); {built.file_mb:.0f} MB;"
        f" {built.ledger_rows} ledger rows, {built.orders_delivered} delivered orders,"
        f" {built.coupons} coupons, {built.idempotency} idempotency records"
    )
    clock = ManualClock(NOW)
    failed = False
    if not args.no_check:
        failed |= not await run_check(path, program, clock, report, "check_after_build")
    inputs = Inputs(path, clock, args.members, args.seed)
    await inputs.load()
    report["results"], report["shapes"] = {}, {}
    for mode in args.synchronous:
        store = await Store.open(path, program, clock=clock, synchronous=mode)
        floor_conn, floor_quick = await connect_raw(path, mode), connect_quick(path)
        try:
            inputs.next_day()  # a fresh programme day: nobody has claimed or exchanged yet
            ops = pairs(Engine(store), Floor(floor_conn, floor_quick, program, clock), inputs)
            # Traced for the shape check: every connection of each side.
            engine_conns = [store.db._writer, store.db._reader, store.db._quick]
            engine_conns = [c for c in engine_conns if c is not None]
            shapes = {}
            for pair in ops:
                shapes[pair.name] = await check_shapes(
                    pair, engine_conns, [floor_conn, floor_quick], args.shape_ops
                )
                if not shapes[pair.name]["same"]:
                    failed = True
                    print(
                        f"SHAPE MISMATCH in {pair.name}:", json.dumps(shapes[pair.name], indent=1)
                    )
            report["shapes"][mode] = shapes
            print(f"shape check ({mode}): " + ", ".join(
                f"{n} {s['statements']} statements {'same' if s['same'] else 'DIFFERENT'}"
                for n, s in shapes.items()))  # fmt: skip
            results = {}
            for pair in ops:
                gc.collect()
                results[pair.name] = await measure(pair, args.ops, args.chunk, args.warmup)
            report["results"][mode] = results
            print()
            print(table(mode, results, args.ops, args.chunk))
            print()
        finally:
            floor_quick.close()
            await floor_conn.close()
            await store.close()
    if not args.no_check:
        failed |= not await run_check(path, program, clock, report, "check_after_run")
    report["load_after"] = os.getloadavg()
    print(f"load average before {report['load_before'][0]:.2f}, after {report['load_after'][0]:.2f}"
          f" on {os.cpu_count()} CPUs")  # fmt: skip
    if args.json:
        write_json(Path(args.json), report)
        print(f"wrote {args.json}")
    return 1 if failed else 0


async def run_check(
    path: Path, program: Program, clock: ManualClock, report: dict[str, Any], key: str
) -> bool:
    store = await Store.open(path, program, clock=clock)
    try:
        started = time.perf_counter()
        problems = await check(store)
    finally:
        await store.close()
    report[key] = {"problems": problems[:20], "seconds": time.perf_counter() - started}
    print(f"{key.replace('_', ' ')}: {len(problems)} problems"
          f" ({report[key]['seconds']:.1f} s)")  # fmt: skip
    for line in problems[:20]:
        print("  ", line)
    return not problems


def write_json(path: Path, report: dict[str, Any]) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--ops", type=int, default=3000, help="timed operations per side")
    parser.add_argument("--warmup", type=int, default=100, help="untimed operations per side")
    parser.add_argument("--chunk", type=int, default=100, help="operations per alternation")
    parser.add_argument("--shape-ops", type=int, default=60, help="traced operations per side")
    parser.add_argument(
        "--db",
        default=str(Path(tempfile.gettempdir()) / "loyalty-bench.db"),
        help="rebuilt on every run",
    )
    parser.add_argument(
        "--synchronous", nargs="+", default=["FULL", "NORMAL"],
        choices=["OFF", "NORMAL", "FULL", "EXTRA"], help="modes to measure, in order",
    )  # fmt: skip
    parser.add_argument("--preset", default="marketplace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-check", action="store_true", help="skip storage.check.check")
    parser.add_argument("--json", help="also write the results here")
    return uvloop.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
