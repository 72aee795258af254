"""`loyaltybot sandbox`: the real service (`run`) against a Telegram emulated on loopback.

The shop's own config runs as in production (`bot.service.serve`: the shop API with its key,
the bot polling, the scheduler on the JobQueue), but Telegram is `telegram_emulator` served
over HTTP on 127.0.0.1, and you chat with the bot in the terminal as in the demo
(`bot.demo_chat`). So a shop can try its config, its API calls (curl against the printed
address) and what members see, before it has a bot token. Nothing reaches the real Telegram.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import FrameType

from bot.api.server import Listening
from bot.config import Config
from bot.demo_chat import DEMO_AGENT_ID, DEMO_AGENTS, Chat, Desk, MetaCommand
from bot.demo_terminal import Terminal, stdin_terminal
from bot.logs import setup_logging, stop_logging
from bot.service import serve
from bot.store import open_store
from storage import links
from storage.db import Database
from telegram_emulator import RateLimits, TelegramEmulator
from telegram_emulator import serve as serve_emulator

SANDBOX_USER_ID = 700_001
REPLY_WAIT = 5.0  # the first reply to what you typed, over HTTP polling
QUIET_AFTER = 0.4  # then more replies (a notice, a card) until the chat is this long quiet
SANDBOX_HELP = """\
  :link MEMBER    be the shop: a one-time link for MEMBER, opened as you (/start TOKEN)
  :api            the shop API's address and key, for curl
"""


@contextmanager
def _secret_env(names: dict[str, str]) -> Iterator[None]:
    """Set the secrets the service reads, for this process only, and put them back after."""
    before = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _ctrl_c(terminal: Terminal) -> Iterator[None]:
    # A plain handler, under the ones uvicorn and the service install while they run (they
    # restore it, and raise a signal they took again): Ctrl-C always ends up ending the chat.
    loop = asyncio.get_running_loop()

    def handle(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(terminal.interrupted.set)

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def sandbox_config(config: Config, base_url: str, db_path: Path) -> Config:
    """Return the shop's config pointed at the emulator and the sandbox's database."""
    telegram = replace(config.telegram, base_url=base_url, mode="polling", bot_username="")
    support = config.support
    if not support.enabled:
        # Live chat on, in the emulated agents' group, so the desk can be tried too.
        support = replace(support, agent_chat_id=DEMO_AGENTS)
    support = replace(support, admin_ids=(*support.admin_ids, DEMO_AGENT_ID))
    storage = replace(config.storage, path=str(db_path))
    return replace(config, telegram=telegram, support=support, storage=storage)


async def _settle(chat: Chat, marks: Callable[[], int]) -> None:
    """Wait for the bot's answer to what was typed: the first reply, then a quiet moment."""
    start = marks()
    deadline = asyncio.get_running_loop().time() + REPLY_WAIT
    seen = start
    quiet_since: float | None = None
    while (now := asyncio.get_running_loop().time()) < deadline:
        current = marks()
        if current != seen:
            seen, quiet_since = current, now
        elif quiet_since is not None and now - quiet_since >= QUIET_AFTER:
            return
        await asyncio.sleep(0.05)


async def run_sandbox(
    config: Config, *, db_path: str | None = None, terminal: Terminal | None = None
) -> int:
    """Run the service against the emulated Telegram with the terminal chat; return the code."""
    terminal = terminal or stdin_terminal()
    emu = TelegramEmulator(bot_username="loyalty_sandbox_bot", limits=RateLimits(private_burst=50))
    api_key = os.environ.get(config.server.api_key_env) or secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="loyaltybot-sandbox-") as scratch:
        path = Path(db_path) if db_path else Path(scratch) / "sandbox.db"
        await (await Database.open(path)).close()  # created or migrated, as `db migrate` does
        env = {config.telegram.token_env: emu.token, config.server.api_key_env: api_key}
        log_path = path.with_suffix(".log")
        # The service's log lines go to a file: the terminal is the chat.
        with log_path.open("a", encoding="utf-8") as log_file:
            setup_logging(stream=log_file)
            terminal.show(f"sandbox: the service's log is {log_path} (tail -f it)")
            try:
                with _ctrl_c(terminal), _secret_env(env):
                    async with serve_emulator(emu) as base_url:
                        sandboxed = sandbox_config(config, base_url, path)
                        return await _session(sandboxed, emu, terminal, api_key)
            finally:
                await emu.aclose()
                stop_logging()  # before the file closes: what is queued is written


async def _session(config: Config, emu: TelegramEmulator, terminal: Terminal, key: str) -> int:
    stop = asyncio.Event()
    listening: list[Listening] = []
    service = asyncio.create_task(serve(config, stop=stop, on_ready=listening.append))
    while not listening and not service.done():
        await asyncio.wait({service}, timeout=0.05)
    if service.done():
        service.result()  # the reason it did not start (a port in use: one error line)
        return 1
    address = listening[0].url
    terminal.show(f"sandbox: the real service on {address}, Telegram emulated on loopback")
    terminal.show(f"shop API key: {key}  (curl -H 'Authorization: Bearer {key}' {address}/...)")
    # The service stopping by itself (a signal it took) ends the chat too.
    service.add_done_callback(lambda _: terminal.interrupted.set())
    desk = Desk.open(emu, config.support.agent_chat_id)
    me = emu.user(SANDBOX_USER_ID, "Alex", language_code="en")

    async def link(member_id: str) -> list[str]:
        if not member_id:
            return ["(name the shop's member id: :link m-1)"]
        async with open_store(config) as store:
            token = await links.create_token(store, member_id, timedelta(minutes=10))
        await me.send(f"/start {token.token}")
        return [f"(the shop's one-time link for {member_id} opened the bot)"]

    async def api(_: str) -> list[str]:
        return [f"(shop API: {address}, key {key})"]

    commands: dict[str, MetaCommand] = {"link": link, "api": api}
    chat = Chat(me, terminal, desk, commands, SANDBOX_HELP)
    updates = [len(emu.update_log)]

    async def answered() -> None:
        # Only what reached the bot gets an answer to wait for (not :api, not an unknown id).
        if len(emu.update_log) != updates[0]:
            await _settle(chat, lambda: _activity(emu))
        updates[0] = len(emu.update_log)

    chat.after_action = answered
    try:
        await chat.run()
    finally:
        stop.set()
        with suppress(asyncio.CancelledError):
            await service
    return 0


def _activity(emu: TelegramEmulator) -> int:
    """Return a number that grows with every message the bot sends or edits anywhere."""
    return sum(chat.activity.seq for chat in emu.chats.values())
