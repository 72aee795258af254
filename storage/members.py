"""Members: registration, e-mail verification, referral bonuses, standing and level changes."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from loyalty.calendar import day_after_start, programme_day
from loyalty.coupons import next_burn
from loyalty.levels import NextLevel, Standing, climb, tier_for, window_start
from loyalty.program import Tier
from storage import outbox
from storage.db import Conn, Row, from_db, to_db
from storage.errors import Invalid, NotFound
from storage.ledger import post
from storage.store import Store

MAX_ID_LENGTH = 128
# Ids the shop API addresses in a path (members, holds) never contain "/": the HTTP layer
# decodes %2F before routing, so such an id could be created but never reached again. The
# OpenAPI document says the same with this pattern (any character but "/", one not a space).
ADDRESSABLE_ID_PATTERN = r"^[^/]*[^/\s][^/]*$"

# Standing in one query: the level-relevant facts of one member. Each aggregate is read from
# an index alone (migrations 0005, 0008): ledger (member_id, counted_at, level_points) WHERE
# level_points != 0 for the points, orders (member_id, status, delivered_at, amount_cents,
# refunded_cents) for the spend and the best order, both net of partial refunds.
_STANDING_SQL = """
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


@dataclass(frozen=True)
class LevelChange:
    """A member moved from one level to another."""

    member_id: str
    old_code: str
    new_code: str
    up: bool


@dataclass(slots=True)
class MemberView:
    """Everything a member, an agent or the shop sees about a member, read in one go.

    Not frozen: it is built on every lookup, and a frozen dataclass pays for each field.
    """

    member_id: str
    name: str | None
    email: str | None
    language: str | None
    email_verified: bool
    points: int
    points_held: int
    coins: int
    tier: Tier
    next: NextLevel | None
    standing: Standing
    telegram_user_id: int | None
    coin_streak: int
    last_claim_day: date | None
    coupons_today: int
    exchanges_left_today: int
    day_resets_at: datetime
    next_burn_at: datetime | None
    created_at: datetime

    @property
    def telegram_linked(self) -> bool:
        """Tell whether a Telegram account is linked."""
        return self.telegram_user_id is not None


def check_member_id(member_id: object, what: str = "member_id") -> str:
    """Return a usable id or raise Invalid: non-empty text, at most 128 characters."""
    if not isinstance(member_id, str) or not member_id.strip():
        raise Invalid(f"{what} must be a non-empty string")
    if len(member_id) > MAX_ID_LENGTH:
        raise Invalid(f"{what} is longer than {MAX_ID_LENGTH} characters")
    return member_id


def check_addressable_id(value: object, what: str = "member_id") -> str:
    """Return an id the API can address in a path, or raise Invalid (see check_member_id)."""
    checked = check_member_id(value, what)
    if "/" in checked:
        raise Invalid(f'{what} must not contain "/"')
    return checked


def standing_from_row(row: Row) -> Standing:
    """Build a Standing from a row selected with the standing columns."""
    return Standing(
        points=row["level_points"],
        spend_cents=row["spend_cents"],
        email_verified=bool(row["email_verified"]),
        best_delivered_order_cents=row["best_order_cents"],
    )


# "Since the beginning": a real instant, not '', so it compares as a timestamp on PostgreSQL.
_BEGINNING = to_db(datetime.min.replace(tzinfo=UTC))


def _since(store: Store, now: datetime) -> str:
    start = window_start(store.program, now)
    return to_db(start) if start else _BEGINNING


def standing_row(conn: Conn, store: Store, member_id: str) -> Row:
    """Read a member's row with their standing inside a transaction, or raise NotFound."""
    row = conn.execute(
        _STANDING_SQL + " FROM members m WHERE m.member_id = :member_id",
        {"since": _since(store, store.now()), "member_id": member_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
    return row


async def read_standing(store: Store, member_id: str) -> Row:
    """Read a member's row with their standing on the reader connection, or raise NotFound."""
    row = await store.db.read_one(
        _STANDING_SQL + " FROM members m WHERE m.member_id = :member_id",
        {"since": _since(store, store.now()), "member_id": member_id},
    )
    if row is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
    return row


def refresh_level(conn: Conn, store: Store, member_id: str, now: datetime) -> LevelChange | None:
    """Recompute a member's level after a change; store it, queue a notice, report the change."""
    row = standing_row(conn, store, member_id)
    return _store_level(conn, store, member_id, row["level_code"], standing_from_row(row), now)


def _store_level(
    conn: Conn,
    store: Store,
    member_id: str,
    old_code: str,
    standing: Standing,
    now: datetime,
) -> LevelChange | None:
    tiers = store.program.levels.tiers
    new = tier_for(store.program, standing)
    if new.code == old_code:
        return None
    old = store.program.levels.by_code(old_code)
    up = old is None or tiers.index(new) > tiers.index(old)
    conn.execute(
        "UPDATE members SET level_code = ?, updated_at = ? WHERE member_id = ?",
        (new.code, to_db(now), member_id),
    )
    outbox.notify(
        conn,
        member_id,
        "level_changed",
        f"level:{member_id}:{new.code}:{to_db(now)}",
        {"old": old_code, "new": new.code, "up": up},
        now,
    )
    return LevelChange(member_id=member_id, old_code=old_code, new_code=new.code, up=up)


def credit_earning(
    conn: Conn,
    member_id: str,
    points: int,
    reason: str,
    now: datetime,
    *,
    ref: str | None = None,
    idem_key: str | None = None,
    counted_at: datetime | None = None,
    note: str | None = None,
    occurred_at: datetime | None = None,
) -> int:
    """Credit earned points that also count toward the level; return the points credited.

    An earning happens when it counts (an order's delivery, a review) unless told otherwise.
    """
    if points <= 0:
        return 0
    post(
        conn, member_id, "points", points, reason, now,
        ref=ref, idem_key=idem_key, level_points=points, counted_at=counted_at, note=note,
        occurred_at=occurred_at or counted_at,
    )  # fmt: skip
    return points


@dataclass(frozen=True)
class UpsertResult:
    """What registering or updating a member did."""

    member_id: str
    created: bool
    level_changes: list[LevelChange]


async def upsert(
    store: Store,
    member_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    language: str | None = None,
    referred_by: str | None = None,
) -> UpsertResult:
    """Create or update a member; a new member's referrer (an existing member) gets their bonus."""
    check_addressable_id(member_id)
    if referred_by is not None:
        check_addressable_id(referred_by, "referred_by")
        if referred_by == member_id:
            raise Invalid("a member cannot refer themselves")

    def register(conn: Conn) -> UpsertResult:
        return upsert_in(
            conn, store, member_id, email=email, name=name, language=language,
            referred_by=referred_by,
        )  # fmt: skip

    return await store.db.write(register)


def upsert_in(
    conn: Conn,
    store: Store,
    member_id: str,
    *,
    email: str | None,
    name: str | None,
    language: str | None,
    referred_by: str | None,
    occurred_at: datetime | None = None,
) -> UpsertResult:
    """The upsert inside the caller's transaction (shop events compose it with idempotency).

    `occurred_at`: when the shop registered the member (the bonuses' time in the history).
    """
    if referred_by == member_id:
        # Checked here, not only in `upsert`: shop events reach this function directly, and an
        # existing member naming themselves would otherwise be stored as their own referrer.
        raise Invalid("a member cannot refer themselves")
    now = store.now()
    earning = store.program.earning
    existing = conn.execute(
        "SELECT referred_by FROM members WHERE member_id = ?", (member_id,)
    ).fetchone()
    if referred_by is not None:
        # The shop may pass the referrer's member id or the code from their invite link.
        found = conn.execute(
            "SELECT member_id FROM members WHERE member_id = :r"
            " UNION ALL SELECT member_id FROM members WHERE referral_code = :r LIMIT 1",
            {"r": referred_by},
        ).fetchone()
        if found is None:
            raise NotFound(f"unknown referrer {referred_by!r}", member_id=referred_by)
        referred_by = found[0]
        if referred_by == member_id:
            raise Invalid("a member cannot refer themselves")
    if existing is not None:
        # Profile fields follow the shop. A referral counts only at registration: adding a
        # referrer later would let two existing members refer each other for the bonuses.
        conn.execute(
            "UPDATE members SET email = COALESCE(?, email), name = COALESCE(?, name),"
            " language = COALESCE(?, language), updated_at = ? WHERE member_id = ?",
            (email, name, language, to_db(now), member_id),
        )
        return UpsertResult(member_id=member_id, created=False, level_changes=[])
    first_tier = store.program.levels.tiers[0]
    conn.execute(
        "INSERT INTO members (member_id, email, name, language, referred_by, level_code,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (member_id, email, name, language, referred_by, first_tier.code, to_db(now), to_db(now)),
    )
    changes = []
    if referred_by is not None:
        if earning.referrer_on == "registered":
            credit_earning(
                conn, referred_by, earning.referrer_points, "referral", now,
                ref=member_id, idem_key=f"referral:{member_id}", occurred_at=occurred_at,
            )  # fmt: skip
            changes.append(refresh_level(conn, store, referred_by, now))
        if earning.referee_on == "registered":
            credit_earning(
                conn, member_id, earning.referee_points, "referral_welcome", now,
                ref=referred_by, idem_key=f"referral_welcome:{member_id}", occurred_at=occurred_at,
            )  # fmt: skip
    changes.append(refresh_level(conn, store, member_id, now))
    return UpsertResult(member_id=member_id, created=True, level_changes=[c for c in changes if c])


def verify_email_in(
    conn: Conn, store: Store, member_id: str, occurred_at: datetime | None = None
) -> list[LevelChange]:
    """Mark the e-mail verified once: the sign-up bonus, a referee's welcome bonus, the level."""
    now = store.now()
    earning = store.program.earning
    row = standing_row(conn, store, member_id)
    if row["email_verified"]:
        return []
    conn.execute(
        "UPDATE members SET email_verified = 1, updated_at = ? WHERE member_id = ?",
        (to_db(now), member_id),
    )
    credit_earning(
        conn, member_id, earning.email_verified_points, "email_verified", now,
        idem_key=f"email_verified:{member_id}", occurred_at=occurred_at,
    )  # fmt: skip
    if row["referred_by"] is not None and earning.referee_on == "email_verified":
        credit_earning(
            conn, member_id, earning.referee_points, "referral_welcome", now,
            ref=row["referred_by"], idem_key=f"referral_welcome:{member_id}",
            occurred_at=occurred_at,
        )  # fmt: skip
    change = refresh_level(conn, store, member_id, now)
    return [change] if change else []


async def verify_email(store: Store, member_id: str) -> list[LevelChange]:
    """Mark a member's e-mail verified (once) and pay what verification earns."""

    def verify(conn: Conn) -> list[LevelChange]:
        return verify_email_in(conn, store, member_id)

    return await store.db.write(verify)


async def view(store: Store, member_id: str) -> MemberView:
    """Read a member's balances, live level and progress, and today's exchanges, or NotFound."""
    now = store.now()
    today = programme_day(store.program, now)
    row = await store.db.lookup_one(
        _STANDING_SQL
        + """, l.telegram_user_id,
            (SELECT COUNT(*) FROM coupons c WHERE c.member_id = m.member_id
                AND c.issued_day = :today AND c.paid_with != 'goodwill') AS coupons_today
        FROM members m LEFT JOIN telegram_links l ON l.member_id = m.member_id
        WHERE m.member_id = :member_id""",
        {
            "since": _since(store, now),
            "today": today.isoformat(),
            "member_id": member_id,
        },
    )
    if row is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
    return view_from_row(store, row, now, today)


def view_from_row(store: Store, row: Row, now: datetime, today: date) -> MemberView:
    """Build a MemberView from a row of `view`'s query read at `now` (programme day `today`)."""
    standing = standing_from_row(row)
    program = store.program
    coupons = program.coupons
    tier, next_ = climb(program, standing)
    last_claim, coupons_today = row["last_claim_day"], row["coupons_today"]
    return MemberView(
        member_id=row["member_id"],
        name=row["name"],
        email=row["email"],
        language=row["language"],
        email_verified=standing.email_verified,
        points=row["points"],
        points_held=row["points_held"],
        coins=row["coins"],
        tier=tier,
        next=next_,
        standing=standing,
        telegram_user_id=row["telegram_user_id"],
        coin_streak=row["coin_streak"],
        last_claim_day=date.fromisoformat(last_claim) if last_claim else None,
        coupons_today=coupons_today,
        exchanges_left_today=max(0, coupons.daily_limit - coupons_today),
        day_resets_at=day_after_start(program, today),
        next_burn_at=next_burn(program, now) if coupons.enabled else None,
        created_at=from_db(row["created_at"]),
    )


async def recompute_levels(store: Store, *, batch: int = 500) -> list[LevelChange]:
    """Recompute every member's level (rolling windows age points out) and store the changes.

    Standings are read in one pass per batch without holding the write lock; only members whose
    level differs are rewritten, each re-checked inside the write transaction.
    """
    changes: list[LevelChange] = []
    after = ""
    while True:
        now = store.now()
        rows = await store.db.read(
            _STANDING_SQL
            + " FROM members m WHERE m.member_id > :after ORDER BY m.member_id LIMIT :batch",
            {"since": _since(store, now), "after": after, "batch": batch},
        )
        rows = list(rows)
        if not rows:
            return changes
        after = rows[-1]["member_id"]
        stale = [
            r["member_id"]
            for r in rows
            if tier_for(store.program, standing_from_row(r)).code != r["level_code"]
        ]
        if stale:
            changes.extend(await store.db.write(_refresh_levels(store, stale, now)))


def _refresh_levels(
    store: Store, stale: list[str], now: datetime
) -> Callable[[Conn], list[LevelChange]]:
    """Return a write body that refreshes `stale` members' levels and returns the changes."""

    def refresh(conn: Conn) -> list[LevelChange]:
        found: list[LevelChange] = []
        for member_id in stale:
            change = refresh_level(conn, store, member_id, now)
            if change:
                found.append(change)
        return found

    return refresh


REFERRAL_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


async def referral_code(store: Store, member_id: str) -> str:
    """Return the member's invite code, creating it on first request."""

    def code_for(conn: Conn) -> str:
        row = conn.execute(
            "SELECT referral_code FROM members WHERE member_id = ?", (member_id,)
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
        if row[0]:
            return str(row[0])
        while True:
            code = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(10))
            taken = conn.execute(
                "SELECT 1 FROM members WHERE referral_code = ?", (code,)
            ).fetchone()
            if taken is None:
                break
        conn.execute("UPDATE members SET referral_code = ? WHERE member_id = ?", (code, member_id))
        return code

    return await store.db.write(code_for)


async def referrer_by_code(store: Store, code: str) -> str | None:
    """Return the member id behind an invite code, or None."""
    row = await store.db.read_one("SELECT member_id FROM members WHERE referral_code = ?", (code,))
    return row[0] if row else None
