"""Broadcasts end to end: queued once per member, sent by the scheduler like any notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from loyalty.clock import ManualClock
from storage import broadcasts, reminder_settings, telegram_users
from tests.bot.conftest import linked, make_config
from tests.bot.test_reminders import texts_since, world
from tests.conftest import member

NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def test_a_broadcast_respects_settings_quiet_hours_and_goes_once(
    tmp_path: Path, clock: ManualClock
) -> None:
    clock.set(NOON)
    async with world(tmp_path, clock, make_config()) as (_, store, runner, emu):
        ann, boris = emu.user(1001, "Ann"), emu.user(1002, "Борис", language_code="ru")
        cleo, dan = emu.user(1003, "Cleo"), emu.user(1004, "Dan")
        for person, member_id in ((ann, "m-1"), (boris, "m-2"), (cleo, "m-3"), (dan, "m-4")):
            await linked(store, person, member_id)
        await member(store, "m-5")  # not linked: not counted, not queued
        await reminder_settings.change(store, cleo.id, mode=("account", "off"))
        await reminder_settings.change(store, dan.id, quiet=(11 * 60, 13 * 60))  # 11:00-13:00
        await telegram_users.update(store, boris.id, unreachable=True)
        await runner.drain()
        marks = {p.id: p.mark() for p in (ann, boris, cleo, dan)}
        reach = await broadcasts.audience(store)
        assert (reach.linked, reach.reachable, reach.blocked, reach.opted_out) == (4, 2, 1, 1)
        assert await broadcasts.queue(store, "b-1", "Sale <b>today</b> & tomorrow") == 2
        assert await broadcasts.queue(store, "b-1", "Sale <b>today</b> & tomorrow") == 0
        await runner.drain()
        assert texts_since(ann, marks[ann.id]) == ["📣 Sale <b>today</b> & tomorrow"]  # as text
        assert ann.last_reply().button_labels == ["⚙️ Reminder settings"]
        for person in (boris, cleo, dan):
            assert texts_since(person, marks[person.id]) == [], person
        clock.advance(timedelta(hours=1))  # Dan's quiet hours end at 13:00
        await runner.drain()
        assert texts_since(dan, marks[dan.id]) == ["📣 Sale <b>today</b> & tomorrow"]
        assert texts_since(ann, marks[ann.id]) == ["📣 Sale <b>today</b> & tomorrow"]  # once
