"""`loyaltybot demo`: the whole product offline, in the terminal, on the built-in emulator.

A fresh database gets demo members and orders; the real Application runs against the Telegram
emulator; you chat as a demo member: type text and /commands, press inline buttons by number,
and type `:help` for the demo's own commands. The support agents' forum group is emulated too:
`/support` opens a ticket, what the bot posts for the agents is shown as `desk #N>`, and
`:agent TEXT` lets you answer as an agent, so a newcomer can play both roles.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote

from telegram.ext import Application

from bot.api import build_api
from bot.api.server import http_server
from bot.application import build_application, start_up
from bot.config import Config, StorageConfig
from bot.jobs import Scheduler
from bot.sender import send_queue
from bot.web.initdata import sign
from handlers.context import SERVICES_KEY
from loyalty.clock import Clock, system_clock
from storage import console_logins, links
from storage.events import apply_event
from storage.store import Store
from telegram_emulator import (
    EmulatorRequest,
    Group,
    MessageView,
    Person,
    RateLimits,
    TelegramEmulator,
)

DEMO_MEMBER = "demo-alex"
OPEN_ORDER = "A-1004"  # paid, not delivered yet: `:ship` delivers it
DEMO_USER_ID = 700_001
DEMO_AGENTS = -1_007_000_000_001  # the agents' forum supergroup inside the emulator
DEMO_AGENT_ID = 700_101  # Sam, a support agent (and admin) you can play with :agent
META_HELP = """Demo commands:
  <number>        press that button of the last message with buttons
  /command, text  talk to the bot as the member (/support reaches the agents)
  :agent TEXT     be Sam, a support agent: write TEXT in the newest ticket's topic, e.g.
                  an answer, /card, /grant 50 reason, /coupon 5 reason, /canned, /close
  :desk           show the newest ticket's topic as the agents see it
  :ship           be the shop: deliver Alex's open order (the "points earned" notice follows)
  :tick           run the scheduler once now (reminders and notices that are due)
  :web            the member's card and the owner's console in your browser (new links)
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


def demo_events(now_iso: Callable[[int], str]) -> list[dict[str, Any]]:
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
    add(1, "order.placed", order_id=OPEN_ORDER, member_id=DEMO_MEMBER, amount_cents=8_800)
    add(0, "order.paid", order_id=OPEN_ORDER)
    return events


async def seed(store: Store, telegram_user_id: int) -> None:
    """Fill a fresh store with demo members and orders and link the demo member."""
    now = store.now()

    def at(days_ago: int) -> str:
        return (now - timedelta(days=days_ago, hours=1)).isoformat()

    for event in demo_events(at):
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


@dataclass
class Desk:
    """The emulated agents' side: their forum group and the agent you can act as."""

    group: Group
    agent: Person
    seen: dict[int, str]  # message id -> text, of every message shown so far
    topics: dict[int, str]  # thread id -> name, as last shown

    @classmethod
    def open(cls, emu: TelegramEmulator) -> Desk:
        """Create the agents' forum group with Sam in it."""
        group = emu.supergroup(DEMO_AGENTS, "Support desk", forum=True)
        agent = emu.user(DEMO_AGENT_ID, "Sam", language_code="en")
        group.add_member(agent)
        return cls(group, agent, {}, {})

    def newest_topic(self) -> int | None:
        """Return the thread id of the newest live topic (the newest ticket)."""
        live = [t.thread_id for t in self.group.topics.values() if not t.deleted]
        return max(live) if live else None

    def news(self) -> list[str]:
        """Return lines for what changed on the agents' side since the last call."""
        lines = []
        for thread, topic in self.group.topics.items():
            if self.topics.get(thread) != topic.name:
                verb = "new topic" if thread not in self.topics else "topic is now"
                lines.append(f"desk> {verb} «{topic.name}»{' (closed)' if topic.closed else ''}")
                self.topics[thread] = topic.name
        for message in self.group.bot_messages():
            if self.seen.get(message.message_id) != message.text:
                self.seen[message.message_id] = message.text
                lines += desk_lines(self.group, message)
        return lines

    def transcript(self) -> list[str]:
        """Return the newest ticket's topic, every message, as the agents see it."""
        thread = self.newest_topic()
        if thread is None:
            return ["(no ticket yet: send /support as the member)"]
        lines = [f"desk> topic «{self.group.topics[thread].name}»"]
        for message in self.group.messages(thread):
            lines += desk_lines(self.group, message)
        return lines


def desk_lines(group: Group, message: MessageView) -> list[str]:
    """Render one message of the agents' group, prefixed with its ticket topic."""
    topic = group.topics.get(message.thread_id) if message.thread_id else None
    number = re.search(r"#\d+", topic.name) if topic else None
    where = number.group(0) if number else "general"
    who = "" if message.from_bot else "Sam: "
    text = f"[{message.kind}] {message.text}".strip() if message.kind != "text" else message.text
    pinned = " (pinned)" if message.pinned else ""
    prefix = f"desk {where}> "
    return [
        f"{prefix}{who}{line}{pinned if i == 0 else ''}" if i == 0 else f"{' ' * len(prefix)}{line}"
        for i, line in enumerate(text.splitlines() or [""])
    ]


@dataclass
class Backstage:
    """What the demo does behind the chat: the shop's events and the scheduler's work."""

    store: Store
    scheduler: Scheduler
    shipped: bool = False

    async def ship(self) -> str:
        """Deliver the demo member's open order through the same operation the shop API uses."""
        if self.shipped:
            return "(the open order was already delivered)"
        delivered = {"order_id": OPEN_ORDER}
        now = self.store.now().isoformat()
        event = {
            "id": "demo-ship",
            "type": "order.delivered",
            "occurred_at": now,
            "data": delivered,
        }
        await apply_event(self.store, event)
        self.shipped = True
        report = await self.scheduler.drain()
        done = f"(the shop delivered order {OPEN_ORDER})"
        if report.deferred:
            # At night the notice is real but held: say so, or the demo looks broken.
            done += (
                "\n(its notice waits for the end of the member's quiet hours; :tick sends it then)"
            )
        return done

    async def tick(self) -> str:
        """Run the day start, the reminder planning and the outbox once."""
        report = await self.scheduler.tick()
        return f"(scheduler: {report.sent} sent)"


@dataclass
class WebPages:
    """The card and the console, served on a local port while the demo runs."""

    store: Store
    url: str
    bot_token: str

    async def addresses(self) -> str:
        """Return the card's address for Alex and a signed-in console link for Sam (new ones)."""
        now = self.store.now()
        user = {"id": DEMO_USER_ID, "first_name": "Alex", "language_code": "en"}
        card = f"{self.url}/app/#tgWebAppData={quote(sign(self.bot_token, user, now))}"
        # Longer than the 10 minutes /console gives: the demo's reader may look later.
        login = await console_logins.create(self.store, DEMO_AGENT_ID, timedelta(hours=12))
        console = f"{self.url}/console/#login={login.token}"
        return (
            f"(the member's card, as Alex: {card})\n"
            f"(the owner's console, signed in as Sam, works once: {console})"
        )


async def chat_loop(
    me: Person,
    terminal: Terminal,
    desk: Desk | None = None,
    backstage: Backstage | None = None,
    web: WebPages | None = None,
) -> None:
    """Read your lines, act on the bot (as the member, or as an agent), print the answers."""
    numbers: dict[int, tuple[MessageView, str]] = {}
    terminal.show(f"You are Alex ({DEMO_MEMBER}), a member of the demo shop.\n{META_HELP}\n")
    if web is not None:
        terminal.show(await web.addresses() + "\n")
    before = snapshot(me)
    await me.send("/start")
    while True:
        for message in changed(me, before):
            for shown in render(message, numbers if message.buttons else {}):
                terminal.show(shown)
        for shown in desk.news() if desk is not None else []:
            terminal.show(shown)
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
        elif text == ":desk" and desk is not None:
            for desk_line in desk.transcript():
                terminal.show(desk_line)
        elif text.startswith(":agent") and desk is not None:
            said = text.removeprefix(":agent").strip()
            if not said:
                terminal.show("(write what the agent says: :agent Hello!)")
                continue
            await desk.agent.send(said, chat=desk.group, thread_id=desk.newest_topic())
        elif text == ":web" and web is not None:
            terminal.show(await web.addresses())
        elif text in (":ship", ":tick") and backstage is not None:
            note = await (backstage.ship() if text == ":ship" else backstage.tick())
            terminal.show(note)
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
    config: Config,
    *,
    db_path: str | None = None,
    terminal: Terminal | None = None,
    clock: Clock = system_clock,
) -> int:
    """Run the demo until `:quit` or end of input; return the exit code."""
    terminal = terminal or Terminal(_stdin_line, sys.stdout, echo=not sys.stdin.isatty())
    with tempfile.TemporaryDirectory(prefix="loyaltybot-demo-") as scratch:
        path = Path(db_path) if db_path else Path(scratch) / "demo.db"
        config = replace(config, storage=StorageConfig(path=str(path), synchronous="NORMAL"))
        # The agents' group lives in the emulator too, with Sam as an admin agent.
        support = replace(
            config.support,
            agent_chat_id=DEMO_AGENTS,
            admin_ids=(*config.support.admin_ids, DEMO_AGENT_ID),
        )
        config = replace(config, support=support)
        store = await Store.open(path, config.program, synchronous="NORMAL", clock=clock)
        # A script piped into the demo goes faster than a person types: a roomier burst in the
        # member's private chat keeps Telegram's sustained limit out of the way.
        emu = TelegramEmulator(
            bot_username="loyalty_demo_bot",
            limits=RateLimits(private_burst=50),
            start_time=clock(),
        )
        desk = Desk.open(emu)
        try:
            await seed(store, DEMO_USER_ID)
            app: Application = build_application(
                config, store, EmulatorRequest(emu), token=emu.token
            )
            emu.connect(app)
            # Live chat's sends are queued: deliver them before the demo prints the answer.
            emu.after_update.append(send_queue(app).drain)
            api = build_api(
                config, store, api_key=secrets.token_urlsafe(16), bot_username=emu.bot_username,
                bot_token=emu.token,
            )  # fmt: skip
            async with app, http_server(api, "127.0.0.1", 0) as listening:
                app.bot_data[SERVICES_KEY].web_base_url = listening.url
                await start_up(app)
                me = emu.user(DEMO_USER_ID, "Alex", language_code="en")
                backstage = Backstage(store, Scheduler(app, config))
                web = WebPages(store, listening.url, emu.token)
                await chat_loop(me, terminal, desk, backstage, web)
        finally:
            await emu.aclose()
            await store.close()
    return 0
