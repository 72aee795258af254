"""The start of a programme day: the yearly burn, coupon expiry, level recompute, retention.

Run once per programme day, just after midnight in the programme's time zone; each step is its
own idempotent operation, in the module that owns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from loyalty.calendar import programme_day
from storage import connectors, coupons, members, retention, sends
from storage.retention import Retention
from storage.scheduler_runs import last_period, record_period
from storage.store import Store

JOB = "day_start"  # the last day started, in scheduler_runs


@dataclass(frozen=True)
class DayStart:
    """What the start-of-day work did."""

    day: date
    burned: int
    expired: int
    level_changes: int
    pruned: int


async def start_day(store: Store, keep: Retention = retention.DEFAULT) -> DayStart | None:
    """Once per programme day: burn, expire coupons, recompute levels, prune by `keep`.

    Each step is its own idempotent operation; the day is recorded only when all are done, so
    a crash part-way repeats the steps (harmlessly) on the next run. Returns None if today's
    work was already done.
    """
    now = store.now()
    today = programme_day(store.program, now)
    if await last_period(store, JOB) == today.isoformat():
        return None
    # The burn first: after the end of the burn day every burning coupon is burned, not expired.
    burned = await coupons.burn(store)
    expired = await coupons.expire(store)
    changes = await members.recompute_levels(store)
    pruned = (await retention.prune(store, keep)).total
    pruned += await sends.prune(store, now - sends.KEEP_SETTLED)
    pruned += await connectors.prune(store, now - connectors.KEEP_DELIVERIES)
    await record_period(store, JOB, today.isoformat())
    return DayStart(today, burned, expired["expired"] + expired["burned"], len(changes), pruned)
