"""The send queue: one chat's sends in order, one sender per chat at a time, settled with why."""

from __future__ import annotations

from datetime import timedelta

from loyalty.clock import ManualClock
from storage import sends
from storage.store import Store

LEASE = timedelta(minutes=2)
ANN, BORIS = 1001, 1002


async def test_a_chats_sends_come_out_in_order_and_chats_are_apart(store: Store) -> None:
    for n in range(3):
        await sends.enqueue(store, ANN, "member_text", {"n": n})
    await sends.enqueue(store, BORIS, "member_text", {"n": 9})
    assert sorted(await sends.waiting_chats(store, "a")) == [ANN, BORIS]
    seen = []
    while (send := await sends.head(store, ANN, "a", LEASE)) is not None:
        seen.append(send.payload["n"])
        await sends.sent(store, send.id, "a")
    assert seen == [0, 1, 2]
    assert await sends.waiting_chats(store, "a") == [BORIS]


async def test_a_held_chat_is_left_to_its_sender_until_the_lease_ends(
    store: Store, clock: ManualClock
) -> None:
    await sends.enqueue(store, ANN, "member_text", {"n": 1})
    await sends.enqueue(store, ANN, "member_text", {"n": 2})
    first = await sends.head(store, ANN, "a", LEASE)
    assert first is not None and first.payload == {"n": 1}
    # Another sender (process) finds the chat held: not even its second send is taken.
    assert await sends.head(store, ANN, "b", LEASE) is None
    assert await sends.waiting_chats(store, "b") == []
    clock.advance(LEASE + timedelta(seconds=1))  # "a" died holding it
    taken = await sends.head(store, ANN, "b", LEASE)
    assert taken is not None and taken.id == first.id  # the same head, never the next one
    await sends.sent(store, first.id, "a")  # a late answer of the old holder changes nothing
    assert (await sends.send_rows(store))[0]["status"] == "pending"


async def test_a_failure_keeps_its_reason_and_attempts(store: Store, clock: ManualClock) -> None:
    send_id = await sends.enqueue(store, ANN, "relay_out", {}, ticket_id=None)
    assert await sends.head(store, ANN, "a", LEASE) is not None
    assert await sends.retry(store, send_id, "a", "TimedOut") == 1
    await sends.failed(store, send_id, "a", "blocked")
    (row,) = await sends.send_rows(store, ANN)
    assert (row["status"], row["error"], row["attempts"]) == ("failed", "blocked", 2)
    assert await sends.pending_count(store) == 0
    clock.advance(sends.KEEP_SETTLED + timedelta(days=1))
    assert await sends.prune(store, clock() - sends.KEEP_SETTLED) == 1
