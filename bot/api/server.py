"""Running an ASGI app under uvicorn inside the caller's event loop, as one service component.

The shape follows python-telegram-bot's `customwebhookbot/starlettebot.py`: a
`uvicorn.Server` served in the same loop as the bot, so the shop API and the Telegram webhook
share one server. Two differences: the service, not uvicorn, owns SIGINT/SIGTERM (it stops
every component in order), and connections that never finish their request headers are
closed (uvicorn itself waits for them forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import h11
import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.h11_impl import H11Protocol

from bot.api.limits import DEFAULT_READ_TIMEOUT
from bot.logs import kv

log = logging.getLogger("bot.api.server")

MAX_HEADER_BYTES = 16_384  # request line and headers; larger is a 400 from h11
GRACEFUL_SHUTDOWN_SECONDS = 10


class TimedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing connections whose request headers stall.

    uvicorn times out idle keep-alive connections, but not a client that connects and then
    sends a request line and headers slowly or never finishes them (slowloris). Here the
    headers of each request must be complete within `header_timeout` seconds of the
    connection opening or of the first byte after a keep-alive pause.
    """

    header_timeout: float = DEFAULT_READ_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """Feed h11; keep the clock running while headers are incomplete, stop it after."""
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            if self._header_timer is None:
                self._arm_header_timer()
        else:
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock."""
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            log.info("connection closed", extra=kv(reason="headers too slow"))
            self.transport.close()


def timed_h11(header_timeout: float) -> type[TimedH11Protocol]:
    """Return the protocol class with its header timeout set."""
    return type("TimedH11Protocol", (TimedH11Protocol,), {"header_timeout": header_timeout})


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server run inside a bigger program: reports when it serves, leaves signals
    to the program that embeds it (the service, the tests, the emulator)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Start serving, then report readiness."""
        await super().startup(sockets=sockets)
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave SIGINT/SIGTERM to the service, which stops every component in order."""
        yield


@dataclass(frozen=True)
class Listening:
    """Where a running server accepts connections, and how to make it stop at once."""

    host: str
    port: int
    stop_now: Callable[[], None] = field(default=lambda: None, repr=False, compare=False)

    @property
    def url(self) -> str:
        """Return the base URL, e.g. http://127.0.0.1:8080."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def bind(host: str, port: int) -> socket.socket:
    """Open a listening TCP socket (port 0: a free one); one clear OSError if it cannot."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on sockets
        # that say they are TCP; with proto 0, uvicorn's separate header and body writes meet
        # the client's delayed ACK and every keep-alive request waits ~40 ms.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


@contextlib.asynccontextmanager
async def http_server(
    app: ASGIApp,
    host: str,
    port: int,
    *,
    header_timeout: float = DEFAULT_READ_TIMEOUT,
    keep_alive: int = 5,
    graceful_shutdown: int = GRACEFUL_SHUTDOWN_SECONDS,
    **uvicorn_options: Any,
) -> AsyncIterator[Listening]:
    """Serve `app` on host:port in this event loop until the block ends.

    The socket is bound before uvicorn starts, so a busy port fails here with one clear
    OSError, and port 0 (a free port) is known at once. On exit the server stops accepting,
    finishes the requests in flight (at most `graceful_shutdown` seconds) and closes idle
    keep-alive connections.
    """
    sock = bind(host, port)
    config = uvicorn.Config(
        app,
        http=timed_h11(header_timeout),
        lifespan="off",
        log_config=None,
        access_log=False,  # the app logs one structured line per request itself
        server_header=False,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=graceful_shutdown,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        **uvicorn_options,
    )
    async with embedded(config, sock, name="uvicorn") as server:

        def stop_now() -> None:
            server.force_exit = True  # do not wait for requests in flight

        yield Listening(host, sock.getsockname()[1], stop_now)


@contextlib.asynccontextmanager
async def embedded(
    config: uvicorn.Config, sock: socket.socket, *, name: str
) -> AsyncIterator[EmbeddedServer]:
    """Serve `config`'s app on `sock` in this loop from when it serves until the block ends."""
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=name)
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        ready.cancel()
        sock.close()
        task.result()  # re-raise why uvicorn did not start
        raise RuntimeError(f"{name} stopped before serving")
    try:
        yield server
    finally:
        server.should_exit = True
        await task
        sock.close()
