"""Leases (storage/leases.py) and the scheduler's leadership on them (bot/leader.py), on the
injected clock: one holder at a time, renewals, takeover once a lease ran out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import parse_config
from bot.leader import LEASE_NAME, Leadership
from loyalty.clock import ManualClock
from storage import leases
from storage.errors import Invalid
from storage.store import Store

TERM = timedelta(seconds=20)


async def test_one_holder_at_a_time_until_the_lease_runs_out(
    store: Store, clock: ManualClock
) -> None:
    start = clock()
    assert await leases.acquire(store, "job", "a", TERM) == start + TERM
    assert await leases.acquire(store, "job", "b", TERM) is None
    clock.advance(seconds=19)
    assert await leases.acquire(store, "job", "b", TERM) is None
    assert await leases.acquire(store, "job", "a", TERM) == clock() + TERM  # renewed
    clock.advance(seconds=19)
    assert await leases.acquire(store, "job", "b", TERM) is None  # a's renewal still holds
    clock.advance(seconds=1)
    assert await leases.acquire(store, "job", "b", TERM) == clock() + TERM  # expired: taken
    assert (await leases.current(store, "job")).holder == "b"
    assert await leases.acquire(store, "job", "a", TERM) is None


async def test_only_the_holder_releases_and_others_are_independent(store: Store) -> None:
    await leases.acquire(store, "relay:1", "a", TERM)
    assert await leases.acquire(store, "relay:2", "b", TERM) is not None  # another name
    assert await leases.release(store, "relay:1", "b") is False
    assert (await leases.current(store, "relay:1")).holder == "a"
    assert await leases.release(store, "relay:1", "a") is True
    assert await leases.current(store, "relay:1") is None
    assert await leases.acquire(store, "relay:1", "b", TERM) is not None
    with pytest.raises(Invalid):
        await leases.acquire(store, "relay:1", "b", timedelta(0))


async def test_a_standby_takes_over_within_30_seconds_of_the_leader_dying(
    store: Store, clock: ManualClock
) -> None:
    scaling = parse_config({"program": {"preset": "marketplace"}}).scaling
    term, beat = timedelta(seconds=scaling.lease_seconds), scaling.heartbeat_seconds
    leader, standby = Leadership(store, term, "leader"), Leadership(store, term, "standby")
    assert await leader.beat() and not await standby.beat()
    for _ in range(10):  # both keep beating: the lead stays put
        clock.advance(seconds=beat)
        assert await leader.beat() and not await standby.beat()
    died = clock()  # the leader stops beating, just after a renewal
    while not await standby.beat():
        clock.advance(seconds=beat)
    assert clock() - died <= term + timedelta(seconds=beat) <= timedelta(seconds=30)
    assert not leader.leading()  # its own clock says its lease is over: it sends nothing
    assert not await leader.beat()  # and coming back does not take the lead back
    assert (await leases.current(store, LEASE_NAME)).holder == "standby"


async def test_resigning_hands_over_at_the_next_heartbeat(store: Store) -> None:
    leader, standby = Leadership(store, TERM, "leader"), Leadership(store, TERM, "standby")
    assert await leader.beat()
    await leader.resign()
    assert not leader.leading()
    assert await standby.beat()
    assert standby.remaining() == TERM


def test_the_heartbeat_must_renew_twice_per_lease() -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="heartbeat_seconds: must be at most half"):
        parse_config(
            {"program": {"preset": "marketplace"},
             "scaling": {"lease_seconds": 10, "heartbeat_seconds": 6}}
        )  # fmt: skip


def test_a_process_name_survives_the_token_redaction_of_log_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is in the leader's log lines: shaped like a bot token (host:pid:hex, with a
    pid of five digits or more) it was written as `<bot-token>`, and nobody could tell who
    leads."""
    import os

    from bot.leader import process_name
    from bot.logs import redact

    for pid in (7, 17836, 4194304):  # pids run up to 2**22 on Linux
        monkeypatch.setattr(os, "getpid", lambda pid=pid: pid)
        name = process_name()
        assert str(pid) in name
        assert redact(f"event=scheduler_leading holder={name}").endswith(name)
    assert len({process_name() for _ in range(20)}) == 20  # unique per call (random suffix)
