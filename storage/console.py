"""The owner's console read model: the overview, member search, a member's tickets, exports.

Reads only, through the reader connection (`store.db.read`): the overview scans members and a
range of recent ledger rows, which must never block the event loop. SQL is kept portable
(`?` placeholders, `substr`, `CASE`, no SQLite-only functions); days are cut in Python in the
programme's time zone, from hourly sums, so no database needs to know about time zones.
"""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from loyalty.calendar import day_start, programme_day
from storage.db import Row, from_db, to_db
from storage.store import Store

OVERVIEW_DAYS = 90
ACTIVE_DAYS = 30
SEARCH_LIMIT = 20
EXPORT_BATCH = 2_000
# Ledger reasons by what they mean for the overview's "points per day".
SPENDING = ("coupon", "hold")
GIVEN_BACK = ("hold_release",)  # a released hold returns what the hold took: not earned
TAKING_BACK = ("clawback",)


@dataclass(frozen=True)
class DayPoints:
    """Points earned, spent and taken back on one programme day."""

    day: date
    earned: int = 0
    spent: int = 0
    taken_back: int = 0


@dataclass(frozen=True)
class Liability:
    """What the shop owes members, in the programme's currency (cents)."""

    points: int
    coins: int
    points_cents: int
    coins_cents: int
    coupons_cents: int

    @property
    def total_cents(self) -> int:
        """Return the whole liability."""
        return self.points_cents + self.coins_cents + self.coupons_cents


@dataclass(frozen=True)
class Overview:
    """Everything the console's first page shows, read at `read_at`."""

    members_total: int
    members_linked: int
    members_active: int  # with a ledger row on one of the last ACTIVE_DAYS programme days
    by_level: list[tuple[str, str, int]]  # (code, name, members), lowest level first
    points_by_day: list[DayPoints]  # OVERVIEW_DAYS days, oldest first, today last
    liability: Liability
    coupons: dict[str, int]  # by status: active, used, expired, burned
    tickets_open: int
    tickets_closed: int
    median_first_answer_seconds: float | None  # tickets opened in the last OVERVIEW_DAYS
    ratings: dict[int, int]  # stars -> tickets
    reminders: dict[str, int]  # last ACTIVE_DAYS days: sent, failed, skipped; deferred, pending
    read_at: datetime
    timings: dict[str, float] = field(default_factory=dict, compare=False)


async def _one(store: Store, sql: str, params: tuple[Any, ...] = ()) -> Row:
    row = await store.db.read_one(sql, params)
    assert row is not None  # aggregates always answer one row
    return row


async def overview(store: Store, cache: OverviewCache | None = None) -> Overview:
    """Read the console's overview; `cache` keeps finished days between calls."""
    program, now = store.program, store.now()
    today = programme_day(program, now)
    first_day = today - timedelta(days=OVERVIEW_DAYS - 1)
    since = to_db(day_start(program, first_day))
    recent = to_db(now - timedelta(days=ACTIVE_DAYS))

    levels: dict[str, tuple[int, int, int]] = {}
    for r in await store.db.read(
        "SELECT level_code, COUNT(*) AS n, COALESCE(SUM(points), 0) AS points,"
        " COALESCE(SUM(coins), 0) AS coins FROM members GROUP BY level_code"
    ):
        levels[r["level_code"]] = (r["n"], r["points"], r["coins"])
    linked = (await _one(store, "SELECT COUNT(*) FROM telegram_links"))[0]
    points_by_day, active = await _ledger_days(store, cache or OverviewCache(), first_day, today)
    coupon_rows = await store.db.read(
        "SELECT status, COUNT(*) AS n, SUM(value_cents) AS cents FROM coupons GROUP BY status"
    )
    coupon_counts = {s: 0 for s in ("active", "used", "expired", "burned")}
    active_cents = 0
    for r in coupon_rows:
        coupon_counts[r["status"]] = r["n"]
        if r["status"] == "active":
            active_cents = r["cents"] or 0
    tickets = await _one(
        store,
        "SELECT COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0),"
        " COALESCE(SUM(CASE WHEN status = 'closed' THEN 1 ELSE 0 END), 0) FROM tickets",
    )
    answers = await store.db.read(
        "SELECT first_message_at, first_answer_at FROM tickets"
        " WHERE first_answer_at IS NOT NULL AND first_message_at IS NOT NULL AND opened_at >= ?",
        (since,),
    )
    waits = [
        (from_db(r["first_answer_at"]) - from_db(r["first_message_at"])).total_seconds()
        for r in answers
    ]
    ratings = {stars: 0 for stars in range(1, 6)}
    for r in await store.db.read(
        "SELECT rating, COUNT(*) AS n FROM tickets WHERE rating IS NOT NULL GROUP BY rating"
    ):
        ratings[int(r["rating"])] = r["n"]
    reminders = {"sent": 0, "failed": 0, "skipped": 0}
    for r in await store.db.read(
        "SELECT status, COUNT(*) AS n FROM outbox WHERE status != 'pending' AND created_at >= ?"
        " GROUP BY status",
        (recent,),
    ):
        reminders[r["status"]] = r["n"]
    pending = await _one(
        store,
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN claimed_until > ? THEN 1 ELSE 0 END), 0)"
        " FROM outbox WHERE status = 'pending'",
        (to_db(now),),
    )
    reminders["pending"], reminders["deferred"] = pending[0], pending[1]

    total_points = sum(p for _, p, _ in levels.values())
    total_coins = sum(c for _, _, c in levels.values())
    return Overview(
        members_total=sum(n for n, _, _ in levels.values()),
        members_linked=linked,
        members_active=active,
        by_level=[(t.code, t.name, levels.get(t.code, (0, 0, 0))[0]) for t in program.levels.tiers],
        points_by_day=points_by_day,
        liability=Liability(
            points=total_points,
            coins=total_coins,
            points_cents=total_points * program.point_value_cents,
            coins_cents=coins_value_cents(store, total_coins),
            coupons_cents=active_cents,
        ),
        coupons=coupon_counts,
        tickets_open=tickets[0],
        tickets_closed=tickets[1],
        median_first_answer_seconds=statistics.median(waits) if waits else None,
        ratings=ratings,
        reminders=reminders,
        read_at=now,
    )


def coins_value_cents(store: Store, coins: int) -> int:
    """Return what `coins` are worth at the coupon exchange's rate (rounded down)."""
    for option in store.program.coupons.options:
        if option.coins:
            return coins * option.value_cents // option.coins
    return 0


@dataclass
class OverviewCache:
    """What the overview read about finished programme days, kept by the process.

    Exact, not approximate: ledger rows are appended, dated when they are written, and never
    changed, so once a day is over its sums and its members never change. Only today's rows
    (and any day not yet seen) are read again; on the benchmark's store that turns a scan of
    ~120,000 index entries per request into one of a day's ~1,400.
    """

    days: dict[date, DayPoints] = field(default_factory=dict)
    members: dict[date, frozenset[str]] = field(default_factory=dict)  # the last ACTIVE_DAYS


_HOURS_SQL = (
    "SELECT substr(created_at, 1, 13) AS hour, reason,"
    " SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS plus,"
    " SUM(CASE WHEN amount < 0 THEN -amount ELSE 0 END) AS minus"
    " FROM ledger WHERE created_at >= ? AND created_at < ? AND currency = 'points'"
    " GROUP BY substr(created_at, 1, 13), reason"
)
_MEMBERS_SQL = (
    "SELECT substr(created_at, 1, 13) AS hour, member_id FROM ledger"
    " WHERE created_at >= ? AND created_at < ? GROUP BY substr(created_at, 1, 13), member_id"
)


def _day_of_hour(store: Store, hour: str) -> date:
    # Hourly sums cut into programme days: exact for every zone with whole-hour offsets.
    return programme_day(store.program, datetime.fromisoformat(hour + ":00:00+00:00"))


async def _read_days(
    store: Store, first: date, end: date, members_from: date
) -> tuple[dict[date, DayPoints], dict[date, set[str]]]:
    """Read the points and the active members of the days in [first, end)."""
    program = store.program
    start, stop = to_db(day_start(program, first)), to_db(day_start(program, end))
    sums: dict[date, list[int]] = {}
    for r in await store.db.read(_HOURS_SQL, (start, stop)):
        slot = sums.setdefault(_day_of_hour(store, r["hour"]), [0, 0, 0])
        reason, plus, minus = r["reason"], r["plus"], r["minus"]
        if reason in SPENDING:
            slot[1] += minus - plus
        elif reason in GIVEN_BACK:
            slot[1] -= plus
        elif reason in TAKING_BACK:
            slot[2] += minus
        else:  # earning rows and grants: a negative grant takes back
            slot[0] += plus
            slot[2] += minus
    seen: dict[date, set[str]] = {}
    if members_from < end:
        since = to_db(day_start(program, max(first, members_from)))
        for r in await store.db.read(_MEMBERS_SQL, (since, stop)):
            seen.setdefault(_day_of_hour(store, r["hour"]), set()).add(r["member_id"])
    points = {d: DayPoints(d, *v) for d, v in sums.items()}
    return points, seen


async def _ledger_days(
    store: Store, cache: OverviewCache, first: date, today: date
) -> tuple[list[DayPoints], int]:
    """Return the points of each day from `first` to `today` and the members active lately."""
    window = [first + timedelta(days=n) for n in range((today - first).days + 1)]
    active_from = today - timedelta(days=ACTIVE_DAYS - 1)
    missing = [d for d in window[:-1] if d not in cache.days]
    if missing:
        points, seen = await _read_days(store, missing[0], today, active_from)
        for d in window[:-1]:
            if d >= missing[0]:
                cache.days[d] = points.get(d, DayPoints(d))
                cache.members[d] = frozenset(seen.get(d, ()))
    points, seen = await _read_days(store, today, today + timedelta(days=1), active_from)
    for old in [d for d in cache.days if d < first]:
        del cache.days[old]
    for old in [d for d in cache.members if d < active_from]:
        del cache.members[old]
    active: set[str] = set(seen.get(today, ()))
    for d, ids in cache.members.items():
        if d >= active_from:
            active |= ids
    days = [cache.days[d] for d in window[:-1]] + [points.get(today, DayPoints(today))]
    return days, len(active)


# -- members ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A member as listed in search results and the members export."""

    member_id: str
    name: str | None
    email: str | None
    language: str | None
    level_code: str
    points: int
    points_held: int
    coins: int
    telegram_user_id: int | None
    username: str | None
    created_at: datetime


_FOUND_SQL = (
    "SELECT m.member_id, m.name, m.email, m.language, m.level_code, m.points, m.points_held,"
    " m.coins, m.created_at, l.telegram_user_id, u.username"
    " FROM members m LEFT JOIN telegram_links l ON l.member_id = m.member_id"
    " LEFT JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id"
)


def _found(r: Row) -> Found:
    return Found(
        member_id=r["member_id"],
        name=r["name"],
        email=r["email"],
        language=r["language"],
        level_code=r["level_code"],
        points=r["points"],
        points_held=r["points_held"],
        coins=r["coins"],
        telegram_user_id=r["telegram_user_id"],
        username=r["username"],
        created_at=from_db(r["created_at"]),
    )


async def search(store: Store, query: str, *, limit: int = SEARCH_LIMIT) -> list[Found]:
    """Find members by id (exact or prefix), e-mail (exact) or Telegram username.

    "@name" searches usernames only; text with "@" inside, e-mails only.
    """
    q = query.strip()[:256]
    if not q:
        return []
    params: tuple[str, ...]
    if q.startswith("@"):
        where, params = "u.username = ?", (q[1:].lower(),)
    elif "@" in q:
        where, params = "m.email IN (?, ?)", (q, q.lower())
    else:
        # Usernames live on telegram_users: look one up through its own index first, then
        # take the id as a prefix, a range on the primary key (every database uses it).
        user = await store.db.read_one(
            "SELECT l.member_id FROM telegram_users u JOIN telegram_links l"
            " ON l.telegram_user_id = u.telegram_user_id WHERE u.username = ?",
            (q.lower(),),
        )
        where = "(m.member_id >= ? AND m.member_id < ?) OR m.member_id = ?"
        params = (q, q + "\U0010ffff", str(user[0]) if user else "")
    rows = await store.db.read(
        f"{_FOUND_SQL} WHERE {where} ORDER BY m.member_id LIMIT ?", (*params, limit)
    )
    found = [_found(r) for r in rows]
    # The exact id first, then the rest in id order.
    found.sort(key=lambda f: f.member_id != q)
    return found


async def members_batches(store: Store) -> AsyncIterator[list[Found]]:
    """Yield every member, in id order, a batch at a time (the members export)."""
    after = ""
    while True:
        rows = await store.db.read(
            f"{_FOUND_SQL} WHERE m.member_id > ? ORDER BY m.member_id LIMIT ?",
            (after, EXPORT_BATCH),
        )
        batch = [_found(r) for r in rows]
        if not batch:
            return
        yield batch
        after = batch[-1].member_id


async def ledger_batches(store: Store, start: datetime, end: datetime) -> AsyncIterator[list[Row]]:
    """Yield the ledger rows created in [start, end), in id order, a batch at a time."""
    after = 0
    while True:
        rows = list(
            await store.db.read(
                "SELECT id, created_at, member_id, currency, amount, balance_after, reason,"
                " ref, actor, note, shortfall FROM ledger"
                " WHERE created_at >= ? AND created_at < ? AND id > ? ORDER BY id LIMIT ?",
                (to_db(start), to_db(end), after, EXPORT_BATCH),
            )
        )
        if not rows:
            return
        yield rows
        after = rows[-1]["id"]


@dataclass(frozen=True)
class TicketLine:
    """A ticket as the member's console page lists it."""

    id: int
    status: str
    subject: str | None
    opened_at: datetime
    closed_at: datetime | None
    rating: int | None


async def tickets_of(
    store: Store, member_id: str, telegram_user_id: int | None, *, limit: int = 20
) -> list[TicketLine]:
    """Return the member's tickets (by account, and by their Telegram user), newest first."""
    rows = await store.db.read(
        "SELECT id, status, subject, opened_at, closed_at, rating FROM tickets"
        " WHERE member_id = ? OR telegram_user_id = ? ORDER BY id DESC LIMIT ?",
        (member_id, telegram_user_id if telegram_user_id is not None else -1, limit),
    )
    return [
        TicketLine(
            id=r["id"],
            status=r["status"],
            subject=r["subject"],
            opened_at=from_db(r["opened_at"]),
            closed_at=from_db(r["closed_at"]) if r["closed_at"] else None,
            rating=r["rating"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class ConnectorHealth:
    """How a shop connector is doing: its webhooks of the last day and its calls to the shop."""

    platform: str
    deliveries: int  # webhook deliveries received in the last day
    ignored: int  # of which ignored (a guest order, another currency, an unknown topic...)
    last_delivery_at: datetime | None
    tasks_pending: int  # calls to the shop's API still to make (coupons to create or delete)
    tasks_overdue: int  # of which due for more than an hour: the shop is not answering
    tasks_refused: int  # refused for good in the last day

    @property
    def state(self) -> str:
        """Return "ok", or what is wrong in a word: "failing" or "quiet"."""
        if self.tasks_refused or self.tasks_overdue:
            return "failing"
        return "ok" if self.deliveries else "quiet"


async def connector_health(store: Store, platforms: list[str]) -> list[ConnectorHealth]:
    """Return the health of each enabled connector (`platforms`)."""
    now = store.now()
    day_ago, hour_ago = to_db(now - timedelta(days=1)), to_db(now - timedelta(hours=1))
    out = []
    for platform in platforms:
        seen = await _one(
            store,
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN outcome != 'processed' THEN 1 ELSE 0 END), 0),"
            " MAX(received_at) FROM connector_deliveries WHERE platform = ? AND received_at >= ?",
            (platform, day_ago),
        )
        last = await _one(
            store,
            "SELECT MAX(received_at) FROM connector_deliveries WHERE platform = ?",
            (platform,),
        )
        tasks = await _one(
            store,
            "SELECT COALESCE(SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN status = 'pending' AND due_at < ? THEN 1 ELSE 0 END), 0),"
            " COALESCE(SUM(CASE WHEN status = 'refused' AND updated_at >= ? THEN 1 ELSE 0 END), 0)"
            " FROM shop_tasks WHERE platform = ? AND (status = 'pending' OR updated_at >= ?)",
            (hour_ago, day_ago, platform, day_ago),
        )
        out.append(
            ConnectorHealth(
                platform=platform,
                deliveries=seen[0],
                ignored=seen[1],
                last_delivery_at=from_db(last[0]) if last[0] else None,
                tasks_pending=tasks[0],
                tasks_overdue=tasks[1],
                tasks_refused=tasks[2],
            )
        )
    return out
