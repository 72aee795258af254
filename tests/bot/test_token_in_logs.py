"""The bot token never reaches a log line: the failure paths run with a real-looking token and
everything logged (every logger, DEBUG and up, tracebacks included) is searched for it.

PTB's `InvalidToken` quotes the token and httpx's errors and request logs carry Bot API URLs
(`/bot<token>/getMe`), so the paths below do put it into log records; the formatter is what
keeps it out of the lines written (`bot.logs.redact`). The child-process paths (`loyaltybot
run` with Telegram away and with a rejected token) are searched in tests/e2e/test_telegram_away.py.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from telegram.error import InvalidToken, NetworkError

from bot.application import build_application, start_up
from bot.logs import KeyValueFormatter
from bot.sender import send_queue
from loyalty.clock import ManualClock
from telegram_emulator import EmulatorHandlerError, EmulatorRequest, TelegramEmulator
from telegram_emulator import ManualClock as EmulatorClock
from tests.bot.conftest import hand_timer, linked, make_config
from tests.conftest import open_store

TOKEN = "7012345678:AAHk3x9QeVZr2bq-Xm4TnP8sLw0JdYcFgUo"
SECRET = TOKEN.split(":")[1]


class Everything(logging.Handler):
    """Keep every record, as written by the product's formatter and as raw text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(KeyValueFormatter())
        self.lines: list[str] = []
        self.raw: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.raw.append(record.getMessage() + logging.Formatter().format(record))


@pytest.fixture
def logged() -> Iterator[Everything]:
    handler, root = Everything(), logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_failure_paths_never_log_the_token(
    tmp_path: Path, clock: ManualClock, logged: Everything
) -> None:
    # 1. Telegram unreachable over real HTTP (httpx): the bot tries to come up twice.
    config = make_config(telegram={"base_url": f"http://127.0.0.1:{closed_port()}/bot"})
    store = await open_store(tmp_path / "t.db", config.program, clock)
    app = build_application(config, store, token=TOKEN)
    for _ in range(2):  # what bot.telegram_link.connect does, without its waits
        with pytest.raises(NetworkError):
            await app.initialize()
    await app.shutdown()

    # 2. The emulator, with handler failures of every kind, then a revoked token.
    emu = TelegramEmulator(token=TOKEN, clock=EmulatorClock())
    app = build_application(
        make_config(), store, EmulatorRequest(emu), token=TOKEN, timer=hand_timer(emu)
    )
    emu.connect(app, raise_errors=True)
    async with app:
        await start_up(app)
        ann = emu.user(1001, "Ann")
        await linked(store, ann)
        emu.refuse_next("sendMessage", "Bad Request: can't parse entities: bad tag")
        with pytest.raises(EmulatorHandlerError):
            await ann.send("/me")
        for outage in ("refused", "timeout", "bad_gateway"):
            emu.go_down(outage)  # type: ignore[arg-type]
            await ann.send("/me")  # the answer is queued (handlers/ui.py)...
            await send_queue(app).drain()  # ...and fails there, Telegram still away
            emu.come_back()
        emu.revoke_token()
        with pytest.raises(EmulatorHandlerError):
            await ann.send("/me")
    await emu.aclose()
    # PTB's own start-up error quotes the token; a service logging it must not leak it.
    revoked = build_application(make_config(), store, EmulatorRequest(emu), token=TOKEN)
    with pytest.raises(InvalidToken) as rejected:
        await revoked.initialize()
    logging.getLogger("bot.service").error("bot start failed", exc_info=rejected.value)
    await store.close()

    assert any(SECRET in text for text in logged.raw)  # the paths do carry the token...
    leaks = [line for line in logged.lines if SECRET in line]
    assert leaks == []  # ...and no line written shows it
    assert any("telegram unreachable" in line for line in logged.lines)
    assert any("<bot-token>" in line for line in logged.lines)
