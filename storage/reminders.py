"""Reminders: member settings, planning due reminders into the outbox, claiming and settling rows.

Every notice is an outbox row with a dedupe key, so planning twice (two processes, a restart
mid-plan, a catch-up after downtime) never makes a second notice. A sender *claims* due rows
(`claimed_until`, `claim_id`) in one transaction, so two overlapping runs never hold the same
row; a run that dies leaves its claim to expire and the rows are sent by the next run.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from loyalty.calendar import day_start, programme_day
from loyalty.coupons import expired_cutoff, next_burn
from loyalty.reminders import (
    CATEGORIES,
    MODES,
    DailyOffer,
    ReminderPolicy,
    category_of,
    daily_offer,
    hours_to_plan,
    quiet_until,
)
from storage import coupons, daily, members, telegram_users
from storage.db import Row, Tx, from_db, to_db
from storage.errors import Invalid
from storage.store import Store

PLANNED_PRIORITY = 1  # account notices keep the outbox default, 0: they go first
MAX_ATTEMPTS = 5
KEEP_SETTLED = timedelta(days=30)  # sent and skipped rows are kept this long, then pruned
NO_QUIET = (0, 0)


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """A Telegram user's language and reminder choices (None = the configured default)."""

    telegram_user_id: int
    language: str | None
    modes: Mapping[str, str]
    hour: int | None
    quiet_start: int | None
    quiet_end: int | None
    paused: bool

    def reminder_hour(self, policy: ReminderPolicy) -> int:
        """Return the hour reminders come at."""
        return policy.default_hour if self.hour is None else self.hour

    def quiet(self, policy: ReminderPolicy) -> tuple[int, int]:
        """Return the quiet hours as (start, end) minutes; equal values mean none."""
        if self.quiet_start is None or self.quiet_end is None:
            return policy.quiet_start, policy.quiet_end
        return self.quiet_start, self.quiet_end


_MODE_COLUMNS = ", ".join(f"remind_{c}" for c in CATEGORIES)


async def settings(store: Store, telegram_user_id: int) -> Settings:
    """Return a Telegram user's settings (defaults for a user never seen)."""
    row = await store.db.read_one(
        f"SELECT language, reminders, reminder_hour, quiet_start, quiet_end, {_MODE_COLUMNS}"
        " FROM telegram_users WHERE telegram_user_id = ?",
        (telegram_user_id,),
    )
    if row is None:
        return Settings(telegram_user_id, None, dict.fromkeys(CATEGORIES, "on"), None, None,
                        None, False)  # fmt: skip
    return Settings(
        telegram_user_id=telegram_user_id,
        language=row["language"],
        modes={c: row[f"remind_{c}"] for c in CATEGORIES},
        hour=row["reminder_hour"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        paused=not row["reminders"],
    )


Quiet = tuple[int, int] | Literal["default", "off"]


async def change_settings(
    store: Store,
    telegram_user_id: int,
    *,
    mode: tuple[str, str] | None = None,
    hour: int | None = None,
    quiet: Quiet | None = None,
    quiet_start: int | None = None,
    quiet_end: int | None = None,
    policy: ReminderPolicy | None = None,
    paused: bool | None = None,
) -> Settings:
    """Change reminder settings; arguments left None stay as they are. Raise Invalid on bad ones.

    `quiet` sets both ends ("default" follows the config, "off" means none); `quiet_start` or
    `quiet_end` moves one end, starting from the `policy` default if the user had none.
    """
    sets: dict[str, object] = {}
    if mode is not None:
        category, value = mode
        if category not in CATEGORIES or value not in MODES:
            raise Invalid(f"no reminder setting {category}={value}")
        sets[f"remind_{category}"] = value
    if hour is not None:
        if not 0 <= hour <= 23:
            raise Invalid("the reminder hour must be 0..23")
        sets["reminder_hour"] = hour
    if quiet == "default":
        sets["quiet_start"] = sets["quiet_end"] = None
    elif quiet == "off":
        sets["quiet_start"], sets["quiet_end"] = NO_QUIET
    elif quiet is not None:
        sets["quiet_start"], sets["quiet_end"] = _check_minutes(*quiet)
    if paused is not None:
        sets["reminders"] = int(not paused)
    now = to_db(store.now())

    async def change(tx: Tx) -> None:
        await telegram_users.ensure(tx, telegram_user_id, now)
        if quiet_start is not None or quiet_end is not None:
            current = await tx.execute_fetchall(
                "SELECT quiet_start, quiet_end FROM telegram_users WHERE telegram_user_id = ?",
                (telegram_user_id,),
            )
            row = next(iter(current))
            base = policy or ReminderPolicy()
            start = row[0] if row[0] is not None else base.quiet_start
            end = row[1] if row[1] is not None else base.quiet_end
            if (row[0], row[1]) == NO_QUIET:  # from "none", one end picked starts a window
                start, end = base.quiet_start, base.quiet_end
            start = quiet_start if quiet_start is not None else start
            end = quiet_end if quiet_end is not None else end
            sets["quiet_start"], sets["quiet_end"] = _check_minutes(start, end)
        if sets:
            assignments = ", ".join(f"{column} = ?" for column in sets)
            await tx.execute(
                f"UPDATE telegram_users SET {assignments}, updated_at = ?"
                " WHERE telegram_user_id = ?",
                (*sets.values(), now, telegram_user_id),
            )

    await store.db.write(change)
    return await settings(store, telegram_user_id)


def _check_minutes(start: int, end: int) -> tuple[int, int]:
    for value in (start, end):
        if not 0 <= value < 24 * 60:
            raise Invalid("quiet hours are minutes after midnight, 0..1439")
    return start, end


# -- the scheduler's progress -----------------------------------------------------------------


async def last_period(store: Store, job: str) -> str | None:
    """Return the last period (hour or day) a scheduled job completed, or None."""
    row = await store.db.read_one("SELECT period FROM scheduler_runs WHERE job = ?", (job,))
    return row[0] if row else None


async def record_period(store: Store, job: str, period: str) -> None:
    """Record that a scheduled job completed `period`."""

    async def record(tx: Tx) -> None:
        await tx.execute(
            "INSERT INTO scheduler_runs (job, period, done_at) VALUES (?, ?, ?)"
            " ON CONFLICT (job) DO UPDATE SET period = excluded.period, done_at = excluded.done_at",
            (job, period, to_db(store.now())),
        )

    await store.db.write(record)


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


# -- claiming due notices ---------------------------------------------------------------------


@dataclass(frozen=True)
class CouponLine:
    """A coupon listed in a digest, as it stands when the digest is sent."""

    code: str
    value_cents: int
    expires_at: datetime


@dataclass(frozen=True)
class Notice:
    """A claimed notice, with everything needed to render and send it."""

    id: int
    member_id: str
    kind: str
    telegram_user_id: int
    language: str | None
    telegram_language: str | None
    silent: bool
    payload: Mapping[str, Any]
    due_at: datetime
    daily: DailyOffer | None = None
    coupons: tuple[CouponLine, ...] = ()


@dataclass
class Claim:
    """One claimed batch: what to send now, and what was skipped or deferred instead."""

    claim_id: str
    lease_until: datetime
    notices: list[Notice] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: int = 0
    query_seconds: float = 0.0  # the due-row query alone (benchmarks report it)

    @property
    def touched(self) -> int:
        """Return how many due rows this claim handled (sent or not)."""
        return len(self.notices) + sum(self.skipped.values()) + self.deferred


# Due rows: account notices first, each priority an exact range of the partial index, so only
# rows that are due (and not held by another run) are read.
_DUE_IDS = " UNION ALL ".join(
    f"""SELECT id FROM (SELECT id FROM outbox WHERE status = 'pending' AND priority = {p}
        AND due_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)
        ORDER BY due_at LIMIT :limit)"""
    for p in (0, PLANNED_PRIORITY)
)
_CLAIM_SQL = f"""
SELECT o.id, o.member_id, o.kind, o.payload, o.due_at, o.attempts, l.telegram_user_id,
    u.telegram_user_id IS NOT NULL AS known, u.language, u.telegram_language,
    COALESCE(u.reminders, 1) AS master, COALESCE(u.unreachable, 0) AS unreachable,
    {", ".join(f"u.remind_{c}" for c in CATEGORIES)}, u.quiet_start, u.quiet_end,
    m.last_claim_day, m.coin_streak
FROM (SELECT id FROM ({_DUE_IDS}) LIMIT :limit) d
JOIN outbox o ON o.id = d.id
JOIN members m ON m.member_id = o.member_id
LEFT JOIN telegram_links l ON l.member_id = o.member_id
LEFT JOIN telegram_users u ON u.telegram_user_id = l.telegram_user_id
"""


async def claim(
    store: Store,
    policy: ReminderPolicy,
    claim_id: str,
    *,
    limit: int = 500,
    lease: timedelta = timedelta(minutes=2),
) -> Claim:
    """Claim up to `limit` due notices for `lease`, settling the ones that must not be sent.

    In the same transaction: a notice for an unlinked, unreachable or opted-out member, or one
    that is no longer true (checked in meanwhile, coupons used or expired, a check-in reminder
    from another day) is skipped; one inside the member's quiet hours is deferred to their end.
    """
    program = store.program
    zone = program.timezone

    async def take(tx: Tx) -> Claim:
        now = store.now()
        today = programme_day(program, now)
        result = Claim(claim_id=claim_id, lease_until=now + lease)
        started = time.perf_counter()
        rows = list(await tx.execute_fetchall(_CLAIM_SQL, {"now": to_db(now), "limit": limit}))
        result.query_seconds = time.perf_counter() - started
        lines = await _coupon_lines(tx, rows, now)
        skips: list[tuple[str, int]] = []
        defers: list[tuple[str, int]] = []
        claimed: list[int] = []
        for row in rows:
            payload = json.loads(row["payload"])
            reason, offer = _skip_reason(store, row, payload, today)
            listed: tuple[CouponLine, ...] = ()
            if reason is None and row["kind"] in ("coupon_expiry", "coupon_burn"):
                listed = tuple(lines[c] for c in payload.get("codes", []) if c in lines)
                reason = None if listed else "no_longer_true"
            if reason is None:
                start, end = _quiet(row, policy)
                until = quiet_until(now, zone, start, end)
                if until is not None:
                    if row["kind"] == "daily_checkin" and programme_day(program, until) != today:
                        reason = "stale"
                    else:
                        defers.append((to_db(until), row["id"]))
                        continue
            if reason is not None:
                skips.append((reason, row["id"]))
                result.skipped[reason] += 1
                continue
            mode = row[f"remind_{category_of(row['kind'])}"] or "on"
            claimed.append(row["id"])
            result.notices.append(
                Notice(
                    id=row["id"],
                    member_id=row["member_id"],
                    kind=row["kind"],
                    telegram_user_id=row["telegram_user_id"],
                    language=row["language"],
                    telegram_language=row["telegram_language"],
                    silent=mode == "silent",
                    payload=payload,
                    due_at=from_db(row["due_at"]),
                    daily=offer,
                    coupons=listed,
                )
            )
        if claimed:
            await tx.execute(
                "UPDATE outbox SET claimed_until = ?, claim_id = ?, attempts = attempts + 1"
                " WHERE id IN (SELECT value FROM json_each(?))",
                (to_db(result.lease_until), claim_id, json.dumps(claimed)),
            )
        if skips:
            status = {"attempts": "failed"}
            await tx.executemany(
                "UPDATE outbox SET status = ?, outcome = ?, claimed_until = NULL WHERE id = ?",
                [(status.get(reason, "skipped"), reason, id_) for reason, id_ in skips],
            )
        if defers:
            await tx.executemany("UPDATE outbox SET due_at = ? WHERE id = ?", defers)
            result.deferred = len(defers)
        return result

    return await store.db.write(take)


def _skip_reason(
    store: Store, row: Row, payload: Mapping[str, Any], today: date
) -> tuple[str | None, DailyOffer | None]:
    """Return why a due row must not be sent (or None), and a check-in reminder's offer."""
    if row["telegram_user_id"] is None:
        return "unlinked", None
    if row["unreachable"]:
        return "unreachable", None
    if row["attempts"] >= MAX_ATTEMPTS:
        return "attempts", None
    mode = row[f"remind_{category_of(row['kind'])}"] or "on"
    if not row["master"] or mode == "off":
        return "off", None
    if row["kind"] != "daily_checkin":
        return None, None
    if payload.get("day") != today.isoformat():
        return "stale", None
    last = date.fromisoformat(row["last_claim_day"]) if row["last_claim_day"] else None
    offer = daily_offer(store.program, last, row["coin_streak"], today)
    return ("no_longer_true", None) if offer is None else (None, offer)


def _quiet(row: Row, policy: ReminderPolicy) -> tuple[int, int]:
    if row["quiet_start"] is None or row["quiet_end"] is None:
        return policy.quiet_start, policy.quiet_end
    return row["quiet_start"], row["quiet_end"]


async def _coupon_lines(tx: Tx, rows: Iterable[Row], now: datetime) -> dict[str, CouponLine]:
    """Return the digests' coupons that are still usable now, by code (one query per batch)."""
    codes = [
        code
        for row in rows
        if row["kind"] in ("coupon_expiry", "coupon_burn")
        for code in json.loads(row["payload"]).get("codes", [])
    ]
    if not codes:
        return {}
    found = await tx.execute_fetchall(
        "SELECT code, value_cents, expires_at FROM coupons WHERE code IN"
        " (SELECT value FROM json_each(?)) AND status = 'active' AND expires_at > ?",
        (json.dumps(codes), to_db(expired_cutoff(now))),
    )
    return {
        r["code"]: CouponLine(r["code"], r["value_cents"], from_db(r["expires_at"])) for r in found
    }


# -- settling claimed notices -----------------------------------------------------------------


async def mark_sent(store: Store, claim_id: str, ids: list[int]) -> int:
    """Mark claimed notices sent (only while this claim holds them); return how many."""
    if not ids:
        return 0

    async def mark(tx: Tx) -> int:
        cursor = await tx.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, claimed_until = NULL"
            " WHERE claim_id = ? AND status = 'pending' AND id IN (SELECT value FROM json_each(?))",
            (to_db(store.now()), claim_id, json.dumps(ids)),
        )
        return max(cursor.rowcount, 0)

    return await store.db.write(mark)


async def release(store: Store, claim_id: str, ids: list[int], not_before: datetime) -> None:
    """Give claimed notices back, to be sent by a later run no sooner than `not_before`."""
    if not ids:
        return

    async def give_back(tx: Tx) -> None:
        await tx.execute(
            "UPDATE outbox SET claimed_until = ? WHERE claim_id = ? AND status = 'pending'"
            " AND id IN (SELECT value FROM json_each(?))",
            (to_db(not_before), claim_id, json.dumps(ids)),
        )

    await store.db.write(give_back)


async def settle(store: Store, claim_id: str, notice_id: int, status: str, outcome: str) -> None:
    """Close a claimed notice that will never be sent ('skipped' or 'failed') and say why."""
    if status not in ("skipped", "failed"):
        raise Invalid(f"cannot settle a notice as {status!r}")

    async def close(tx: Tx) -> None:
        await tx.execute(
            "UPDATE outbox SET status = ?, outcome = ?, claimed_until = NULL"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (status, outcome[:200], notice_id, claim_id),
        )

    await store.db.write(close)


async def blocked(store: Store, claim_id: str, notice_id: int, telegram_user_id: int) -> None:
    """The user blocked the bot: mark them unreachable and skip the notice, in one transaction."""
    now = to_db(store.now())

    async def mark(tx: Tx) -> None:
        await tx.execute(
            "UPDATE telegram_users SET unreachable = 1, updated_at = ? WHERE telegram_user_id = ?",
            (now, telegram_user_id),
        )
        await tx.execute(
            "UPDATE outbox SET status = 'skipped', outcome = 'blocked', claimed_until = NULL"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (notice_id, claim_id),
        )

    await store.db.write(mark)


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
    pruned = await prune(store, now - KEEP_SETTLED)
    await record_period(store, "day_start", today.isoformat())
    return DayStart(today, burned, expired["expired"] + expired["burned"], len(changes), pruned)


async def prune(store: Store, before: datetime, *, batch: int = 5_000) -> int:
    """Delete settled (sent, skipped, failed) outbox rows created before `before`."""
    total = 0

    async def delete(tx: Tx) -> int:
        cursor = await tx.execute(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE status != 'pending'"
            " AND created_at < ? LIMIT ?)",
            (to_db(before), batch),
        )
        return max(cursor.rowcount, 0)

    while True:
        deleted = await store.db.write(delete)
        total += deleted
        if deleted < batch:
            return total


# -- reading the outbox (tests, the CLI, support) ---------------------------------------------


async def outbox_rows(store: Store, member_id: str | None = None) -> list[dict[str, Any]]:
    """Return outbox rows (all, or one member's), oldest first, as dicts."""
    rows = await store.db.read(
        "SELECT id, member_id, kind, dedupe_key, payload, due_at, status, attempts,"
        " claimed_until, claim_id, outcome, sent_at, priority FROM outbox"
        + (" WHERE member_id = ?" if member_id else "")
        + " ORDER BY id",
        (member_id,) if member_id else (),
    )
    return [dict(r) for r in rows]
