"""Linking a shop account to a Telegram user: single-use tokens, expiry, one-to-one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty.clock import ManualClock
from storage import links, members
from storage.errors import NotFound, Refused
from storage.store import Store
from tests.conftest import member, rows, scalar, snapshot


async def refused(store: Store, token: str, user: int) -> str:
    before = await snapshot(store)
    with pytest.raises(Refused) as caught:
        await links.consume_token(store, token, user)
    assert await snapshot(store) == before
    return caught.value.code


async def test_token_links_once(store: Store) -> None:
    await member(store)
    token = await links.create_token(store, "m-1")
    assert token.member_id == "m-1"
    assert token.expires_at == store.now() + links.DEFAULT_TTL
    assert await links.consume_token(store, token.token, 1001) == "m-1"
    assert await links.member_for(store, 1001) == "m-1"
    assert await links.telegram_user_for(store, "m-1") == 1001
    assert (await members.view(store, "m-1")).telegram_linked
    # The same user again: harmless, says so.
    assert await refused(store, token.token, 1001) == "already_linked"
    # Anyone else: the token is spent.
    assert await refused(store, token.token, 2002) == "used"
    assert await links.member_for(store, 2002) is None


async def test_only_a_hash_of_the_token_is_stored(store: Store) -> None:
    await member(store)
    token = await links.create_token(store, "m-1")
    stored = await rows(store, "SELECT token_hash FROM link_tokens")
    assert len(stored) == 1
    assert token.token not in stored[0][0]
    assert len(token.token) <= 64  # fits a Telegram deep-link payload
    assert set(token.token) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    )


async def test_token_expiry(store: Store, clock: ManualClock) -> None:
    await member(store)
    late = await links.create_token(store, "m-1", ttl=timedelta(minutes=10))
    clock.advance(minutes=10)
    assert await refused(store, late.token, 1001) == "expired"
    in_time = await links.create_token(store, "m-1", ttl=timedelta(minutes=10))
    clock.advance(minutes=10, seconds=-1)
    assert await links.consume_token(store, in_time.token, 1001) == "m-1"


async def test_a_newer_token_revokes_the_older_unused_one(store: Store) -> None:
    await member(store)
    older = await links.create_token(store, "m-1")
    newer = await links.create_token(store, "m-1")
    assert await refused(store, older.token, 2002) == "revoked"
    assert await links.consume_token(store, newer.token, 1001) == "m-1"


async def test_unlink_revokes_the_tokens_issued_before_it(store: Store) -> None:
    await member(store)
    first = await links.create_token(store, "m-1")
    assert await links.consume_token(store, first.token, 1001) == "m-1"
    # The member asks for a link again (another device), then unlinks from Telegram.
    spare = await links.create_token(store, "m-1")
    assert await links.unlink(store, 1001) == "m-1"
    assert await refused(store, spare.token, 2002) == "revoked"
    assert await links.member_for(store, 2002) is None
    again = await links.create_token(store, "m-1")
    assert await links.consume_token(store, again.token, 2002) == "m-1"


async def test_tokens_per_member_per_hour_are_limited(store: Store, clock: ManualClock) -> None:
    await member(store, "a")
    await member(store, "b")
    for _ in range(3):
        await links.create_token(store, "a", per_hour=3)
        clock.advance(minutes=10)
    before = await snapshot(store)
    with pytest.raises(Refused) as caught:
        await links.create_token(store, "a", per_hour=3)
    assert caught.value.code == "too_many_tokens"
    assert caught.value.context["retry_after"] == 30 * 60  # when the first leaves the hour
    assert await snapshot(store) == before
    await links.create_token(store, "b", per_hour=3)  # per member
    clock.advance(minutes=30)
    await links.create_token(store, "a", per_hour=3)


async def test_unknown_token_and_unknown_member(store: Store) -> None:
    await member(store)
    assert await refused(store, "not-a-token", 1001) == "invalid"
    with pytest.raises(NotFound):
        await links.create_token(store, "ghost")
    assert await scalar(store, "SELECT COUNT(*) FROM link_tokens") == 0


async def test_one_account_per_telegram_user(store: Store) -> None:
    await member(store, "a")
    await member(store, "b")
    await links.consume_token(store, (await links.create_token(store, "a")).token, 1001)
    token_b = await links.create_token(store, "b")
    assert await refused(store, token_b.token, 1001) == "user_linked"
    assert await links.member_for(store, 1001) == "a"
    # The token was not spent by the refusal: another user can still use it.
    assert await links.consume_token(store, token_b.token, 2002) == "b"


async def test_one_telegram_user_per_account(store: Store) -> None:
    await member(store, "a")
    await links.consume_token(store, (await links.create_token(store, "a")).token, 1001)
    second = await links.create_token(store, "a")
    assert await refused(store, second.token, 2002) == "member_linked"
    assert await links.telegram_user_for(store, "a") == 1001
    assert await links.member_for(store, 2002) is None


async def test_unlink_then_link_again(store: Store) -> None:
    await member(store, "a")
    await member(store, "b")
    first = await links.create_token(store, "a")
    await links.consume_token(store, first.token, 1001)
    assert await links.unlink(store, 1001) == "a"
    assert await links.unlink(store, 1001) is None
    assert await links.member_for(store, 1001) is None
    assert not (await members.view(store, "a")).telegram_linked
    # The spent token stays spent; a new one links, and the user may pick another account.
    assert await refused(store, first.token, 1001) == "used"
    assert await links.consume_token(store, (await links.create_token(store, "b")).token, 1001)
    assert await links.member_for(store, 1001) == "b"
    assert await links.consume_token(store, (await links.create_token(store, "a")).token, 2002)
    assert await scalar(store, "SELECT COUNT(*) FROM telegram_links") == 2
