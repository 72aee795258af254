"""`loyaltybot demo`: the whole product offline, in the terminal, on the built-in emulator.

A fresh database gets demo members and orders; the real Application runs against the Telegram
emulator; you chat as a demo member: type text and /commands, press inline buttons by number,
and type `:help` for the demo's own commands.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from telegram.ext import Application

from bot.application import build_application, start_up
from bot.config import Config, StorageConfig
from bot.emulator import EmulatorRequest, MessageView, Person, TelegramEmulator
from storage import links
from storage.events import apply_event
from storage.store import Store

DEMO_MEMBER = "demo-alex"
DEMO_USER_ID = 700_001
META_HELP = """Demo commands:
  <number>        press that button of the last message with buttons
  /command, text  talk to the bot as the member
  :help           this help
  :quit           leave the demo"""


@dataclass
class Terminal:
    """Where the demo reads your lines and prints the chat."""

    read_line: Callable[[], Awaitable[str | None]]
    out: TextIO
    echo: bool = False  # print what was read (input from a file or a pipe is not on screen)

    def show(self, text: str) -> None:
        """Print a line of the conversation."""
        print(text, file=self.out, flush=True)


async def _stdin_line() -> str | None:
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    return line.rstrip("\n") if line else None


def demo_events(program_preset: str, now_iso: Callable[[int], str]) -> list[dict[str, Any]]:
    """Return shop events that give the demo members a believable history."""
    events: list[dict[str, Any]] = []

    def add(days_ago: int, type_: str, **data: Any) -> None:
        events.append({"id": f"demo-{len(events)}", "type": type_,
                       "occurred_at": now_iso(days_ago), "data": data})  # fmt: skip

    add(40, "member.upserted", member_id="demo-maria", name="Maria", language="en")
    add(30, "member.upserted", member_id=DEMO_MEMBER, name="Alex", language="en",
        referred_by="demo-maria")  # fmt: skip
    add(30, "member.email_verified", member_id=DEMO_MEMBER)
    orders = [("A-1001", 64_900, 20), ("A-1002", 12_350, 9), ("A-1003", 3_999, 2)]
    for order_id, amount, days_ago in orders:
        add(days_ago + 2, "order.placed", order_id=order_id, member_id=DEMO_MEMBER,
            amount_cents=amount)  # fmt: skip
        add(days_ago + 1, "order.paid", order_id=order_id)
        add(days_ago, "order.delivered", order_id=order_id)
    add(8, "review.submitted", order_id="A-1002")
    add(1, "order.placed", order_id="A-1004", member_id=DEMO_MEMBER, amount_cents=8_800)
    add(0, "order.paid", order_id="A-1004")
    return events


async def seed(store: Store, telegram_user_id: int) -> None:
    """Fill a fresh store with demo members and orders and link the demo member."""
    now = store.now()

    def at(days_ago: int) -> str:
        return (now - timedelta(days=days_ago, hours=1)).isoformat()

    for event in demo_events(store.program.preset, at):
        await apply_event(store, event)
    token = await links.create_token(store, DEMO_MEMBER)
    await links.consume_token(store, token.token, telegram_user_id)


def render(message: MessageView, numbers: dict[int, tuple[MessageView, str]]) -> list[str]:
    """Render a bot message with its buttons numbered from 1 (numbers are recorded)."""
    lines = [f"bot> {line}" if i == 0 else f"     {line}"
             for i, line in enumerate(message.text.splitlines() or [""])]  # fmt: skip
    if message.protect_content:
        lines.append("     (protected: cannot be forwarded or saved)")
    numbers.clear()
    for row in message.buttons:
        cells = []
        for b in row:
            if b.url:
                cells.append(f"[{b.label} → {b.url}]")
            else:
                numbers[len(numbers) + 1] = (message, b.label)
                cells.append(f"[{len(numbers)}] {b.label}")
        lines.append("     " + "   ".join(cells))
    return lines


def snapshot(me: Person) -> dict[int, tuple[str, Any]]:
    """Return what each bot message in the chat says now (to spot new and edited ones)."""
    return {m.message_id: (m.text, m.buttons) for m in me.bot_messages()}


def changed(me: Person, before: dict[int, tuple[str, Any]]) -> list[MessageView]:
    """Return the bot messages that are new or were edited since `before`."""
    return [m for m in me.bot_messages() if before.get(m.message_id) != (m.text, m.buttons)]


async def chat_loop(me: Person, terminal: Terminal) -> None:
    """Read your lines, act on the bot, print what it answered."""
    numbers: dict[int, tuple[MessageView, str]] = {}
    terminal.show(f"You are Alex ({DEMO_MEMBER}), a member of the demo shop.\n{META_HELP}\n")
    before = snapshot(me)
    await me.send("/start")
    while True:
        for message in changed(me, before):
            for line in render(message, numbers if message.buttons else {}):
                terminal.show(line)
        terminal.show("")
        line = await terminal.read_line()
        if line is not None and terminal.echo:
            terminal.show(f"you> {line}")
        if line is None or line.strip() in (":quit", ":q"):
            return
        text = line.strip()
        before = snapshot(me)
        if not text:
            continue
        if text == ":help":
            terminal.show(META_HELP)
        elif text.isdigit():
            target = numbers.get(int(text))
            if target is None:
                terminal.show(f"(there is no button {text} on the last message)")
                continue
            message, label = target
            answer = await me.press(label, message=message)
            if answer is not None and answer.text:
                terminal.show(f"bot (pop-up)> {answer.text}")
        else:
            await me.send(text)


async def run_demo(
    config: Config, *, db_path: str | None = None, terminal: Terminal | None = None
) -> int:
    """Run the demo until `:quit` or end of input; return the exit code."""
    terminal = terminal or Terminal(_stdin_line, sys.stdout, echo=not sys.stdin.isatty())
    with tempfile.TemporaryDirectory(prefix="loyaltybot-demo-") as scratch:
        path = Path(db_path) if db_path else Path(scratch) / "demo.db"
        config = replace(config, storage=StorageConfig(path=str(path), synchronous="NORMAL"))
        store = await Store.open(path, config.program, synchronous="NORMAL")
        emu = TelegramEmulator(bot_username="loyalty_demo_bot")
        try:
            await seed(store, DEMO_USER_ID)
            app: Application = build_application(  # type: ignore[type-arg]
                config, store, EmulatorRequest(emu), token=emu.token
            )
            emu.connect(app)
            async with app:
                await start_up(app)
                me = emu.user(DEMO_USER_ID, "Alex", language_code="en")
                await chat_loop(me, terminal)
        finally:
            await emu.aclose()
            await store.close()
    return 0
