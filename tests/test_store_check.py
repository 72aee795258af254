"""The consistency check passes on a healthy store and finds what raw SQL tampering breaks."""

from __future__ import annotations

from storage import checkout, coupons, daily
from storage.check import check
from storage.db import Conn
from storage.grants import grant
from storage.store import Store
from tests.conftest import delivered_order, member, scalar, send


async def tamper(store: Store, *statements: str) -> None:
    """Change the database behind the store's back, in one transaction."""

    def run(conn: Conn) -> None:
        for sql in statements:
            conn.execute(sql)

    await store.db.write(run)


async def busy_marketplace(store: Store) -> None:
    await member(store, "a")
    await member(store, "b", referred_by="a")
    order_id = await delivered_order(store, "a", 80_000)
    await delivered_order(store, "b", 1_500)
    await send(store, "review.submitted", order_id=order_id)
    await daily.claim(store, "a")
    await coupons.exchange(store, "a", 500, "points", key="k1")
    await coupons.issue_goodwill(store, "b", 500, reason="sorry", actor="agent", key="g1")
    await send(store, "order.returned", order_id=order_id)
    await grant(store, "b", -5, reason="fix", actor="ops")


async def busy_vip(store: Store) -> None:
    await member(store, "a")
    await send(store, "member.email_verified", member_id="a")
    await checkout.hold(store, "h-1", "a", "o-1", 2)
    await checkout.hold(store, "h-2", "a", "o-2", 1)
    await checkout.hold(store, "h-3", "a", "o-3", 1)
    await checkout.capture(store, "h-1")
    await checkout.release(store, "h-2")


async def test_healthy_stores_pass(store: Store, vip_store: Store) -> None:
    await busy_marketplace(store)
    await busy_vip(vip_store)
    assert await check(store) == []
    assert await check(vip_store) == []


async def test_empty_store_passes(store: Store) -> None:
    assert await check(store) == []


async def test_finds_a_tampered_balance(store: Store) -> None:
    await busy_marketplace(store)
    await tamper(
        store,
        "UPDATE members SET points = points + 7 WHERE member_id = 'b'",
        "UPDATE members SET coins = coins + 1 WHERE member_id = 'a'",
    )
    problems = await check(store)
    assert len(problems) == 2
    assert any(p.startswith("points balance differs from the ledger: b") for p in problems)
    assert any(p.startswith("coins balance differs from the ledger: a") for p in problems)


async def test_finds_a_coupon_without_its_debit(store: Store) -> None:
    await busy_marketplace(store)

    # A coupon row pointing at a ledger row that did not pay for it (an order credit).
    def forge_coupon(conn: Conn) -> None:
        credit = conn.execute(
            "SELECT id FROM ledger WHERE member_id = 'a' AND reason = 'order'"
        ).fetchone()
        conn.execute(
            "INSERT INTO coupons (code, member_id, value_cents, paid_with, cost, ledger_id,"
            " status, issued_at, issued_day, expires_at, burns) VALUES"
            " ('FREE-FREE-FREE', 'a', 2000, 'points', 2000, ?, 'active',"
            " '2026-03-10T09:00:00.000000+00:00', '2026-03-10',"
            " '2026-04-09T23:59:59.000000+00:00', 0)",
            (credit[0],),
        )

    await store.db.write(forge_coupon)
    problems = await check(store)
    assert problems == [
        "coupon without the ledger row that paid for it: FREE-FREE-FREE (stored 2000, expected 800)"
    ]


async def test_finds_a_coupon_whose_debit_was_changed(store: Store) -> None:
    await busy_marketplace(store)
    code = await scalar(store, "SELECT code FROM coupons WHERE paid_with = 'points'")

    def cheapen(conn: Conn) -> None:
        # Make it look like the coupon cost less; the ledger and the balances are untouched,
        # so only the coupon check can tell.
        conn.execute("UPDATE coupons SET cost = 100 WHERE code = ?", (code,))

    await store.db.write(cheapen)
    problems = await check(store)
    assert len(problems) == 1
    assert problems[0].startswith(f"coupon without the ledger row that paid for it: {code}")


async def test_finds_held_points_without_open_holds(vip_store: Store) -> None:
    await busy_vip(vip_store)
    await tamper(vip_store, "UPDATE holds SET status = 'captured' WHERE hold_id = 'h-3'")
    problems = await check(vip_store)
    assert problems == ["held points differ from the open holds: a (stored 1, expected 0)"]


async def test_finds_a_broken_running_sum(store: Store) -> None:
    await busy_marketplace(store)
    await tamper(
        store,
        "UPDATE ledger SET balance_after = balance_after + 1"
        " WHERE id = (SELECT MIN(id) FROM ledger WHERE member_id = 'a')",
    )
    problems = await check(store)
    assert len(problems) == 1
    assert problems[0].startswith("ledger row whose balance_after breaks the running sum")


async def test_finds_a_deleted_ledger_row(store: Store) -> None:
    await busy_marketplace(store)
    await tamper(store, "DELETE FROM ledger WHERE reason = 'daily_coins'")
    problems = await check(store)
    assert any(p.startswith("coins balance differs from the ledger: a") for p in problems)
