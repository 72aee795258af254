"""The terminal chat of the demo and the sandbox: you as a member, Sam as an agent.

What you type: `/commands` and text go to the bot as the member (numbers too: the bot may ask
for an order number); `#3` or a button's label presses that button of the newest message with
buttons; `:` starts a demo command (`:help` lists them). Edited messages print again, marked
"(edited)". The agents' forum group is shown as `desk #N>` lines. What the bot says while you
are at the prompt (a reminder, an agent's answer) is printed as it arrives, above the prompt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bot.demo_terminal import Terminal
from storage.errors import OperationError
from telegram_emulator import Group, MessageView, Person, TelegramEmulator

DEMO_AGENTS = -1_007_000_000_001  # the agents' forum supergroup inside the emulator
DEMO_AGENT_ID = 700_101  # Sam, a support agent (and admin) you can play with :agent
BUTTON = re.compile(r"#(\d+)")
LEADING_SYMBOLS = re.compile(r"^[^\w]+")
AGENT_HELP = """\
  :agent TEXT     be Sam, a support agent: write TEXT in the newest ticket's topic, e.g.
                  an answer, /card, /grant 50 reason, /coupon 5 reason, /canned, /close
  :desk           show the newest ticket's topic as the agents see it"""
CHAT_HELP = """Demo commands:
  #3, or a label  press that button of the newest message with buttons ("My balance")
  /command, text  talk to the bot as the member (numbers are text: "10023")
{agent}
{extra}  :help           this help
  :quit           leave (or Ctrl-C)
What the bot says while you type is printed above the prompt; Ctrl-R shows your line again."""

# A demo command: gets the text after its name, returns lines to print.
MetaCommand = Callable[[str], Awaitable[list[str]]]


def render(message: MessageView, numbers: dict[int, tuple[MessageView, str]], *,
           edited: bool = False) -> list[str]:  # fmt: skip
    """Render a bot message, numbering its buttons from #1 (numbers are recorded)."""
    head = "bot (edited)> " if edited else "bot> "
    lines = [f"{head}{line}" if i == 0 else f"     {line}"
             for i, line in enumerate(message.text.splitlines() or [""])]  # fmt: skip
    if message.protect_content:
        lines.append("     (protected: cannot be forwarded or saved)")
    if message.buttons:
        numbers.clear()
    for row in message.buttons:
        cells = []
        for b in row:
            if b.url:
                cells.append(f"[{b.label} → {b.url}]")
            else:
                numbers[len(numbers) + 1] = (message, b.label)
                cells.append(f"[#{len(numbers)}] {b.label}")
        lines.append("     " + "   ".join(cells))
    return lines


def snapshot(me: Person) -> dict[int, tuple[str, Any]]:
    """Return what each bot message in the chat says now (to spot new and edited ones)."""
    return {m.message_id: (m.text, m.buttons) for m in me.bot_messages()}


def changed(me: Person, before: dict[int, tuple[str, Any]]) -> list[tuple[MessageView, bool]]:
    """Return the bot messages that are new or were edited since `before` (with "edited")."""
    return [
        (m, m.message_id in before)
        for m in me.bot_messages()
        if before.get(m.message_id) != (m.text, m.buttons)
    ]


def label_key(label: str) -> str:
    """Return a label as it may be typed: without its leading emoji, case-folded."""
    return LEADING_SYMBOLS.sub("", label).strip().casefold()


@dataclass
class Desk:
    """The emulated agents' side: their forum group and the agent you can act as."""

    group: Group
    agent: Person
    seen: dict[int, str] = field(default_factory=dict)  # message id -> text shown so far
    topics: dict[int, str] = field(default_factory=dict)  # thread id -> name, as last shown

    @classmethod
    def open(cls, emu: TelegramEmulator, chat_id: int = DEMO_AGENTS) -> Desk:
        """Create the agents' forum group with Sam in it."""
        group = emu.supergroup(chat_id, "Support desk", forum=True)
        agent = emu.user(DEMO_AGENT_ID, "Sam", language_code="en")
        group.add_member(agent)
        return cls(group, agent)

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

    async def say(self, text: str) -> list[str]:
        """Write `text` as Sam in the newest ticket's topic."""
        if not text:
            return ["(write what the agent says: :agent Hello!)"]
        thread = self.newest_topic()
        if thread is None:
            return ["(no ticket yet: send /support as the member, then write a message)"]
        await self.agent.send(text, chat=self.group, thread_id=thread)
        return []


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
class Chat:
    """One terminal conversation: what is shown, which numbers mean which buttons."""

    me: Person
    terminal: Terminal
    desk: Desk | None = None
    commands: dict[str, MetaCommand] = field(default_factory=dict)
    extra_help: str = ""
    numbers: dict[int, tuple[MessageView, str]] = field(default_factory=dict)
    before: dict[int, tuple[str, Any]] = field(default_factory=dict)
    seen: tuple[int, int] = (0, 0)  # `marks()` when the news were last shown
    # Waits for the bot's answers when they come over HTTP (the sandbox); the demo's bot
    # answers within the call itself.
    after_action: Callable[[], Awaitable[None]] | None = None

    def help(self) -> str:
        """Return the help text of the demo commands."""
        agent = AGENT_HELP if self.desk is not None else ""
        return CHAT_HELP.format(agent=agent, extra=self.extra_help)

    def marks(self) -> tuple[int, int]:
        """Return bookmarks of the bot's activity in the member's chat and the agents' group."""
        desk = self.me.activity(self.desk.group) if self.desk is not None else 0
        return self.me.activity(), desk

    def news(self) -> list[str]:
        """Return lines for every bot message new or edited since the last call, and the desk's."""
        lines: list[str] = []
        self.seen = self.marks()
        for message, edited in changed(self.me, self.before):
            lines += render(message, self.numbers, edited=edited)
        self.before = snapshot(self.me)
        return lines + (self.desk.news() if self.desk is not None else [])

    async def watch(self) -> None:
        """Print what the bot says while you are at the prompt, as it arrives (a reminder, an
        agent's answer, a shop event's notice), until cancelled."""
        while True:
            if self.marks() == self.seen:
                waits = [asyncio.ensure_future(self.me.wait_activity(self.seen[0]))]
                if self.desk is not None:
                    group = self.desk.group
                    waits.append(asyncio.ensure_future(self.me.wait_activity(self.seen[1], group)))
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for wait in waits:
                        wait.cancel()
            self.show_news()

    def show_news(self) -> None:
        """Print what the bot said since the last look (at the prompt: above it, at once)."""
        lines = self.news()
        if lines:
            self.terminal.show("\n".join(lines))

    def by_label(self, text: str) -> int | None:
        """Return the number of the shown button whose label is `text` (emoji optional)."""
        key = label_key(text)
        return next((n for n, (_, label) in self.numbers.items() if label_key(label) == key), None)

    async def press(self, number: int) -> list[str]:
        """Press button `number` of the newest message with buttons."""
        target = self.numbers.get(number)
        if target is None:
            return [f"(there is no button #{number} on the newest message with buttons)"]
        message, label = target
        if message.deleted or label not in message.button_labels:
            # The message changed since (a rating given, a question answered): so has the screen.
            return ["(that button is gone: the message changed; press one shown now)"]
        answer = await self.me.press(label, message=message)
        return [f"bot (pop-up)> {answer.text}"] if answer is not None and answer.text else []

    async def act(self, text: str) -> list[str] | None:
        """Do what one typed line asks; return lines to print, or None to end the chat."""
        if text in (":quit", ":q", ":exit"):
            return None
        if text == ":help":
            return [self.help()]
        if text.startswith(":"):
            name, _, rest = text[1:].partition(" ")
            if name == "agent" and self.desk is not None:
                return await self.desk.say(rest.strip())
            if name == "desk" and self.desk is not None:
                return self.desk.transcript()
            command = self.commands.get(name)
            if command is None:
                return [f"(unknown demo command :{name}; :help lists them)"]
            try:
                return await command(rest.strip())
            except OperationError as exc:  # the shop's side refused (an unknown member...)
                return [f"({exc.message})"]
        button = BUTTON.fullmatch(text)
        if button:
            return await self.press(int(button.group(1)))
        number = self.by_label(text)
        if number is not None:
            return await self.press(number)
        await self.me.send(text)
        return []

    async def _settle(self) -> None:
        if self.after_action is not None:
            await self.after_action()

    async def run(self, first: str | None = "/start") -> None:
        """Greet, then read and act on lines until :quit, the end of input or Ctrl-C."""
        self.terminal.show(self.help() + "\n")
        self.before = snapshot(self.me)
        if first:
            await self.me.send(first)
            await self._settle()
        while True:
            self.show_news()
            line = await self.terminal.next_line(meanwhile=self.watch)
            if line is None:
                break
            text = line.strip()
            if not text:
                continue
            lines = await self.act(text)
            if lines is None:
                break
            await self._settle()
            for shown in lines:
                self.terminal.show(shown)
        self.terminal.show("(bye)")
