"""Manual adjustments by operators and agents, recorded with a reason and an actor."""

from __future__ import annotations

from dataclasses import dataclass

from loyalty.program import Currency
from storage.db import Conn
from storage.errors import Invalid, NotFound, Refused
from storage.idempotency import fingerprint, recall, remember
from storage.ledger import post
from storage.members import check_member_id
from storage.store import Store

MAX_GRANT = 10_000_000
MAX_REASON = 500


@dataclass(frozen=True)
class Grant:
    """A manual adjustment and the balance it left."""

    member_id: str
    currency: Currency
    amount: int
    balance_after: int
    ledger_id: int


async def grant(
    store: Store,
    member_id: str,
    amount: int,
    *,
    reason: str,
    actor: str,
    currency: Currency = "points",
    key: str | None = None,
) -> Grant:
    """Add (or remove, if negative) points or coins, never below zero; a repeated key: no-op."""
    check_member_id(member_id)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise Invalid("amount must be a non-zero integer")
    if abs(amount) > MAX_GRANT:
        raise Invalid(f"amount must be between -{MAX_GRANT} and {MAX_GRANT}")
    if currency not in ("points", "coins"):
        raise Invalid("currency must be points or coins")
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise Invalid(f"a reason of 1 to {MAX_REASON} characters is required")
    request = {"member_id": member_id, "amount": amount, "currency": currency, "reason": reason}
    print_ = fingerprint(request)

    def adjust(conn: Conn) -> Grant:
        if key is not None:
            first = recall(conn, f"grant:{key}", print_)
            if first is not None:
                return Grant(**first)
        row = conn.execute(
            f"SELECT {currency} FROM members WHERE member_id = ?",
            (member_id,),
        ).fetchone()
        if row is None:
            raise NotFound(f"unknown member {member_id!r}", member_id=member_id)
        if row[0] + amount < 0:
            raise Refused(
                f"the balance is {row[0]} {currency}; it cannot go below zero",
                code="insufficient",
                balance=row[0],
            )
        now = store.now()
        posting = post(conn, member_id, currency, amount, "grant", now, actor=actor, note=reason)
        result = Grant(member_id, currency, amount, posting.balance_after, posting.ledger_id)
        if key is not None:
            remember(conn, f"grant:{key}", print_, result.__dict__, now)
        return result

    return await store.db.write(adjust)
