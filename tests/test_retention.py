"""Retention (storage/retention.py): the tables that would grow forever are pruned by age at
the start of a day, by the configured number of days, on the injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, parse_config
from loyalty.clock import ManualClock
from storage import conversations, day_start, leases, retention, updates
from storage.retention import Retention
from storage.store import Store
from tests.conftest import member, scalar, send


async def counts(store: Store) -> dict[str, int]:
    tables = ("idempotency", "telegram_updates", "leases", "conversation_state")
    return {t: await scalar(store, f"SELECT COUNT(*) FROM {t}") for t in tables}


async def test_old_keys_update_ids_and_expired_state_go_recent_ones_stay(
    store: Store, clock: ManualClock
) -> None:
    await member(store, "m-1")  # an idempotency key, day 0
    await updates.take(store, 1)
    await leases.acquire(store, "relay:1", "a", timedelta(seconds=30))
    await conversations.remember(store, 1001, "k", "1", timedelta(minutes=30))
    clock.advance(days=89)
    await member(store, "m-2")  # day 89
    await updates.take(store, 2)
    clock.advance(days=1, seconds=1)  # day 90 and a second: m-1's key is past 90 days
    keep = Retention(idempotency=timedelta(days=90), update_ids=timedelta(days=2))
    pruned = await retention.prune(store, keep)
    assert (pruned.idempotency, pruned.update_ids, pruned.expired) == (1, 1, 2)
    assert await counts(store) == {
        "idempotency": 1, "telegram_updates": 1, "leases": 0, "conversation_state": 0,
    }  # fmt: skip
    assert not await updates.take(store, 2)  # a day old: a repeat is still dropped
    assert await updates.take(store, 1)  # forgotten: Telegram stopped redelivering long ago
    assert await scalar(store, "SELECT COUNT(*) FROM members") == 2  # nothing else touched


async def test_a_shop_retrying_after_the_window_never_pays_twice(
    store: Store, clock: ManualClock
) -> None:
    await member(store, "m-1")
    await send(store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=10_000)
    first = await send(store, "order.delivered", "evt-delivered", order_id="o-1")
    again = await send(store, "order.delivered", "evt-delivered", order_id="o-1")
    assert (first["status"], again["status"]) == ("processed", "duplicate")
    points = await scalar(store, "SELECT points FROM members WHERE member_id = 'm-1'")
    clock.advance(days=91)
    await retention.prune(store, Retention(idempotency=timedelta(days=90)))
    # The key is gone, so the retry is new to the store; the order's state makes it a no-op.
    late = await send(store, "order.delivered", "evt-delivered", order_id="o-1")
    assert late["status"] == "processed" and late["changed"] is False
    assert await scalar(store, "SELECT points FROM members WHERE member_id = 'm-1'") == points


async def test_batches_delete_everything_due(store: Store, clock: ManualClock) -> None:
    for update_id in range(25):
        await updates.take(store, update_id)
    clock.advance(days=3)
    pruned = await retention.prune(store, Retention(), batch=10)
    assert pruned.update_ids == 25


async def test_the_day_start_prunes_by_the_configured_days(
    store: Store, clock: ManualClock
) -> None:
    config = parse_config(
        {"program": {"preset": "marketplace"},
         "retention": {"idempotency_days": 7, "update_ids_days": 1, "outbox_days": 1}}
    )  # fmt: skip
    await member(store, "m-1")
    await updates.take(store, 5)
    clock.advance(days=8)
    done = await day_start.start_day(store, config.retention.policy())
    assert done is not None and done.pruned == 2
    assert (await counts(store))["idempotency"] == 0


def test_retention_defaults_and_limits() -> None:
    retention_ = parse_config({"program": {"preset": "marketplace"}}).retention
    assert (retention_.idempotency_days, retention_.outbox_days, retention_.update_ids_days) == (
        90, 30, 2,
    )  # fmt: skip
    with pytest.raises(ConfigError, match=r"retention\.idempotency_days: must be between 7"):
        parse_config({"program": {"preset": "marketplace"}, "retention": {"idempotency_days": 1}})
