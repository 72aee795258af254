"""Several processes on one store: what one worker starts another finishes, only the leading
scheduler sends, and a sender that died mid-send never makes anyone hear a notice twice.

"Processes" here are two Applications on two Stores opened on the same database file (what two
processes share); tests/e2e/test_scaling.py runs real ones."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.budget import share
from bot.config import parse_config
from bot.jobs import Scheduler
from bot.leader import Leadership
from loyalty.clock import ManualClock
from storage import leases, outbox
from storage.store import Store
from telegram_emulator import TelegramEmulator
from tests.bot.conftest import linked, make_config
from tests.bot.test_reminders import EVENING, sent_to, world
from tests.conftest import StoreOpener, delivered_order, rows


async def test_the_order_number_question_is_answered_by_another_worker(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config()
    emu = TelegramEmulator(bot_username="loyalty_test_bot")
    try:
        async with world(tmp_path, clock, config, emu=emu, name="shared.db") as (_, store, _, _):
            ann = emu.user(1001, "Ann")
            await linked(store, ann)
            await delivered_order(store, "m-1", 3_000, "10023")
            await ann.send("/help")
            await ann.press("🔎 Points missing for an order?")
            assert "Send me the order number" in ann.last_reply().text
            # The member's next update reaches the other worker (its own store connection).
            async with world(tmp_path, clock, config, emu=emu, name="shared.db"):
                await ann.send("10023")
                assert "Order 10023" in ann.last_reply().text
                clock.advance(minutes=31)  # the question has expired for every worker
                await ann.send("10023")
                assert "Order 10023" not in ann.last_reply().text
    finally:
        await emu.aclose()


async def test_only_the_leading_scheduler_sends_and_a_standby_takes_over(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config()
    async with world(tmp_path, clock, config) as (app, store, _, emu):
        ann = emu.user(1001, "Ann")
        await linked(store, ann)
        clock.set(EVENING)
        term = timedelta(seconds=20)
        other = Leadership(store, term, "another-process")
        assert await other.beat()
        mine = Leadership(store, term, "this-process")
        runner = Scheduler(app, config, leadership=mine)
        assert not await mine.beat()
        await runner.plan()
        before = len(sent_to(emu, ann))
        report = await runner.drain()
        assert report.sent == 0 and len(sent_to(emu, ann)) == before  # a standby sends nothing
        clock.advance(seconds=20)  # the leader stopped renewing: its lease ran out
        assert await mine.beat()
        assert (await runner.drain()).sent == 1
        assert len(sent_to(emu, ann)) == before + 1
        # Rows are claimed for no longer than the lead lasts.
        [row] = await rows(store, "SELECT claimed_until, status FROM outbox")
        assert row["status"] == "sent"


async def test_a_notice_a_dead_sender_may_have_sent_is_not_sent_again(
    tmp_path: Path, clock: ManualClock
) -> None:
    config = make_config()
    async with world(tmp_path, clock, config) as (_, store, runner, emu):
        people = [emu.user(1001 + i, f"P{i}") for i in range(3)]
        for i, person in enumerate(people):
            await linked(store, person, f"m-{i}")
        clock.set(EVENING)
        await runner.plan()
        # A sender claims the three, marks the first as going out, and dies before more.
        policy = config.reminders.policy()
        dead = await outbox.claim(store, policy, "dead", lease=timedelta(minutes=2))
        first = dead.notices[0]
        assert len(dead.notices) == 3
        assert await outbox.mark_sending(store, "dead", [first.id]) == 1
        clock.advance(minutes=1)
        report = await runner.drain()
        assert report.sent == 0  # the claim still holds: nothing is taken from a live one
        clock.advance(minutes=1)  # its claim has run out
        report = await runner.drain()
        assert report.sent == 2 and report.skipped["uncertain"] == 1
        got = {p.id: len(sent_to(emu, p)) - 1 for p in people}  # less the link's answer
        assert got[first.telegram_user_id] == 0 and sorted(got.values()) == [0, 1, 1]


async def test_the_relay_lease_is_given_back_after_each_message(
    tmp_path: Path, clock: ManualClock
) -> None:
    from handlers.desk import member_lock

    config = make_config()
    async with world(tmp_path, clock, config) as (app, store, _, _):
        async with member_lock(app.bot_data, store, 1001):
            held = await leases.current(store, "relay:1001")
            assert held is not None
            # Another worker cannot take it while this one relays.
            assert await leases.acquire(store, "relay:1001", "other", timedelta(seconds=1)) is None
        assert await leases.current(store, "relay:1001") is None


def test_the_budget_holds_however_the_processes_are_split() -> None:
    def config(workers: int, web: int, rate: int = 30) -> object:
        return parse_config(
            {"program": {"preset": "marketplace"}, "reminders": {"rate_per_second": rate},
             "scaling": {"web_workers": workers, "web_messages_per_second": web}}
        )  # fmt: skip

    alone = share(config(1, 10), "all")  # type: ignore[arg-type]
    assert (alone.overall_per_second, alone.bulk_per_second, alone.group_per_minute) == (30, 30, 20)
    for workers, web in ((1, 10), (2, 10), (4, 12), (10, 29)):
        c = config(workers, web)
        web_part, leader = share(c, "web"), share(c, "scheduler")  # type: ignore[arg-type]
        assert workers * web_part.overall_per_second + leader.overall_per_second <= 30
        assert leader.bulk_per_second <= leader.overall_per_second
        assert (workers + 1) * web_part.group_per_minute <= 20
    paid = share(config(2, 10, rate=500), "scheduler")  # type: ignore[arg-type]
    assert paid.bulk_per_second == 500 and paid.overall_per_second == 20


async def test_two_stores_on_one_file_see_one_update_id_once(
    store: Store, stores: StoreOpener
) -> None:
    from storage import updates

    other = await stores.another(store)  # the same file, or the same PostgreSQL schema
    try:
        assert await updates.take(store, 42)
        assert not await updates.take(other, 42)
    finally:
        await other.close()
