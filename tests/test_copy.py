"""`storage.copy`: a SQLite store copied into an empty PostgreSQL one and back, then compared."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage import checkout, coupons, links, members, telegram_users, tickets
from storage import copy as copying
from storage.check import check
from storage.grants import grant
from storage.store import Store
from tests.conftest import delivered_order, member, open_store, rows, send
from tests.postgres_kit import PostgresSchemas


@pytest.fixture
async def pg_store(postgres_schemas: PostgresSchemas, clock: ManualClock) -> AsyncIterator[Store]:
    schema = postgres_schemas.new()
    store = await Store.open_postgres(
        postgres_schemas.dsn, load_program({"preset": "marketplace"}), clock=clock,
        pool_size=2, schema=schema, durable=False,
    )  # fmt: skip
    yield store
    await store.close()
    postgres_schemas.give_back(schema)


async def busy_shop(store: Store) -> None:
    """A shop with a bit of everything: referrals, orders, coupons, holds, links, tickets."""
    # m-2 is referred by m-9, whose key sorts after it: the referrer arrives later in a copy.
    await member(store, "m-9", email="nine@example.com")
    await member(store, "m-2", referred_by="m-9")
    for i in range(1, 8):
        await member(store, f"m-{i}0")
        await delivered_order(store, f"m-{i}0", 10_000 * i)
    await grant(store, "m-10", 5_000, reason="welcome", actor="test")
    await coupons.exchange(store, "m-10", 500, "points", key="x-1")
    await coupons.exchange(store, "m-10", 1000, "points", key="x-2")
    token = await links.create_token(store, "m-10")
    await links.consume_token(store, token.token, 7001)
    await telegram_users.seen(store, 7001, "en")
    ticket, _ = await tickets.open_or_get(store, 7001, display_name="Ann", member_id="m-10")
    await tickets.close(store, ticket.id, by="member")
    await send(store, "member.upserted", "evt-late", member_id="m-99", language="ru")


async def test_sqlite_to_postgresql_and_back_is_equal_and_consistent(
    tmp_path: Path, clock: ManualClock, pg_store: Store
) -> None:
    source = await open_store(tmp_path / "shop.db", pg_store.program, clock)
    back = await open_store(tmp_path / "back.db", pg_store.program, clock)
    try:
        await busy_shop(source)
        seen: list[int] = []
        copied = await copying.copy(source.db, pg_store.db, seen.append, batch=4)
        assert copied == sum(seen) > 40
        comparison = await copying.compare(source.db, pg_store.db, batch=4)
        assert comparison.differences == []
        assert comparison.members == 10
        assert await check(source) == [] and await check(pg_store) == []
        # The copy is a working store: its identity counters went past the copied ids.
        await grant(pg_store, "m-10", 7, reason="after the move", actor="test")
        assert (await members.view(pg_store, "m-10")).points == (
            await members.view(source, "m-10")
        ).points + 7
        referrer = await rows(pg_store, "SELECT referred_by FROM members WHERE member_id = 'm-2'")
        assert referrer[0][0] == "m-9"
        # And back into SQLite: equal to the PostgreSQL store it came from.
        await copying.copy(pg_store.db, back.db)
        assert (await copying.compare(pg_store.db, back.db)).differences == []
        assert await check(back) == []
    finally:
        await source.close()
        await back.close()


async def test_a_changed_balance_is_reported(
    tmp_path: Path, clock: ManualClock, pg_store: Store
) -> None:
    source = await open_store(tmp_path / "shop.db", pg_store.program, clock)
    try:
        await busy_shop(source)
        await copying.copy(source.db, pg_store.db)

        def tamper(conn: object) -> None:
            conn.execute("UPDATE members SET points = points + 1 WHERE member_id = 'm-30'")  # type: ignore[attr-defined]

        await pg_store.db.write(tamper)
        differences = (await copying.compare(source.db, pg_store.db)).differences
        assert len(differences) == 1 and differences[0].startswith("members member_id=m-30")
    finally:
        await source.close()


async def test_copying_into_a_store_with_rows_is_refused_and_changes_nothing(
    tmp_path: Path, clock: ManualClock, pg_store: Store
) -> None:
    source = await open_store(tmp_path / "shop.db", pg_store.program, clock)
    try:
        await busy_shop(source)
        await member(pg_store, "someone-else")
        with pytest.raises(copying.NotEmpty, match="already has rows in members"):
            await copying.copy(source.db, pg_store.db)
        assert [r[0] for r in await rows(pg_store, "SELECT member_id FROM members")] == [
            "someone-else"
        ]
    finally:
        await source.close()


async def test_holds_and_coupons_survive_the_move(
    tmp_path: Path, clock: ManualClock, postgres_schemas: PostgresSchemas
) -> None:
    program = load_program({"preset": "vip-shop"})
    source = await open_store(tmp_path / "vip.db", program, clock)
    schema = postgres_schemas.new()
    target = await Store.open_postgres(
        postgres_schemas.dsn, program, clock=clock, pool_size=2, schema=schema, durable=False
    )
    try:
        await member(source)
        await send(source, "member.email_verified", member_id="m-1")
        await checkout.hold(source, "h-1", "m-1", "o-1", 3)
        await copying.copy(source.db, target.db)
        assert (await copying.compare(source.db, target.db)).differences == []
        released = await checkout.release(target, "h-1")
        assert released.status == "released"
        assert (await members.view(target, "m-1")).points == 5
        assert await check(target) == []
    finally:
        await source.close()
        await target.close()
        postgres_schemas.give_back(schema)
