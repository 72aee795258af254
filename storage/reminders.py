"""Reminders: planning due reminders into the outbox, and the start of a programme day.

Every notice is an outbox row with a dedupe key, so planning twice (two processes, a restart
mid-plan, a catch-up after downtime) never makes a second notice. Claiming and settling the
rows is the outbox's (storage/outbox.py).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from loyalty.calendar import day_start, programme_day
from loyalty.coupons import next_burn
from loyalty.reminders import (
    ReminderPolicy,
    hours_to_plan,
)
from storage import coupons, daily, members, outbox
from storage.db import Tx, from_db, to_db
from storage.outbox import PLANNED_PRIORITY
from storage.scheduler_runs import last_period, record_period
from storage.store import Store

# -- planning ---------------------------------------------------------------------------------


@dataclass
class PlanReport:
    """What planning queued, per kind, and for which hours."""

    hours: list[datetime] = field(default_factory=list)
    queued: Counter[str] = field(default_factory=Counter)


async def plan(store: Store, policy: ReminderPolicy, *, batch: int = 2_000) -> PlanReport:
    """Queue the reminders of every local hour that began since the last plan (a day back at most).

    Each hour is planned in batches of short transactions; a crash mid-way replans the hour and
    the dedupe keys drop what was already queued.
    """
    report = PlanReport()
    if not policy.enabled:
        return report
    last = await last_period(store, "plan")
    zone = store.program.timezone
    for start in hours_to_plan(from_db(last) if last else None, store.now(), zone):
        counts = await plan_hour(store, policy, start, batch=batch)
        report.hours.append(start)
        report.queued.update(counts)
        await record_period(store, "plan", to_db(start))
    return report


async def plan_hour(
    store: Store, policy: ReminderPolicy, start: datetime, *, batch: int = 2_000
) -> Counter[str]:
    """Queue the reminders due at one local hour start; return how many of each kind."""
    program = store.program
    local = start.astimezone(program.timezone)
    day, hour = local.date(), local.hour
    counts: Counter[str] = Counter()
    # A check-in reminder is only worth sending on its own day (catch-up skips older days).
    if daily.enabled(store) and day == programme_day(program, store.now()):
        counts["daily_checkin"] = await _plan_daily(store, policy, start, day, hour, batch)
    if program.coupons.enabled:
        ranges = [_day_range(store, day + timedelta(days=d)) for d in policy.expiry_days]
        counts["coupon_expiry"] = await _plan_digest(
            store, policy, "coupon_expiry", "expiry", start, day, hour, ranges, burns=False
        )
        burn = next_burn(program, day_start(program, day))
        if burn is not None:
            burn_day = burn.astimezone(program.timezone).date()
            if any(burn_day - timedelta(days=n) == day for n in policy.burn_days):
                counts["coupon_burn"] = await _plan_digest(
                    store, policy, "coupon_burn", "burn", start, day, hour,
                    [_day_range(store, burn_day)], burns=True,
                )  # fmt: skip
    return +counts


def _day_range(store: Store, day: date) -> tuple[str, str]:
    program = store.program
    return to_db(day_start(program, day)), to_db(day_start(program, day + timedelta(days=1)))


_DAILY_INSERT = """
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT l.member_id, 'daily_checkin', 'daily_checkin:' || :day || ':' || l.member_id,
    :payload, :due, :now, :priority
FROM telegram_users u
JOIN telegram_links l ON l.telegram_user_id = u.telegram_user_id
JOIN members m ON m.member_id = l.member_id
WHERE {hour} AND u.telegram_user_id > :after AND u.telegram_user_id <= :upto
    AND u.remind_daily != 'off' AND u.reminders = 1 AND u.unreachable = 0
    AND (m.last_claim_day IS NULL OR m.last_claim_day < :day)
ON CONFLICT (dedupe_key) DO NOTHING
"""


async def _plan_daily(
    store: Store, policy: ReminderPolicy, start: datetime, day: date, hour: int, batch: int
) -> int:
    """Queue check-in reminders for users whose hour this is, walking the hour index by rowid."""
    filters = ["u.reminder_hour = :hour"]
    if hour == policy.default_hour:
        filters.append("u.reminder_hour IS NULL")  # a separate index range: no OR, no sort
    params = {
        "hour": hour,
        "day": day.isoformat(),
        "payload": json.dumps({"day": day.isoformat()}),
        "due": to_db(start),
        "priority": PLANNED_PRIORITY,
    }
    queued = 0
    for hour_filter in filters:
        after = 0
        while True:
            edge = await store.db.read_one(
                f"SELECT u.telegram_user_id FROM telegram_users u WHERE {hour_filter}"
                " AND u.telegram_user_id > :after ORDER BY u.telegram_user_id"
                " LIMIT 1 OFFSET :skip",
                {**params, "after": after, "skip": batch - 1},
            )
            upto = edge[0] if edge else 2**63 - 1
            sql = _DAILY_INSERT.format(hour=hour_filter)
            queued += await store.db.write(
                _insert_rows(store, sql, {**params, "after": after, "upto": upto})
            )
            if edge is None:
                break
            after = upto
    return queued


def _digest_sql(ranges: int, category: str) -> tuple[str, str]:
    """Return the digest planner's statements: the members with coupons expiring in any of
    `ranges` days (one partial-index range each), and the insert for a chunk of them."""
    members = (
        "SELECT DISTINCT member_id FROM ("
        + " UNION ALL ".join(
            f"SELECT member_id FROM coupons WHERE status = 'active' AND expires_at >= :a{i}"
            f" AND expires_at < :b{i}"
            for i in range(ranges)
        )
        + ")"
    )
    in_range = " OR ".join(
        f"(c.expires_at >= :a{i} AND c.expires_at < :b{i})" for i in range(ranges)
    )
    insert = f"""
        INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
        SELECT c.member_id, :kind, :kind || ':' || :day || ':' || c.member_id,
            json_object('day', :day, 'codes', json_group_array(c.code)), :due, :now, :priority
        FROM json_each(:members) j
        JOIN coupons c ON c.member_id = j.value AND c.status = 'active'
        JOIN telegram_links l ON l.member_id = c.member_id
        JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
        WHERE c.burns = :burns AND ({in_range})
            AND COALESCE(u.reminder_hour, :default_hour) = :hour
            AND u.remind_{category} != 'off' AND u.reminders = 1 AND u.unreachable = 0
        GROUP BY c.member_id
        ON CONFLICT (dedupe_key) DO NOTHING
    """
    return members, insert


async def _plan_digest(
    store: Store,
    policy: ReminderPolicy,
    kind: str,
    category: str,
    start: datetime,
    day: date,
    hour: int,
    ranges: list[tuple[str, str]],
    *,
    burns: bool,
    batch: int = 2_000,
) -> int:
    """Queue one digest per member listing their active coupons expiring in `ranges`.

    The members are read first (only coupons in those days, by index), then queued in chunks,
    each a short transaction, so a digest for 100,000 members never holds the write lock long.
    """
    if not ranges:
        return 0
    members_sql, insert_sql = _digest_sql(len(ranges), category)
    bounds = {f"a{i}": a for i, (a, _) in enumerate(ranges)}
    bounds.update({f"b{i}": b for i, (_, b) in enumerate(ranges)})
    members = [row[0] for row in await store.db.read(members_sql, bounds)]
    params = {
        **bounds,
        "kind": kind,
        "day": day.isoformat(),
        "due": to_db(start),
        "priority": PLANNED_PRIORITY,
        "burns": int(burns),
        "default_hour": policy.default_hour,
        "hour": hour,
    }
    queued = 0
    for first in range(0, len(members), batch):
        chunk = json.dumps(members[first : first + batch])
        queued += await store.db.write(
            _insert_rows(store, insert_sql, {**params, "members": chunk})
        )
    return queued


def _insert_rows(
    store: Store, sql: str, params: dict[str, Any]
) -> Callable[[Tx], Coroutine[Any, Any, int]]:
    """Return a write body that runs one planning insert (stamped now) and counts its rows."""

    async def insert(tx: Tx) -> int:
        cursor = await tx.execute(sql, {**params, "now": to_db(store.now())})
        return max(cursor.rowcount, 0)

    return insert


# -- the start of a programme day -------------------------------------------------------------


@dataclass(frozen=True)
class DayStart:
    """What the start-of-day work did."""

    day: date
    burned: int
    expired: int
    level_changes: int
    pruned: int


async def start_day(store: Store) -> DayStart | None:
    """Once per programme day: burn, expire coupons, recompute levels, prune old outbox rows.

    Each step is its own idempotent operation; the day is recorded only when all are done, so
    a crash part-way repeats the steps (harmlessly) on the next run. Returns None if today's
    work was already done.
    """
    now = store.now()
    today = programme_day(store.program, now)
    if await last_period(store, "day_start") == today.isoformat():
        return None
    # The burn first: after the end of the burn day every burning coupon is burned, not expired.
    burned = await coupons.burn(store)
    expired = await coupons.expire(store)
    changes = await members.recompute_levels(store)
    pruned = await outbox.prune(store, now - outbox.KEEP_SETTLED)
    await record_period(store, "day_start", today.isoformat())
    return DayStart(today, burned, expired["expired"] + expired["burned"], len(changes), pruned)
