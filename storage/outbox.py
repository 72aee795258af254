"""The outbox: notices for members, queued with the change they announce, claimed, settled, pruned.

A notice is queued in the transaction of the change it announces (`notify`) or by reminder
planning, always with a dedupe key. A sender *claims* due rows (`claimed_until`, `claim_id`)
in one transaction, so two overlapping runs never hold the same row; a run that dies leaves its
claim to expire and the rows are sent by the next run. Each claimed row is then marked sent,
given back, or settled with the reason it will never be sent; settled rows are pruned later.

Nobody hears a notice twice: a sender records that it starts sending a row (`mark_sending`,
in small group commits) before the message goes. A row whose claim died with that mark set
may or may not have reached the member; the next claim skips it as `uncertain` instead of
sending it again. A crash thus loses at most the messages in flight at that moment.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from loyalty.calendar import programme_day
from loyalty.coupons import expired_cutoff
from loyalty.reminders import (
    ANSWERS,
    DailyOffer,
    ReminderPolicy,
    category_of,
    daily_offer,
    quiet_until,
)
from storage.db import Conn, Row, from_db, ids_in, texts_in, to_db
from storage.errors import Invalid
from storage.store import Store

PLANNED_PRIORITY = 1  # account notices keep the outbox default, 0: they go first
MAX_ATTEMPTS = 5
KEEP_SETTLED = timedelta(days=30)  # sent and skipped rows are kept this long, then pruned


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


# Due rows: account notices (priority 0) first, then planned reminders, each priority an exact
# range of the partial index, so only rows that are due (and not held by another run) are read.
_CLAIM_SQL = """
SELECT o.id, o.member_id, o.kind, o.payload, o.due_at, o.attempts, o.sending_at,
    l.telegram_user_id,
    u.telegram_user_id IS NOT NULL AS known, u.language, u.telegram_language,
    COALESCE(u.reminders, 1) AS master, COALESCE(u.unreachable, 0) AS unreachable,
    u.remind_daily, u.remind_expiry, u.remind_burn, u.remind_account, u.quiet_start, u.quiet_end,
    m.last_claim_day, m.coin_streak
FROM (SELECT id FROM (
    SELECT id FROM (SELECT id FROM outbox WHERE status = 'pending' AND priority = 0
        AND due_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)
        ORDER BY due_at LIMIT :limit) AS urgent
    UNION ALL
    SELECT id FROM (SELECT id FROM outbox WHERE status = 'pending' AND priority = :planned
        AND due_at <= :now AND (claimed_until IS NULL OR claimed_until <= :now)
        ORDER BY due_at LIMIT :limit) AS planned
) AS due LIMIT :limit) d
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

    def take(conn: Conn) -> Claim:
        now = store.now()
        today = programme_day(program, now)
        result = Claim(claim_id=claim_id, lease_until=now + lease)
        started = time.perf_counter()
        rows = conn.execute(
            _CLAIM_SQL, {"now": to_db(now), "limit": limit, "planned": PLANNED_PRIORITY}
        ).fetchall()
        result.query_seconds = time.perf_counter() - started
        lines = _coupon_lines(conn, rows, now)
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
            if reason is None and row["kind"] not in ANSWERS:
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
            conn.execute(
                "UPDATE outbox SET claimed_until = ?, claim_id = ?, attempts = attempts + 1"
                f" WHERE id IN {ids_in(conn)}",
                (to_db(result.lease_until), claim_id, json.dumps(claimed)),
            )
        if skips:
            status = {"attempts": "failed"}
            conn.executemany(
                "UPDATE outbox SET status = ?, outcome = ?, claimed_until = NULL WHERE id = ?",
                [(status.get(reason, "skipped"), reason, id_) for reason, id_ in skips],
            )
        if defers:
            conn.executemany("UPDATE outbox SET due_at = ? WHERE id = ?", defers)
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
    if row["sending_at"] is not None:
        return "uncertain", None  # a dead run may have sent it: never twice
    if row["attempts"] >= MAX_ATTEMPTS:
        return "attempts", None
    mode = row[f"remind_{category_of(row['kind'])}"] or "on"
    if (not row["master"] or mode == "off") and row["kind"] not in ANSWERS:
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


def _coupon_lines(conn: Conn, rows: Iterable[Row], now: datetime) -> dict[str, CouponLine]:
    """Return the digests' coupons that are still usable now, by code (one query per batch)."""
    codes = [
        code
        for row in rows
        if row["kind"] in ("coupon_expiry", "coupon_burn")
        for code in json.loads(row["payload"]).get("codes", [])
    ]
    if not codes:
        return {}
    found = conn.execute(
        f"SELECT code, value_cents, expires_at FROM coupons WHERE code IN {texts_in(conn)}"
        " AND status = 'active' AND expires_at > ?",
        (json.dumps(codes), to_db(expired_cutoff(now))),
    ).fetchall()
    return {
        r["code"]: CouponLine(r["code"], r["value_cents"], from_db(r["expires_at"])) for r in found
    }


# -- settling claimed notices -----------------------------------------------------------------


async def mark_sent(store: Store, claim_id: str, ids: list[int]) -> int:
    """Mark claimed notices sent (only while this claim holds them); return how many."""
    if not ids:
        return 0

    def mark(conn: Conn) -> int:
        cursor = conn.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?, claimed_until = NULL"
            f" WHERE claim_id = ? AND status = 'pending' AND id IN {ids_in(conn)}",
            (to_db(store.now()), claim_id, json.dumps(ids)),
        )
        return max(cursor.rowcount, 0)

    return await store.db.write(mark)


async def mark_sending(store: Store, claim_id: str, ids: list[int]) -> int:
    """Record that claimed notices are about to be sent; return how many this claim holds."""
    if not ids:
        return 0

    def mark(conn: Conn) -> int:
        # The id list in the same form as mark_sent's and release's (a JSON array).
        cursor = conn.execute(
            "UPDATE outbox SET sending_at = ? WHERE claim_id = ? AND status = 'pending'"
            f" AND id IN {ids_in(conn)}",
            (to_db(store.now()), claim_id, json.dumps(ids)),
        )
        return max(cursor.rowcount, 0)

    return await store.db.write(mark)


async def release(store: Store, claim_id: str, ids: list[int], not_before: datetime) -> None:
    """Give claimed notices back, to be sent by a later run no sooner than `not_before`.

    Their sending marks are cleared: the sender knows they did not go (or chose to repeat
    them, when Telegram could not be reached).
    """
    if not ids:
        return

    def give_back(conn: Conn) -> None:
        conn.execute(
            "UPDATE outbox SET claimed_until = ?, sending_at = NULL"
            " WHERE claim_id = ? AND status = 'pending'"
            f" AND id IN {ids_in(conn)}",
            (to_db(not_before), claim_id, json.dumps(ids)),
        )

    await store.db.write(give_back)


async def settle(store: Store, claim_id: str, notice_id: int, status: str, outcome: str) -> None:
    """Close a claimed notice that will never be sent ('skipped' or 'failed') and say why."""
    if status not in ("skipped", "failed"):
        raise Invalid(f"cannot settle a notice as {status!r}")

    def close(conn: Conn) -> None:
        conn.execute(
            "UPDATE outbox SET status = ?, outcome = ?, claimed_until = NULL"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (status, outcome[:200], notice_id, claim_id),
        )

    await store.db.write(close)


async def blocked(store: Store, claim_id: str, notice_id: int, telegram_user_id: int) -> None:
    """The user blocked the bot: mark them unreachable and skip the notice, in one transaction."""
    now = to_db(store.now())

    def mark(conn: Conn) -> None:
        conn.execute(
            "UPDATE telegram_users SET unreachable = 1, updated_at = ? WHERE telegram_user_id = ?",
            (now, telegram_user_id),
        )
        conn.execute(
            "UPDATE outbox SET status = 'skipped', outcome = 'blocked', claimed_until = NULL"
            " WHERE id = ? AND claim_id = ? AND status = 'pending'",
            (notice_id, claim_id),
        )

    await store.db.write(mark)


async def prune(store: Store, before: datetime, *, batch: int = 5_000) -> int:
    """Delete settled (sent, skipped, failed) outbox rows created before `before`."""
    total = 0

    def delete(conn: Conn) -> int:
        cursor = conn.execute(
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
