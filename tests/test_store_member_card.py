"""The agents' member card, one read model: what it holds, linked or not; it writes nothing."""

from __future__ import annotations

from loyalty.clock import ManualClock
from storage import grants, tickets
from storage.member_card import CARD_LEDGER_ROWS, member_card
from storage.store import Store
from tests.conftest import member, snapshot

USER = 5001


async def test_a_card_without_a_linked_member_shows_the_user_alone(store: Store) -> None:
    ticket, _ = await tickets.open_or_get(store, USER, display_name="Ann")
    card = await member_card(store, ticket)
    assert card.ticket == ticket and card.profile.telegram_user_id == USER
    assert card.member is None and card.previous is None
    assert (card.coupons, card.ledger, card.holds) == ([], [], [])


async def test_a_card_reads_the_member_the_ticket_was_opened_for(
    store: Store, clock: ManualClock
) -> None:
    await member(store, "m-1", name="Ann Example")
    for n in range(CARD_LEDGER_ROWS + 2):
        await grants.grant(store, "m-1", 10 + n, reason="thanks", actor="agent:1", key=f"k{n}")
    first, _ = await tickets.open_or_get(store, USER, display_name="Ann", member_id="m-1")
    await tickets.close(store, first.id, by="agent:1")
    second, _ = await tickets.open_or_get(store, USER, display_name="Ann", member_id="m-1")
    before = await snapshot(store)
    card = await member_card(store, second)
    assert await snapshot(store) == before  # a read model changes nothing
    assert card.member is not None and card.member.member_id == "m-1"
    assert card.member.points == sum(10 + n for n in range(CARD_LEDGER_ROWS + 2))
    assert [e.amount for e in card.ledger] == [16, 15, 14, 13, 12]  # newest first, five of them
    assert card.previous is not None and card.previous.id == first.id
    assert card.read_at == clock.now
