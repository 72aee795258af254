"""The demo's terminal: lines in (from a keyboard, a pipe or a file), lines out, and Ctrl-C.

Standard input is read in the event loop itself (`add_reader` on the descriptor), not in a
thread: a thread blocked in `readline` cannot be stopped, so Ctrl-C used to wait for Enter and
then hit a closed loop. A regular file is always readable and is read directly.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal
import stat
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

PROMPT = "you> "
CLEAR_LINE = "\r\x1b[K"  # back to the line's start, erase to its end (ANSI, any terminal)


class StdinLines:
    """Lines of standard input, read without a thread (descriptor 0, decoded as UTF-8)."""

    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self.buffer = ""
        self.eof = False
        # A broken byte (a pasted Latin-1 line) becomes U+FFFD, never an exception.
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.regular = stat.S_ISREG(os.fstat(fd).st_mode)

    def _take(self, chunk: bytes) -> None:
        self.buffer += self.decoder.decode(chunk, final=not chunk)
        if not chunk:
            self.eof = True

    async def _wait_readable(self) -> None:
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self.fd, readable)
        try:
            await ready
        finally:
            loop.remove_reader(self.fd)

    async def read_line(self) -> str | None:
        """Return the next line without its newline, or None at the end of input."""
        while "\n" not in self.buffer and not self.eof:
            if not self.regular:
                await self._wait_readable()
            self._take(os.read(self.fd, 65_536))
        if "\n" in self.buffer:
            line, self.buffer = self.buffer.split("\n", 1)
            return line.rstrip("\r")
        line, self.buffer = self.buffer, ""
        return line or None


@dataclass
class Terminal:
    """Where the demo reads your lines and prints the chat."""

    read_line: Callable[[], Awaitable[str | None]]
    out: TextIO
    echo: bool = False  # print what was read (input from a file or a pipe is not on screen)
    prompt: bool = False  # print "you> " before reading (a person at a keyboard)
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)

    at_prompt: bool = False  # the prompt is on screen and a line is being read

    def show(self, text: str) -> None:
        """Print a line of the conversation; at the prompt, above a redrawn prompt."""
        if self.at_prompt and self.prompt:
            # A message that arrived while you type: wipe the prompt's line, print the message,
            # draw the prompt again. What you had typed stays typed (Ctrl-R shows it again).
            print(f"{CLEAR_LINE}{text}", file=self.out)
            print(PROMPT, end="", file=self.out, flush=True)
            return
        print(text, file=self.out, flush=True)

    async def next_line(self, meanwhile: Callable[[], Awaitable[None]] | None = None) -> str | None:
        """Return the next line you typed; None at the end of input or after Ctrl-C.

        `meanwhile` runs while the line is awaited (and is cancelled once it is read): it may
        `show` what arrives in the meantime.
        """
        if self.interrupted.is_set():
            return None
        if self.prompt:
            print(PROMPT, end="", file=self.out, flush=True)
        reading = asyncio.ensure_future(self.read_line())
        stopping = asyncio.ensure_future(self.interrupted.wait())
        waiting = {reading, stopping}
        watching = asyncio.ensure_future(meanwhile()) if meanwhile is not None else None
        self.at_prompt = True
        try:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.at_prompt = False
            for task in (reading, stopping, watching):
                if task is not None and not task.done():
                    task.cancel()
            if watching is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await watching  # its errors are its caller's, not swallowed here
        if reading not in done:
            if self.prompt:
                print(file=self.out, flush=True)  # end the prompt's line: the shell's is next
            return None
        line = reading.result()
        if line is not None and self.echo:
            self.show(f"{PROMPT}{line}")
        return line


def stdin_terminal(out: TextIO | None = None) -> Terminal:
    """Return a terminal on standard input and output (a prompt at a keyboard, echo otherwise)."""
    lines = StdinLines()
    tty = sys.stdin.isatty()
    return Terminal(lines.read_line, out or sys.stdout, echo=not tty, prompt=tty)


@contextlib.contextmanager
def ctrl_c_stops(terminal: Terminal) -> Iterator[None]:
    """While the block runs, Ctrl-C (SIGINT) ends the chat cleanly instead of raising."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, terminal.interrupted.set)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)
