"""A terminal for tests: run a command on a pseudo-terminal, type into it, read what it shows."""

from __future__ import annotations

import os
import pty
import select
import signal
import time
from collections.abc import Sequence
from pathlib import Path


class PtySession:
    """A child process on a pseudo-terminal, as a person at a keyboard would run it."""

    def __init__(self, argv: Sequence[str], cwd: Path, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.output = b""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: a fresh terminal is its stdin, stdout and stderr
            os.chdir(cwd)
            os.execv(argv[0], list(argv))

    @property
    def text(self) -> str:
        """Return everything the terminal showed so far."""
        return self.output.decode("utf-8", errors="replace").replace("\r\n", "\n")

    def _read(self, wait: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self.fd, 65_536)
        except OSError:  # the child closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def expect(self, needle: str, *, after: int = 0) -> int:
        """Wait until `needle` shows after position `after`; return where it ends."""
        deadline = time.monotonic() + self.timeout
        while True:
            at = self.text.find(needle, after)
            if at >= 0:
                return at + len(needle)
            if time.monotonic() > deadline or not self._read(0.2):
                raise AssertionError(f"{needle!r} never showed; the terminal has:\n{self.text}")

    def type(self, line: str, *, prompt: str = "you> ") -> str:
        """Type a line at the next prompt and return what the terminal showed until the next."""
        start = len(self.text)
        os.write(self.fd, line.encode() + b"\r")
        end = self.expect(prompt, after=self.expect(line, after=start))
        return self.text[start:end]

    def interrupt(self) -> None:
        """Press Ctrl-C."""
        os.write(self.fd, b"\x03")

    def wait(self) -> int:
        """Read to the end and return the child's exit code."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            open_ = self._read(0.2)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                while open_ and self._read(0):  # what it wrote just before it ended
                    pass
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        raise AssertionError(f"the child did not end; the terminal has:\n{self.text}")

    def kill(self) -> None:
        """Stop the child if it still runs (after a failed test)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
