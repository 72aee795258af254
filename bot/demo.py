"""`loyaltybot demo`: the whole product offline, in the terminal, on the built-in emulator.

A fresh database gets demo members and orders; the real Application runs against the Telegram
emulator; you chat as a demo member (`bot.demo_chat`). The support agents' forum group is
emulated too: `/support` opens a ticket, what the bot posts for the agents is shown as
`desk #N>`, and `:agent TEXT` lets you answer as an agent, so a newcomer can play both roles.
The demo's clock moves on request (`:time +1d`), and the scheduler runs as time passes, so
reminders, digests, expiry, the burn, SLA flags and out-of-hours answers can all be seen.
"""

from __future__ import annotations

import json
import re
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from telegram.ext import Application

from bot.api.app import build_api
from bot.api.server import http_server
from bot.application import build_application, start_up
from bot.config import Config, StorageConfig
from bot.demo_chat import DEMO_AGENT_ID, DEMO_AGENTS, Chat, Desk, MetaCommand
from bot.demo_terminal import Terminal, ctrl_c_stops, stdin_terminal
from bot.jobs import Scheduler, flag_overdue
from bot.sender import send_queue
from bot.web.initdata import sign
from handlers.context import SERVICES_KEY
from handlers.formatting import moment
from loyalty.clock import Clock, system_clock
from storage import console_logins, links, orders
from storage.events import apply_event
from storage.store import Store
from telegram_emulator import EmulatorRequest, Person, RateLimits, TelegramEmulator

DEMO_MEMBER = "demo-alex"
OPEN_ORDER = "A-1004"  # paid, not delivered yet: `:ship` delivers it
DEMO_USER_ID = 700_001
MAX_JUMP = timedelta(days=400)
STEP = timedelta(hours=1)  # the scheduler runs at every hour the clock passes
DEMO_HELP = """\
  :ship           be the shop: deliver Alex's open order (the "points earned" notice follows)
  :link           be the shop: link Alex's account again (after /unlink), by a one-time link
  :time           show the demo's clock; :time +1d, +3h, +30m, or :time 2027-06-29 19:00
                  moves it forward, running the scheduler at every hour on the way
                  (with --db the moved clock is kept with the database for the next run)
  :tick           run the scheduler once now (reminders and notices that are due)
  :web            the member's card and the owner's console in your browser (new links)
"""
SPAN = re.compile(r"(\d+)\s*([dhm])")
UNITS = {"d": "days", "h": "hours", "m": "minutes"}


class DemoClock:
    """The demo's time: a base clock plus however far `:time` moved it.

    With `keep` (a kept `--db` database) the offset is saved beside the database at every
    move and read back at the next start: the data written at the moved time stays in the
    demo's past instead of in a future the real clock has not reached.
    """

    def __init__(self, base: Clock = system_clock, keep: Path | None = None) -> None:
        self.base = base
        self.keep = keep
        self.offset = timedelta()

    def __call__(self) -> datetime:
        """Return the demo's now."""
        return self.base() + self.offset

    def monotonic(self) -> float:
        """Return monotonic seconds moved by the same offset (the emulator's clock)."""
        return time.monotonic() + self.offset.total_seconds()

    def move(self, delta: timedelta) -> None:
        """Move the clock forward by `delta` (and save the offset when it is kept)."""
        self.offset += delta
        if self.keep is not None:
            temporary = self.keep.with_name(self.keep.name + ".new")
            temporary.write_text(json.dumps({"offset_seconds": self.offset.total_seconds()}))
            temporary.replace(self.keep)  # whole or not at all, even on a crash mid-write

    def restore(self) -> bool:
        """Take the offset saved beside a kept database; return whether there was one."""
        if self.keep is None or not self.keep.exists():
            return False
        try:
            seconds = float(json.loads(self.keep.read_text())["offset_seconds"])
        except (OSError, ValueError, KeyError, TypeError):
            return False  # unreadable: real time, as before the clock was kept
        self.offset = max(timedelta(), timedelta(seconds=seconds))
        return self.offset > timedelta()

    def forget(self) -> None:
        """Drop a saved offset: a fresh demo starts at real time."""
        self.offset = timedelta()
        if self.keep is not None:
            self.keep.unlink(missing_ok=True)


def now_line(store: Store, clock: DemoClock) -> str:
    """Return "(demo time: ...)" in the programme's zone."""
    return f"(demo time: {moment(clock(), store.program.timezone, 'en')})"


def clock_file(db: Path) -> Path:
    """Return where the moved clock of a kept demo database is saved: beside it."""
    return db.with_name(db.name + ".clock")


def parse_when(text: str, now: datetime, zone: Any) -> datetime | str:
    """Return the instant `:time TEXT` means, or why it means none."""
    text = text.strip()
    if text.startswith("+"):
        spans = SPAN.findall(text[1:])
        if not spans or SPAN.sub("", text[1:]).strip():
            return f"(not a span of time: {text!r}; write +1d, +3h, +30m or +1d2h)"
        step = sum((timedelta(**{UNITS[u]: int(n)}) for n, u in spans), timedelta())
        target = now + step
    else:
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            return f"(not a date: {text!r}; write 2027-06-29 19:00, in the programme's time zone)"
        target = local if local.tzinfo else local.replace(tzinfo=zone)
    if target <= now:
        return "(the demo's clock only moves forward)"
    if target - now > MAX_JUMP:
        return f"(at most {MAX_JUMP.days} days at a time)"
    return target


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


async def seeded(store: Store) -> bool:
    """Return whether the store already holds the demo (a kept `--db` file, second run)."""
    return await orders.for_member(store, DEMO_MEMBER, OPEN_ORDER) is not None


async def seed(store: Store, telegram_user_id: int) -> None:
    """Fill a fresh store with demo members and orders and link the demo member."""
    now = store.now()

    def at(days_ago: int) -> str:
        return (now - timedelta(days=days_ago, hours=1)).isoformat()

    for event in demo_events(at):
        await apply_event(store, event)
    token = await links.create_token(store, DEMO_MEMBER)
    await links.consume_token(store, token.token, telegram_user_id)


@dataclass
class Backstage:
    """What the demo does behind the chat: the shop's events, the clock and the scheduler."""

    store: Store
    scheduler: Scheduler
    clock: DemoClock
    chat: Chat | None = None
    pages: WebPages | None = None

    def commands(self) -> dict[str, MetaCommand]:
        """Return the demo commands this backstage answers."""
        return {"ship": self.ship, "tick": self.tick, "link": self.link, "time": self.time,
                "web": self.web}  # fmt: skip

    async def ship(self, _: str = "") -> list[str]:
        """Deliver the demo member's open order through the same operation the shop API uses."""
        order = await orders.for_member(self.store, DEMO_MEMBER, OPEN_ORDER)
        if order is not None and order.status != "paid":
            return ["(the open order was already delivered)"]
        event = {
            "id": f"demo-ship-{OPEN_ORDER}",
            "type": "order.delivered",
            "occurred_at": self.store.now().isoformat(),
            "data": {"order_id": OPEN_ORDER},
        }
        await apply_event(self.store, event)
        report = await self.scheduler.drain()
        done = [f"(the shop delivered order {OPEN_ORDER})"]
        if report.deferred:
            # At night the notice is real but held: say so, or the demo looks broken.
            done.append("(its notice waits for the end of the member's quiet hours; :time +8h)")
        return done

    async def link(self, _: str = "") -> list[str]:
        """Link the demo member's account again, as the shop's "Connect Telegram" button does."""
        if await links.member_for(self.store, DEMO_USER_ID) is not None:
            return ["(Alex's account is linked already; /unlink first to try linking)"]
        token = await links.create_token(self.store, DEMO_MEMBER)
        assert self.chat is not None
        await self.chat.me.send(f"/start {token.token}")
        return ["(the shop's one-time link opened the bot: /start with a link token)"]

    async def tick(self, _: str = "") -> list[str]:
        """Run the day start, the reminder planning, the SLA check and the outbox once."""
        report = await self.scheduler.tick()
        await flag_overdue(self.scheduler.app.bot, self.scheduler.services)
        await send_queue(self.scheduler.app).drain()  # the flags and desk notes it queued
        return [f"(scheduler: {report.sent} sent)"]

    def now_line(self) -> str:
        """Return the demo's time, in the programme's zone."""
        return now_line(self.store, self.clock)

    async def time(self, text: str) -> list[str]:
        """Move the clock to `text`, running the scheduler at every hour on the way."""
        if not text:
            return [self.now_line()]
        target = parse_when(text, self.clock(), self.store.program.timezone)
        if isinstance(target, str):
            return [target]
        assert self.chat is not None
        chat, lines = self.chat, []
        while self.clock() < target and not chat.terminal.interrupted.is_set():
            now = self.clock()
            hour = now.replace(minute=0, second=0, microsecond=0) + STEP
            self.clock.move(min(hour, target) - now)
            await self.tick()
            news = chat.news()
            if news:
                lines += [self.now_line(), *news]
        return [*lines, self.now_line()]

    async def web(self, _: str = "") -> list[str]:
        """Print fresh addresses of the card and the console."""
        assert self.pages is not None
        return [await self.pages.addresses()]


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


async def run_demo(
    config: Config,
    *,
    db_path: str | None = None,
    terminal: Terminal | None = None,
    clock: Clock = system_clock,
) -> int:
    """Run the demo until `:quit`, the end of input or Ctrl-C; return the exit code."""
    terminal = terminal or stdin_terminal()
    demo_clock = DemoClock(clock, keep=clock_file(Path(db_path)) if db_path else None)
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
        store = await Store.open(path, config.program, synchronous="NORMAL", clock=demo_clock)
        emu: TelegramEmulator | None = None
        try:
            again = await seeded(store)
            if not again:
                demo_clock.forget()  # a clock file left by a deleted database is not this one's
                await seed(store, DEMO_USER_ID)
            else:
                moved = demo_clock.restore()
                terminal.show(f"(continuing the demo saved in {path})")
                if moved:  # as `:time` left it, or the data would be in the future
                    terminal.show(f"(its clock is still moved on) {now_line(store, demo_clock)}")
            # A script piped into the demo goes faster than a person types: a roomier burst in
            # the member's private chat keeps Telegram's sustained limit out of the way.
            emu = TelegramEmulator(
                bot_username="loyalty_demo_bot",
                limits=RateLimits(private_burst=50),
                start_time=demo_clock(),
                clock=demo_clock.monotonic,
            )
            desk = Desk.open(emu)
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
                me: Person = emu.user(DEMO_USER_ID, "Alex", language_code="en")
                pages = WebPages(store, listening.url, emu.token)
                backstage = Backstage(store, Scheduler(app, config), demo_clock, pages=pages)
                chat = Chat(me, terminal, desk, backstage.commands(), DEMO_HELP)
                backstage.chat = chat
                terminal.show(f"You are Alex ({DEMO_MEMBER}), a member of the demo shop.")
                terminal.show(await pages.addresses())
                with ctrl_c_stops(terminal):
                    await chat.run()
        finally:
            if emu is not None:
                await emu.aclose()
            await store.close()
    return 0
