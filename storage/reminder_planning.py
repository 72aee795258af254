"""Reminder planning: queue each local hour's reminders into the outbox, once.

At the start of every local hour: check-in reminders for the members whose reminder hour it is
and who have not checked in, and one digest per member of their coupons about to expire or
burn. Every row has a dedupe key, so planning twice (two processes, a restart mid-plan, a
catch-up after downtime) never makes a second notice. The statements are constants; every
value, including the list of days a digest covers, is bound.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from loyalty.calendar import day_start, programme_day
from loyalty.coupons import next_burn
from loyalty.reminders import ReminderPolicy, hours_to_plan
from storage import daily
from storage.db import Conn, from_db, pick, to_db
from storage.outbox import PLANNED_PRIORITY
from storage.scheduler_runs import last_period, record_period
from storage.store import Store

JOB = "plan"  # the planner's hour cursor in scheduler_runs


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
    last = await last_period(store, JOB)
    zone = store.program.timezone
    for start in hours_to_plan(from_db(last) if last else None, store.now(), zone):
        counts = await plan_hour(store, policy, start, batch=batch)
        report.hours.append(start)
        report.queued.update(counts)
        await record_period(store, JOB, to_db(start))
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


@dataclass(frozen=True)
class _HourWalk:
    """The statements that walk one range of the hour index: the batch's last user, the insert."""

    edge: str
    insert: str


# Users who chose this hour, and (at the default hour) users who never chose: each a separate
# range of the hour index, walked by rowid, so neither needs an OR or a sort.
_CHOSEN_HOUR = _HourWalk(
    edge="""
SELECT u.telegram_user_id FROM telegram_users u
WHERE u.reminder_hour = :hour AND u.telegram_user_id > :after
ORDER BY u.telegram_user_id LIMIT 1 OFFSET :skip
""",
    insert="""
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT l.member_id, 'daily_checkin', 'daily_checkin:' || :day || ':' || l.member_id,
    :payload, :due, :now, :priority
FROM telegram_users u
JOIN telegram_links l ON l.telegram_user_id = u.telegram_user_id
JOIN members m ON m.member_id = l.member_id
WHERE u.reminder_hour = :hour AND u.telegram_user_id > :after AND u.telegram_user_id <= :upto
    AND u.remind_daily != 'off' AND u.reminders = 1 AND u.unreachable = 0
    AND (m.last_claim_day IS NULL OR m.last_claim_day < :claim_day)
ON CONFLICT (dedupe_key) DO NOTHING
""",
)
_DEFAULT_HOUR = _HourWalk(
    edge="""
SELECT u.telegram_user_id FROM telegram_users u
WHERE u.reminder_hour IS NULL AND u.telegram_user_id > :after
ORDER BY u.telegram_user_id LIMIT 1 OFFSET :skip
""",
    insert="""
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT l.member_id, 'daily_checkin', 'daily_checkin:' || :day || ':' || l.member_id,
    :payload, :due, :now, :priority
FROM telegram_users u
JOIN telegram_links l ON l.telegram_user_id = u.telegram_user_id
JOIN members m ON m.member_id = l.member_id
WHERE u.reminder_hour IS NULL AND u.telegram_user_id > :after AND u.telegram_user_id <= :upto
    AND u.remind_daily != 'off' AND u.reminders = 1 AND u.unreachable = 0
    AND (m.last_claim_day IS NULL OR m.last_claim_day < :claim_day)
ON CONFLICT (dedupe_key) DO NOTHING
""",
)


async def _plan_daily(
    store: Store, policy: ReminderPolicy, start: datetime, day: date, hour: int, batch: int
) -> int:
    """Queue check-in reminders for users whose hour this is, walking the hour index by rowid."""
    walks = [_CHOSEN_HOUR]
    if hour == policy.default_hour:
        walks.append(_DEFAULT_HOUR)
    params = {
        "hour": hour,
        "day": day.isoformat(),
        # The same day again under another name: PostgreSQL gives a parameter one type, and
        # :day is text in the dedupe key while this one is compared with a date column.
        "claim_day": day.isoformat(),
        "payload": json.dumps({"day": day.isoformat()}),
        "due": to_db(start),
        "priority": PLANNED_PRIORITY,
    }
    queued = 0
    for walk in walks:
        after = 0
        while True:
            edge = await store.db.read_one(walk.edge, {**params, "after": after, "skip": batch - 1})
            upto = edge[0] if edge else 2**63 - 1
            queued += await store.db.write(
                _insert_rows(store, walk.insert, {**params, "after": after, "upto": upto})
            )
            if edge is None:
                break
            after = upto
    return queued


# The members with an active coupon expiring in any of the digest's days: `:ranges` is a JSON
# array of [start, end) pairs, each one range of the partial expiry index.
_DIGEST_MEMBERS = """
SELECT DISTINCT c.member_id
FROM json_each(:ranges) j
JOIN coupons c ON c.status = 'active'
    AND c.expires_at >= j.value ->> 0 AND c.expires_at < j.value ->> 1
"""
# One digest per member of a chunk (`:members`, a JSON array), listing their active coupons in
# those days, for members whose reminder hour this is and who want the digest's category.
_DIGEST_INSERT = """
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT c.member_id, :kind, :kind || ':' || :day || ':' || c.member_id,
    json_object('day', :day, 'codes', json_group_array(c.code)), :due, :now, :priority
FROM json_each(:members) j
JOIN coupons c ON c.member_id = j.value AND c.status = 'active'
JOIN telegram_links l ON l.member_id = c.member_id
JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
WHERE c.burns = :burns
    AND EXISTS (SELECT 1 FROM json_each(:ranges)
                WHERE c.expires_at >= value ->> 0 AND c.expires_at < value ->> 1)
    AND COALESCE(u.reminder_hour, :default_hour) = :hour
    AND CASE :category WHEN 'expiry' THEN u.remind_expiry WHEN 'burn' THEN u.remind_burn END
        != 'off'
    AND u.reminders = 1 AND u.unreachable = 0
GROUP BY c.member_id
ON CONFLICT (dedupe_key) DO NOTHING
"""


_PG_DIGEST_MEMBERS = """
SELECT DISTINCT c.member_id
FROM jsonb_array_elements(CAST(:ranges AS jsonb)) AS j (value)
JOIN coupons c ON c.status = 'active'
    AND c.expires_at >= CAST(j.value ->> 0 AS timestamptz)
    AND c.expires_at < CAST(j.value ->> 1 AS timestamptz)
"""
_PG_DIGEST_INSERT = """
INSERT INTO outbox (member_id, kind, dedupe_key, payload, due_at, created_at, priority)
SELECT c.member_id, CAST(:kind AS text),
    CAST(:kind AS text) || ':' || CAST(:day AS text) || ':' || c.member_id,
    jsonb_build_object('day', CAST(:day AS text), 'codes', jsonb_agg(c.code)), :due, :now, :priority
FROM jsonb_array_elements_text(CAST(:members AS jsonb)) AS j (value)
JOIN coupons c ON c.member_id = j.value AND c.status = 'active'
JOIN telegram_links l ON l.member_id = c.member_id
JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
WHERE c.burns = :burns
    AND EXISTS (SELECT 1 FROM jsonb_array_elements(CAST(:ranges AS jsonb)) AS r (value)
                WHERE c.expires_at >= CAST(r.value ->> 0 AS timestamptz)
                    AND c.expires_at < CAST(r.value ->> 1 AS timestamptz))
    AND COALESCE(u.reminder_hour, :default_hour) = :hour
    AND CASE CAST(:category AS text) WHEN 'expiry' THEN u.remind_expiry
        WHEN 'burn' THEN u.remind_burn END != 'off'
    AND u.reminders = 1 AND u.unreachable = 0
GROUP BY c.member_id
ON CONFLICT (dedupe_key) DO NOTHING
"""


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
    days = json.dumps(ranges)
    dialect = store.db.dialect
    find = pick(dialect, _DIGEST_MEMBERS, _PG_DIGEST_MEMBERS)
    insert = pick(dialect, _DIGEST_INSERT, _PG_DIGEST_INSERT)
    members = [row[0] for row in await store.db.read(find, {"ranges": days})]
    params = {
        "ranges": days,
        "kind": kind,
        "category": category,
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
        queued += await store.db.write(_insert_rows(store, insert, {**params, "members": chunk}))
    return queued


def _insert_rows(store: Store, sql: str, params: dict[str, Any]) -> Callable[[Conn], int]:
    """Return a write body that runs one planning insert (stamped now) and counts its rows."""

    def insert(conn: Conn) -> int:
        cursor = conn.execute(sql, {**params, "now": to_db(store.now())})
        return max(cursor.rowcount, 0)

    return insert
