"""Running `loyaltybot run` as a child process in async tests, against the emulator over HTTP."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import sys
from pathlib import Path

from storage.db import Database
from tests.cli.conftest import ROOT

API_KEY = "run-test-key"
_HANDED_OUT: set[int] = set()
# Where Linux starts handing out ports for a bind to port 0 (net.ipv4.ip_local_port_range
# defaults to 32768-60999; IANA's dynamic range starts higher still, at 49152).
EPHEMERAL_START = 32_768


def free_port() -> int:
    """Return a loopback port that is free now, for a server that must be told its port.

    It is picked below the kernel's ephemeral range: a server of the same test binding port 0
    (the emulator, a child service) takes ports from that range, so it can never take this one
    before its user binds it. A port is handed out once per test process.
    """
    for _ in range(200):
        port = random.randrange(10_000, EPHEMERAL_START)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def run_config(directory: Path, base_url: str, *, extra: str = "", username: str = "") -> Path:
    """Write a config for a child service: free port, the emulator as Telegram."""
    path = directory / "config.toml"
    # `extra` continues the [server] table (so `port = N` overrides nothing twice) and may
    # open further tables.
    port = "" if "port =" in extra else "port = 0\n"
    telegram = f'base_url = "{base_url}"\nbot_username = "{username}"\n'
    if "[telegram]" in extra:
        extra = extra.replace("[telegram]", "[telegram]\n" + telegram)
        telegram = ""
    path.write_text(
        f'[storage]\npath = "{directory / "loyalty.db"}"\n'
        + (f"[telegram]\n{telegram}" if telegram else "")
        + f"[server]\n{port}{extra}\n"
    )
    return path


async def migrate(path: Path) -> None:
    """Create the child's database."""
    await (await Database.open(path)).close()


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without the service's secrets, plus `extra`."""
    secrets = ("SHOP_API_KEY", "BOT_TOKEN", "WEBHOOK_SECRET")
    return {**{k: v for k, v in os.environ.items() if k not in secrets}, **extra}


class Service:
    """A `loyaltybot run` child process whose log lines can be awaited."""

    def __init__(self, config: Path, env: dict[str, str], *args: str) -> None:
        self.config, self.env, self.args = config, env, args
        self.lines: list[str] = []
        self._changed = asyncio.Condition()
        self.process: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Service:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", "-c", str(self.config), *self.args,
            cwd=ROOT, env=self.env, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        self._pump = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        async for raw in self.process.stderr:
            async with self._changed:
                self.lines.append(raw.decode(errors="replace"))
                self._changed.notify_all()
        async with self._changed:
            self.lines.append("")  # end of output
            self._changed.notify_all()

    async def wait_for(self, text: str, timeout: float = 60) -> str:  # noqa: ASYNC109
        """Return the first log line containing `text` (waiting for it to be written)."""

        async def find() -> str:
            async with self._changed:
                while True:
                    for line in self.lines:
                        if text in line:
                            return line
                    assert "" not in self.lines, f"ended before {text!r}:\n{self.log}"
                    await self._changed.wait()

        return await asyncio.wait_for(find(), timeout)

    async def wait_for_count(self, text: str, count: int, timeout: float = 60) -> None:  # noqa: ASYNC109
        """Wait until `count` log lines contain `text`."""

        async def counted() -> None:
            async with self._changed:
                while sum(text in line for line in self.lines) < count:
                    assert "" not in self.lines, f"ended before {count} x {text!r}:\n{self.log}"
                    await self._changed.wait()

        await asyncio.wait_for(counted(), timeout)

    @property
    def log(self) -> str:
        """Everything the child logged so far."""
        return "".join(self.lines)

    async def port(self) -> int:
        """Return the port the shop API listens on."""
        ready = await self.wait_for("msg=listening")
        return int(ready.split(" port=")[1].split()[0])

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the child and return its exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        code = await asyncio.wait_for(self.process.wait(), 60)
        if self._pump is not None:
            await self._pump
        return code

    async def __aexit__(self, *exc: object) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
