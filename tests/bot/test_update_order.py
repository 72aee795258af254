"""Updates: members are answered side by side, each member's own updates strictly in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from telegram import Chat, Message, Update, User
from telegram.ext import Application

from bot.emulator import Person
from bot.updates import ChatOrderedUpdateProcessor, chat_key
from storage import daily
from storage.store import Store
from tests.bot.conftest import linked


async def test_one_members_slow_write_does_not_hold_another_members_answer(
    app: Application,  # type: ignore[type-arg]
    bot_store: Store,
    ann: Person,
    boris: Person,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await linked(bot_store, ann, "m-1")
    await linked(bot_store, boris, "m-2")
    entered, release = asyncio.Event(), asyncio.Event()
    claim = daily.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()  # Ann's check-in waits here, as a COMMIT waits for the disk
        return await claim(*args, **kwargs)

    monkeypatch.setattr(daily, "claim", slow_claim)
    ann_daily = asyncio.create_task(ann.send("/daily"))
    await entered.wait()

    async with asyncio.timeout(10):  # bounds a failure only: one at a time would hang here
        await boris.send("/me")  # another member: answered while Ann's update is in progress
    assert "ваш аккаунт" in boris.last_reply().text
    ann_me = asyncio.create_task(ann.send("/me"))  # Ann's next update waits for her first
    await boris.send("/help")
    assert not ann_daily.done() and not ann_me.done()
    answered = len(ann.replies())

    release.set()
    await asyncio.gather(ann_daily, ann_me)
    later = ann.replies()[answered:]
    assert len(later) == 2
    assert "check" in later[0].text.lower()  # the check-in's answer first, then /me
    assert "your account" in later[1].text
    assert await daily_claims(bot_store) == 1
    assert app.update_processor.chats_in_progress == 0  # type: ignore[attr-defined]


async def daily_claims(store: Store) -> int:
    sql = "SELECT count(*) AS n FROM ledger WHERE reason = 'daily_coins'"
    row = await store.db.read_one(sql)
    assert row is not None
    return int(row["n"])


def update_in(chat_id: int, update_id: int) -> Update:
    user = User(chat_id, "someone", is_bot=False)
    chat = Chat(chat_id, Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, None, chat, from_user=user))  # type: ignore[arg-type]


async def test_a_chats_updates_run_in_arrival_order_and_other_chats_in_between() -> None:
    processor = ChatOrderedUpdateProcessor(max_concurrent_updates=8)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in ("a1", "a2", "b1")}

    async def handle(name: str) -> None:
        log.append(f"start {name}")
        await gates[name].wait()
        log.append(f"end {name}")

    tasks = [
        asyncio.create_task(processor.process_update(update_in(1, 1), handle("a1"))),
        asyncio.create_task(processor.process_update(update_in(1, 2), handle("a2"))),
        asyncio.create_task(processor.process_update(update_in(2, 3), handle("b1"))),
    ]
    for _ in range(5):
        await asyncio.sleep(0)  # let every task reach its lock (no time passes)
    assert log == ["start a1", "start b1"]  # a2 waits for a1; chat 2 is not held
    gates["a2"].set()  # a2 ready first must still wait for a1
    gates["b1"].set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert log == ["start a1", "start b1", "end b1"]
    assert processor.chats_in_progress == 1
    gates["a1"].set()
    await asyncio.gather(*tasks)
    assert log == ["start a1", "start b1", "end b1", "end a1", "start a2", "end a2"]
    assert processor.chats_in_progress == 0


async def test_a_failing_update_releases_its_chat() -> None:
    processor = ChatOrderedUpdateProcessor()

    async def fail() -> None:
        raise RuntimeError("handler failed")

    async def ok() -> str:
        return "ran"

    with pytest.raises(RuntimeError):
        await processor.process_update(update_in(1, 1), fail())
    await processor.process_update(update_in(1, 2), ok())
    assert processor.chats_in_progress == 0


def test_updates_are_ordered_by_chat_then_sender() -> None:
    assert chat_key(update_in(7, 1)) == ("chat", 7)
    assert chat_key("not an update") == ("other",)
    assert chat_key(Update(5)) == ("other",)
