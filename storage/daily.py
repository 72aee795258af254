"""The daily check-in: coins by streak plus the daily-visit points, once a programme day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from loyalty.calendar import next_day_start, programme_day
from loyalty.earning import coins_for_streak_day, next_streak
from storage.db import Conn, to_db
from storage.errors import NotFound, Refused
from storage.ledger import post
from storage.members import LevelChange, check_member_id, credit_earning, refresh_level
from storage.store import Store


@dataclass(frozen=True)
class Claim:
    """The answer to a check-in: what it paid, or that today's was already claimed."""

    claimed: bool
    coins: int
    points: int
    streak: int
    coins_balance: int
    points_balance: int
    tomorrow_coins: int
    next_claim_at: datetime
    level_change: LevelChange | None = None


def enabled(store: Store) -> bool:
    """Tell whether the programme pays anything for a daily check-in."""
    return store.program.coins.enabled or store.program.earning.daily_checkin_points > 0


async def claim(store: Store, member_id: str) -> Claim:
    """Claim today's coins and points once; later claims the same day report when to return."""
    check_member_id(member_id)
    if not enabled(store):
        raise Refused("this programme has no daily check-in", code="disabled")
    program = store.program

    def claim_today(conn: Conn) -> Claim:
        now = store.now()
        today = programme_day(program, now)
        next_at = next_day_start(program, now)
        row = conn.execute(
            "SELECT points, coins, coin_streak, last_claim_day FROM members WHERE member_id = ?",
            (member_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
        last = date.fromisoformat(row["last_claim_day"]) if row["last_claim_day"] else None
        if last == today:
            return Claim(
                claimed=False,
                coins=0,
                points=0,
                streak=row["coin_streak"],
                coins_balance=row["coins"],
                points_balance=row["points"],
                tomorrow_coins=coins_for_streak_day(program, row["coin_streak"] + 1),
                next_claim_at=next_at,
            )
        streak = next_streak(last, row["coin_streak"], today)
        coins = coins_for_streak_day(program, streak)
        key = f"daily:{member_id}:{today.isoformat()}"
        coins_balance = row["coins"]
        if coins:
            posting = post(
                conn, member_id, "coins", coins, "daily_coins", now, idem_key=key + ":coins"
            )
            coins_balance = posting.balance_after
        points = credit_earning(
            conn, member_id, program.earning.daily_checkin_points, "daily_checkin", now,
            idem_key=key + ":points",
        )  # fmt: skip
        conn.execute(
            "UPDATE members SET coin_streak = ?, last_claim_day = ?, updated_at = ?"
            " WHERE member_id = ?",
            (streak, today.isoformat(), to_db(now), member_id),
        )
        change = refresh_level(conn, store, member_id, now) if points else None
        return Claim(
            claimed=True,
            coins=coins,
            points=points,
            streak=streak,
            coins_balance=coins_balance,
            points_balance=row["points"] + points,
            tomorrow_coins=coins_for_streak_day(program, streak + 1),
            next_claim_at=next_at,
            level_change=change,
        )

    return await store.db.write(claim_today)
