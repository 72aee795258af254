"""A python-telegram-bot request class that talks to the emulator in-process.

PTB's own suite runs offline through a ``BaseRequest`` subclass; this one goes a step further
and answers from the emulator, so the real ``Bot`` code (including its error mapping to
BadRequest, Forbidden, RetryAfter, ...) runs unchanged::

    app = (
        Application.builder()
        .token(emu.token)
        .request(EmulatorRequest(emu))
        .get_updates_request(EmulatorRequest(emu))
        .build()
    )
"""

from __future__ import annotations

import json
import re
from typing import IO

from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from telegram_emulator.core import TelegramAway, TelegramEmulator
from telegram_emulator.errors import NOT_FOUND, ApiError
from telegram_emulator.params import Upload

_BOT_URL = re.compile(r"/bot(?P<token>[^/]+)/(?P<method>[^/?#]+)$")


class EmulatorRequest(BaseRequest):
    """Route every Bot API call made by a ``telegram.Bot`` to a :class:`TelegramEmulator`."""

    def __init__(self, emulator: TelegramEmulator, *, read_timeout: float | None = 5.0) -> None:
        self._emulator = emulator
        self._read_timeout = read_timeout

    @property
    def emulator(self) -> TelegramEmulator:
        """Return the emulator this request talks to."""
        return self._emulator

    @property
    def read_timeout(self) -> float | None:
        """Return the default read timeout (only reported; nothing goes over a network)."""
        return self._read_timeout

    async def initialize(self) -> None:
        """Nothing to open: there is no connection pool."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one request the way Telegram would: an HTTP status and a JSON body.

        The timeouts (PTB's float, None or its ``DEFAULT_NONE``) are accepted and ignored:
        nothing here waits on a network. They are typed ``object`` because PTB's own alias
        for them lives in a private module.
        """
        match = _BOT_URL.search(url)
        if match is None or method != "POST":
            # File downloads (``retrieve``) and foreign URLs are not served.
            return 404, json.dumps(ApiError(404, NOT_FOUND).payload()).encode()
        # The wire form (strings, JSON-encoded objects) keeps this path identical to HTTP.
        params = request_data.json_parameters if request_data else {}
        files = _uploads(request_data) if request_data and request_data.contains_files else {}
        try:
            status, body = await self._emulator.handle(
                match["token"], match["method"], params, files
            )
        except TelegramAway as away:
            # What PTB's HTTPXRequest raises for the same failures (its messages included).
            if away.outage == "timeout":
                raise TimedOut("Timed out") from None
            raise NetworkError("httpx.ConnectError: All connection attempts failed") from None
        return status, json.dumps(body).encode()


def _uploads(request_data: RequestData) -> dict[str, Upload]:
    """Turn PTB's multipart parts into emulator uploads."""
    uploads = {}
    for name, part in request_data.multipart_data.items():
        filename, content, mime_type = part
        if not isinstance(content, bytes):
            content = _read(content)
        uploads[name] = Upload(filename=filename or name, content=content, mime_type=mime_type)
    return uploads


def _read(handle: IO[bytes]) -> bytes:
    data = handle.read()
    return data if isinstance(data, bytes) else bytes(data)
