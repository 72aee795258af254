"""Coupons: exchanging points or coins for them, goodwill coupons, redemption, expiry and burn."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from loyalty.calendar import next_day_start, programme_day
from loyalty.coupons import coupon_expiry, expired_cutoff
from loyalty.program import CouponOption, Currency
from storage import shop_tasks
from storage.db import Conn, Row, from_db, to_db
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.idempotency import fingerprint, recall, remember
from storage.ledger import post
from storage.members import check_member_id
from storage.store import Store

# No 0/O or 1/I/L: codes are read aloud to support and typed at checkout.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_GROUPS, CODE_GROUP_LENGTH = 3, 4  # 31**12: about 2**59 codes, unguessable
CURRENCIES: tuple[Currency, ...] = ("points", "coins")


def normal_code(code: str) -> str:
    """Return a code as stored: codes match case-insensitively (`pgbe-kquq-mkuk` finds
    `PGBE-KQUQ-MKUK`), and every code is made upper-case, so upper-casing the input is enough
    (and keeps the primary key's index, where lower(code) = lower(?) would not)."""
    return code.strip().upper()


def new_code() -> str:
    """Return a fresh unguessable coupon code like `K7PX-3MWQ-ZT9D`."""
    return "-".join(
        "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUP_LENGTH))
        for _ in range(CODE_GROUPS)
    )


@dataclass(frozen=True)
class Coupon:
    """A coupon as members, agents and the shop see it."""

    code: str
    member_id: str
    value_cents: int
    paid_with: str
    cost: int
    status: str
    issued_at: datetime
    expires_at: datetime
    burns: bool
    used_at: datetime | None = None
    order_id: str | None = None
    # 'pending' while a connected shop is creating its copy (the code is not usable there
    # yet), 'live' once it has it, 'removed' after; None without a connected shop.
    shop_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the coupon as a JSON-ready dict (times as ISO 8601 strings)."""
        out = _fields(self)
        for key in ("issued_at", "expires_at", "used_at"):
            if out[key] is not None:
                out[key] = out[key].isoformat()
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Coupon:
        """Rebuild a coupon from `to_dict` output."""
        times = {
            k: datetime.fromisoformat(raw[k]) if raw.get(k) else None
            for k in ("issued_at", "expires_at", "used_at")
        }
        return cls(**{**raw, **times})


def _fields(instance: Coupon | Exchange) -> dict[str, Any]:
    """Return a dataclass's fields as a dict, in order, without copying the values.

    Not `dataclasses.asdict`: it deep-copies every value (and recurses into the coupon of an
    exchange twice), which made it the costliest step of an exchange, about 0.2 ms; every
    value here is immutable, so a shallow dict is the same answer.
    """
    return {f.name: getattr(instance, f.name) for f in fields(instance)}


def _coupon(row: Row) -> Coupon:
    return Coupon(
        code=row["code"],
        member_id=row["member_id"],
        value_cents=row["value_cents"],
        paid_with=row["paid_with"],
        cost=row["cost"],
        status=row["status"],
        issued_at=from_db(row["issued_at"]),
        expires_at=from_db(row["expires_at"]),
        burns=bool(row["burns"]),
        used_at=from_db(row["used_at"]) if row["used_at"] else None,
        order_id=row["order_id"],
        shop_status=row["shop_status"],
    )


@dataclass(frozen=True)
class ExchangePreview:
    """What an exchange would cost and give, shown before the member confirms."""

    member_id: str
    value_cents: int
    currency: Currency
    cost: int
    balance: int
    balance_after: int
    expires_at: datetime
    cut_short: bool
    exchanges_left_today: int
    resets_at: datetime


@dataclass(frozen=True)
class Exchange:
    """A coupon bought with points or coins, and the balance it left."""

    coupon: Coupon
    currency: Currency
    cost: int
    balance_after: int
    exchanges_left_today: int
    cut_short: bool
    replayed: bool = False  # True when a repeated key returned the first answer

    def to_dict(self) -> dict[str, Any]:
        """Return the exchange as a JSON-ready dict."""
        out = {**_fields(self), "coupon": self.coupon.to_dict()}
        del out["replayed"]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Exchange:
        """Rebuild an exchange from `to_dict` output."""
        return cls(**{**raw, "coupon": Coupon.from_dict(raw["coupon"])})


def _option(store: Store, value_cents: object, currency: object) -> tuple[CouponOption, int]:
    """Return the coupon option and its price, or raise why it cannot be bought."""
    coupons = store.program.coupons
    if not coupons.enabled:
        raise Refused("this programme has no coupon exchange", code="disabled")
    if currency not in CURRENCIES:
        raise Invalid(f"currency must be one of {', '.join(CURRENCIES)}")
    if currency == "coins" and not store.program.coins.enabled:
        raise Refused("this programme has no coins", code="disabled")
    option = coupons.option(value_cents) if isinstance(value_cents, int) else None
    if option is None:
        offered = ", ".join(str(o.value_cents) for o in coupons.options)
        raise Invalid(f"no coupon worth {value_cents!r} cents; offered: {offered}")
    cost = option.cost(currency)
    if cost == 0:
        raise Refused(f"this coupon cannot be bought with {currency}", code="not_for_sale")
    return option, cost


def _balances_and_count(conn: Conn, member_id: str, day: str) -> Row:
    row = conn.execute(
        "SELECT points, coins, (SELECT COUNT(*) FROM coupons WHERE member_id = :m"
        " AND issued_day = :day AND paid_with != 'goodwill') AS today"
        " FROM members WHERE member_id = :m",
        {"m": member_id, "day": day},
    ).fetchone()
    if row is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
    return row


def _decide(store: Store, row: Row, currency: str, cost: int, now: datetime) -> int:
    """Apply the daily limit and the balance rule; return exchanges left today before this one."""
    limit = store.program.coupons.daily_limit
    left = limit - row["today"]
    if left <= 0:
        raise Refused(
            f"the daily limit of {limit} coupons is reached",
            code="daily_limit",
            resets_at=next_day_start(store.program, now),
        )
    if row[currency] < cost:
        raise Refused(
            f"{cost} {currency} needed, {row[currency]} available",
            code="insufficient",
            currency=currency,
            needed=cost,
            balance=row[currency],
        )
    return left


async def preview(
    store: Store, member_id: str, value_cents: int, currency: Currency
) -> ExchangePreview:
    """Return the cost, the balance after and the real expiry, or raise why it is not possible."""
    option, cost = _option(store, value_cents, currency)
    now = store.now()
    row = await store.db.lookup_one(
        "SELECT points, coins, (SELECT COUNT(*) FROM coupons WHERE member_id = :m"
        " AND issued_day = :day AND paid_with != 'goodwill') AS today"
        " FROM members WHERE member_id = :m",
        {"m": member_id, "day": programme_day(store.program, now).isoformat()},
    )
    if row is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
    left = _decide(store, row, currency, cost, now)
    expiry = coupon_expiry(store.program, now)
    return ExchangePreview(
        member_id=member_id,
        value_cents=option.value_cents,
        currency=currency,
        cost=cost,
        balance=row[currency],
        balance_after=row[currency] - cost,
        expires_at=expiry.expires_at,
        cut_short=expiry.cut_short,
        exchanges_left_today=left - 1,
        resets_at=next_day_start(store.program, now),
    )


async def exchange(
    store: Store, member_id: str, value_cents: int, currency: Currency, key: str
) -> Exchange:
    """Buy a coupon with points or coins: the debit and the coupon in one transaction.

    A repeat with the same key (a double tap on one confirmation) returns the first coupon.
    """
    check_member_id(member_id)
    option, cost = _option(store, value_cents, currency)
    request = {"member_id": member_id, "value_cents": value_cents, "currency": currency}
    print_, idem = fingerprint(request), f"exchange:{key}"

    def buy(conn: Conn) -> Exchange:
        first = recall(conn, idem, print_)
        if first is not None:
            return replace(Exchange.from_dict(first), replayed=True)
        now = store.now()
        day = programme_day(store.program, now).isoformat()
        row = _balances_and_count(conn, member_id, day)
        left = _decide(store, row, currency, cost, now)
        code = new_code()
        posting = post(conn, member_id, currency, -cost, "coupon", now, ref=code)
        expiry = coupon_expiry(store.program, now)
        coupon = _insert(
            conn, code, member_id, option.value_cents, currency, cost, posting.ledger_id, now,
            day, expiry.expires_at, expiry.burns,
        )  # fmt: skip
        if shop_tasks.queue_create(conn, store, member_id, code, now):
            coupon = replace(coupon, shop_status="pending")
        result = Exchange(
            coupon=coupon,
            currency=currency,
            cost=cost,
            balance_after=posting.balance_after,
            exchanges_left_today=left - 1,
            cut_short=expiry.cut_short,
        )
        remember(conn, idem, print_, result.to_dict(), now)
        return result

    return await store.db.write(buy)


def _insert(
    conn: Conn,
    code: str,
    member_id: str,
    value_cents: int,
    paid_with: str,
    cost: int,
    ledger_id: int,
    now: datetime,
    day: str,
    expires_at: datetime,
    burns: bool,
) -> Coupon:
    conn.execute(
        "INSERT INTO coupons (code, member_id, value_cents, paid_with, cost, ledger_id, status,"
        " issued_at, issued_day, expires_at, burns)"
        " VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?)",
        (code, member_id, value_cents, paid_with, cost, ledger_id, to_db(now), day,
         to_db(expires_at), int(burns)),
    )  # fmt: skip
    return Coupon(
        code=code,
        member_id=member_id,
        value_cents=value_cents,
        paid_with=paid_with,
        cost=cost,
        status="active",
        issued_at=now,
        expires_at=expires_at,
        burns=burns,
    )


async def issue_goodwill(
    store: Store, member_id: str, value_cents: int, *, reason: str, actor: str, key: str
) -> Coupon:
    """Give a coupon on the house (support's goodwill): recorded with a zero ledger row.

    It does not count toward the member's daily exchange limit; a repeat of `key` returns it.
    """
    check_member_id(member_id)
    coupons = store.program.coupons
    if not coupons.enabled:
        raise Refused("this programme has no coupons", code="disabled")
    if coupons.option(value_cents) is None:
        raise Invalid(f"no coupon worth {value_cents!r} cents")
    if not reason.strip():
        raise Invalid("a goodwill coupon needs a reason")
    request = {"member_id": member_id, "value_cents": value_cents, "reason": reason}
    print_, idem = fingerprint(request), f"goodwill:{key}"

    def give(conn: Conn) -> Coupon:
        first = recall(conn, idem, print_)
        if first is not None:
            return Coupon.from_dict(first)
        _balances_and_count(conn, member_id, programme_day(store.program, store.now()).isoformat())
        now = store.now()
        code = new_code()
        posting = post(
            conn, member_id, "points", 0, "coupon_goodwill", now,
            ref=code, actor=actor, note=reason,
        )  # fmt: skip
        expiry = coupon_expiry(store.program, now)
        coupon = _insert(
            conn, code, member_id, value_cents, "goodwill", 0, posting.ledger_id, now,
            programme_day(store.program, now).isoformat(), expiry.expires_at, expiry.burns,
        )  # fmt: skip
        if shop_tasks.queue_create(conn, store, member_id, code, now):
            coupon = replace(coupon, shop_status="pending")
        remember(conn, idem, print_, coupon.to_dict(), now)
        return coupon

    return await store.db.write(give)


async def get(store: Store, code: str) -> Coupon:
    """Return a coupon by code (its stored status, with expiry applied as of now) or NotFound."""
    row = await store.db.read_one("SELECT * FROM coupons WHERE code = ?", (normal_code(code),))
    if row is None:
        raise NotFound(f"unknown coupon {code!r}")
    return _as_of(store, _coupon(row))


def _as_of(store: Store, coupon: Coupon) -> Coupon:
    """Report a coupon past its expiry as expired/burned even before the job marks it."""
    if coupon.status == "active" and coupon.expires_at <= expired_cutoff(store.now()):
        status = "burned" if coupon.burns else "expired"
        return replace(coupon, status=status)
    return coupon


async def of_member(store: Store, member_id: str, *, active_only: bool = False) -> list[Coupon]:
    """Return a member's coupons: active ones first by expiry, then the rest, newest first."""
    rows = await store.db.read(
        "SELECT * FROM coupons WHERE member_id = ?"
        + (" AND status = 'active'" if active_only else "")
        + " ORDER BY status != 'active', CASE WHEN status = 'active' THEN expires_at END,"
        " issued_at DESC LIMIT 100",
        (member_id,),
    )
    coupons = [_as_of(store, _coupon(r)) for r in rows]
    return [c for c in coupons if c.status == "active"] if active_only else coupons


async def redeem(store: Store, code: str, member_id: str, order_id: str) -> Coupon:
    """Use a coupon on an order; repeating it for the same order is harmless."""
    check_member_id(member_id)
    check_member_id(order_id, "order_id")

    def use(conn: Conn) -> Coupon:
        return redeem_in(conn, store, code, member_id, order_id)

    return await store.db.write(use)


def redeem_in(conn: Conn, store: Store, code: str, member_id: str, order_id: str) -> Coupon:
    """Redeem inside the caller's transaction (a connector's order arriving with the code)."""
    code = normal_code(code)
    row = conn.execute("SELECT * FROM coupons WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise NotFound(f"unknown coupon {code!r}")
    coupon = _as_of(store, _coupon(row))
    if coupon.member_id != member_id:
        raise Conflict("this coupon belongs to another member", code="not_owner")
    if coupon.status == "used" and coupon.order_id == order_id:
        return coupon
    if coupon.status != "active":
        raise Conflict(f"this coupon is {coupon.status}", code=f"coupon_{coupon.status}")
    now = store.now()
    conn.execute(
        "UPDATE coupons SET status = 'used', used_at = ?, order_id = ? WHERE code = ?",
        (to_db(now), order_id, code),
    )
    return replace(coupon, status="used", used_at=now, order_id=order_id)


async def expire(store: Store) -> dict[str, int]:
    """Mark every active coupon past its expiry expired (or burned); return the counts."""
    cutoff = to_db(expired_cutoff(store.now()))

    def mark(conn: Conn) -> list[Row]:
        found = conn.execute(
            "UPDATE coupons SET status = CASE WHEN burns = 1 THEN 'burned' ELSE 'expired' END"
            " WHERE status = 'active' AND expires_at <= ? RETURNING status, code",
            (cutoff,),
        ).fetchall()
        # Gone here, gone in the shop: the removal is queued with the change.
        shop_tasks.queue_removals(conn, [r[1] for r in found], store.now())
        return found

    rows = await store.db.write(mark)
    statuses = [r[0] for r in rows]
    return {"expired": statuses.count("expired"), "burned": statuses.count("burned")}


async def burn(store: Store) -> int:
    """Burn every active coupon whose yearly burn has passed; return how many."""
    cutoff = to_db(expired_cutoff(store.now()))

    def mark(conn: Conn) -> list[Row]:
        found = conn.execute(
            "UPDATE coupons SET status = 'burned'"
            " WHERE status = 'active' AND burns = 1 AND expires_at <= ? RETURNING code",
            (cutoff,),
        ).fetchall()
        shop_tasks.queue_removals(conn, [r[0] for r in found], store.now())
        return found

    rows = await store.db.write(mark)
    return len(list(rows))
