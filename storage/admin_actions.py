"""What admins do from the owner's console, each recorded with the acting admin.

Grants and goodwill coupons are the storage operations agents use (`grants.grant`,
`coupons.issue_goodwill`), with the admin as the ledger row's actor; their audit row follows
in a second transaction (the ledger row is the record of the money; this trail lists what each
admin did). Unlinking and banning from support change no balance, so their audit row is
written in the same transaction as the change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from loyalty.program import Currency
from storage import coupons, grants, outbox
from storage.coupons import Coupon
from storage.db import Conn, from_db, to_db
from storage.errors import NotFound, Refused
from storage.grants import Grant
from storage.members import check_member_id
from storage.store import Store

MAX_REASON = grants.MAX_REASON


def actor(admin_id: int) -> str:
    """Return how the ledger names an admin acting from the console."""
    return f"admin:{admin_id}"


@dataclass(frozen=True)
class AdminAction:
    """One recorded console action."""

    id: int
    admin_id: int
    action: str
    member_id: str
    detail: dict[str, Any]
    created_at: datetime


def _record(
    conn: Conn, admin_id: int, action: str, member_id: str, detail: dict[str, Any], now: datetime
) -> None:
    conn.execute(
        "INSERT INTO admin_actions (admin_id, action, member_id, detail, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (admin_id, action, member_id, json.dumps(detail, sort_keys=True), to_db(now)),
    )


async def _audit(
    store: Store,
    admin_id: int,
    action: str,
    member_id: str,
    detail: dict[str, Any],
    notice: tuple[str, str, dict[str, Any]],
) -> None:
    """Record the action, and the member's notice of it (kind, dedupe key, payload)."""
    now = store.now()

    def record(conn: Conn) -> None:
        _record(conn, admin_id, action, member_id, detail, now)
        kind, dedupe_key, payload = notice
        outbox.notify(conn, member_id, kind, dedupe_key, payload, now)

    await store.db.write(record)


async def grant(
    store: Store,
    admin_id: int,
    member_id: str,
    amount: int,
    *,
    reason: str,
    currency: Currency = "points",
    key: str | None = None,
) -> Grant:
    """Add or remove points or coins with a reason, as `admin_id` (never below zero)."""
    done = await grants.grant(
        store, member_id, amount, reason=reason, actor=actor(admin_id), currency=currency, key=key
    )
    detail = {"amount": amount, "currency": currency, "reason": reason.strip()}
    # The member hears of it as of an agent's /grant (a repeated key: one notice, deduped).
    notice = ("support_grant", f"support_grant:{done.ledger_id}",
              {**detail, "balance": done.balance_after})  # fmt: skip
    await _audit(
        store, admin_id, "grant", member_id, {**detail, "ledger_id": done.ledger_id}, notice
    )
    return done


async def goodwill(
    store: Store, admin_id: int, member_id: str, value_cents: int, *, reason: str, key: str
) -> Coupon:
    """Give a goodwill coupon with a reason, as `admin_id`."""
    coupon = await coupons.issue_goodwill(
        store, member_id, value_cents, reason=reason, actor=actor(admin_id), key=key
    )
    detail = {"code": coupon.code, "value_cents": value_cents, "reason": reason.strip()}
    notice = ("support_coupon", f"support_coupon:{coupon.code}",
              {**detail, "expires_at": coupon.expires_at.isoformat()})  # fmt: skip
    await _audit(store, admin_id, "coupon", member_id, detail, notice)
    return coupon


async def unlink(store: Store, admin_id: int, member_id: str) -> int:
    """Remove the member's Telegram link; return the Telegram user id it had."""
    check_member_id(member_id)
    now = store.now()

    def remove(conn: Conn) -> int:
        row = conn.execute(
            "DELETE FROM telegram_links WHERE member_id = ? RETURNING telegram_user_id",
            (member_id,),
        ).fetchone()
        if row is None:
            _known(conn, member_id)
            raise Refused("this member has no Telegram link", code="not_linked")
        user_id = int(row[0])
        _record(conn, admin_id, "unlink", member_id, {"telegram_user_id": user_id}, now)
        return user_id

    return await store.db.write(remove)


async def ban(store: Store, admin_id: int, member_id: str, *, reason: str) -> bool:
    """Stop relaying the member's support messages; False if they were banned already."""
    check_member_id(member_id)
    reason = reason.strip()[:MAX_REASON]
    now = store.now()

    def insert(conn: Conn) -> bool:
        row = conn.execute(
            "SELECT telegram_user_id FROM telegram_links WHERE member_id = ?", (member_id,)
        ).fetchone()
        if row is None:
            _known(conn, member_id)
            raise Refused("this member has no Telegram link to ban", code="not_linked")
        cursor = conn.execute(
            "INSERT INTO support_bans (telegram_user_id, banned_by, reason, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (telegram_user_id) DO NOTHING",
            (row[0], admin_id, reason or None, to_db(now)),
        )
        if cursor.rowcount != 1:
            return False
        detail = {"telegram_user_id": int(row[0]), "reason": reason}
        _record(conn, admin_id, "ban", member_id, detail, now)
        return True

    return await store.db.write(insert)


def _known(conn: Conn, member_id: str) -> None:
    if conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone() is None:
        raise NotFound(f"unknown member {member_id!r}", member_id=member_id)


async def of_member(store: Store, member_id: str, *, limit: int = 50) -> list[AdminAction]:
    """Return the console actions on a member, newest first."""
    found = await store.db.read(
        "SELECT id, admin_id, action, member_id, detail, created_at FROM admin_actions"
        " WHERE member_id = ? ORDER BY id DESC LIMIT ?",
        (member_id, limit),
    )
    return [
        AdminAction(
            id=r["id"],
            admin_id=r["admin_id"],
            action=r["action"],
            member_id=r["member_id"],
            detail=json.loads(r["detail"]),
            created_at=from_db(r["created_at"]),
        )
        for r in found
    ]
