"""Manual adjustments: never below zero, a reason required, a repeated key applied once."""

from __future__ import annotations

import pytest

from storage import members
from storage.check import check
from storage.errors import Conflict, Invalid, NotFound, Refused
from storage.grants import MAX_GRANT, MAX_REASON, grant
from storage.store import Store
from tests.conftest import member, rows, snapshot


async def test_grant_adds_and_removes(store: Store) -> None:
    await member(store)
    up = await grant(store, "m-1", 300, reason="goodwill", actor="agent-1")
    assert (up.amount, up.balance_after, up.currency) == (300, 300, "points")
    down = await grant(store, "m-1", -120, reason="correction", actor="agent-2")
    assert down.balance_after == 180
    coins = await grant(store, "m-1", 40, reason="promo", actor="ops", currency="coins")
    assert coins.balance_after == 40
    view = await members.view(store, "m-1")
    assert (view.points, view.coins) == (180, 40)
    found = await rows(store, "SELECT amount, reason, actor, note FROM ledger ORDER BY id")
    assert [tuple(r) for r in found] == [
        (300, "grant", "agent-1", "goodwill"),
        (-120, "grant", "agent-2", "correction"),
        (40, "grant", "ops", "promo"),
    ]
    assert await check(store) == []


async def test_grants_do_not_count_toward_the_level(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 5_000, reason="gift", actor="ops")
    view = await members.view(store, "m-1")
    assert (view.points, view.standing.points, view.tier.code) == (5_000, 0, "A0")


async def test_negative_grant_never_below_zero(store: Store) -> None:
    await member(store)
    await grant(store, "m-1", 100, reason="x", actor="a")
    before = await snapshot(store)
    with pytest.raises(Refused) as caught:
        await grant(store, "m-1", -101, reason="too much", actor="a")
    assert caught.value.code == "insufficient"
    assert caught.value.context["balance"] == 100
    with pytest.raises(Refused):
        await grant(store, "m-1", -1, reason="no coins", actor="a", currency="coins")
    assert await snapshot(store) == before
    to_zero = await grant(store, "m-1", -100, reason="all of it", actor="a")
    assert to_zero.balance_after == 0


async def test_reason_is_required(store: Store) -> None:
    await member(store)
    before = await snapshot(store)
    for reason in ("", "   ", "x" * (MAX_REASON + 1)):
        with pytest.raises(Invalid):
            await grant(store, "m-1", 10, reason=reason, actor="a")
    assert await snapshot(store) == before
    ok = await grant(store, "m-1", 10, reason="  padded  ", actor="a")
    assert ok.balance_after == 10
    assert (await rows(store, "SELECT note FROM ledger"))[0][0] == "padded"


async def test_bad_amounts_currencies_and_members(store: Store) -> None:
    await member(store)
    for amount in (0, True, 1.5, MAX_GRANT + 1, -MAX_GRANT - 1):
        with pytest.raises(Invalid):
            await grant(store, "m-1", amount, reason="x", actor="a")  # type: ignore[arg-type]
    with pytest.raises(Invalid):
        await grant(store, "m-1", 1, reason="x", actor="a", currency="gems")  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await grant(store, "ghost", 1, reason="x", actor="a")
    assert await rows(store, "SELECT * FROM ledger") == []


async def test_repeated_key_applies_once(store: Store) -> None:
    await member(store)
    first = await grant(store, "m-1", 50, reason="refund", actor="a", key="ticket-9")
    before = await snapshot(store)
    again = await grant(store, "m-1", 50, reason="refund", actor="b", key="ticket-9")
    assert again == first
    assert await snapshot(store) == before
    with pytest.raises(Conflict):
        await grant(store, "m-1", 60, reason="refund", actor="a", key="ticket-9")
    # A negative grant with a key: taken once even though the balance would allow twice.
    await grant(store, "m-1", 100, reason="top up", actor="a")
    await grant(store, "m-1", -30, reason="fix", actor="a", key="fix-1")
    await grant(store, "m-1", -30, reason="fix", actor="a", key="fix-1")
    assert (await members.view(store, "m-1")).points == 120
