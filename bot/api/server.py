"""Running an ASGI app under uvicorn inside the caller's event loop, as one service component.

The shape follows python-telegram-bot's `customwebhookbot/starlettebot.py`: a
`uvicorn.Server` served in the same loop as the bot, so the shop API and the Telegram webhook
share one server. Two differences: the service, not uvicorn, owns SIGINT/SIGTERM (it stops
every component in order), and connections whose request headers stall or grow too large are
closed (uvicorn itself waits for them forever, and httptools sets no size limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bot.api.errors import error_response
from bot.api.limits import DEFAULT_READ_TIMEOUT
from bot.logs import kv

log = logging.getLogger(__name__)

MAX_HEADER_BYTES = 16_384  # request line and headers; larger is a 431
GRACEFUL_SHUTDOWN_SECONDS = 10
LINGER_SECONDS = 2.0  # how long a refused client's further bytes are read and dropped
# A header line's ": " and CRLF, which the parser's callbacks do not count.
_HEADER_LINE_OVERHEAD = 4


class HeadersTooLarge(Exception):
    """The request line and headers are longer than MAX_HEADER_BYTES."""


class HeadWithBody:
    """A transport that sends a response's head together with the body that follows it.

    uvicorn writes a response's status line and headers, then its body, as two writes: on
    loopback each `send()` runs the receiver's whole TCP path inside the call (~40 us on this
    VM, a tenth of the server's work for a small JSON answer). Here the head is held until the
    next write, which goes out as one; if no write follows in the same step (a streamed body, a
    HEAD request, `100 Continue`), the head is sent on the loop's next turn. Order is kept.
    """

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        """Send `data`, after any head held back; hold it if it is a response's head."""
        if self._held is not None:
            data, self._held = self._held + data, None
            self._transport.write(data)
        elif data.startswith(b"HTTP/1.1 ") and data.endswith(b"\r\n\r\n"):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        """Send the held head now, if any (not once the connection is closing: nobody reads)."""
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        """Send what is held, then end our side."""
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        """Whether our side can be ended alone (TCP: yes)."""
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        """Whether the connection is closing."""
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """The socket's addresses and the like."""
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        """Stop reading (flow control)."""
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read again (flow control)."""
        self._transport.resume_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection to another protocol."""
        self.flush()
        self._transport.set_protocol(protocol)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol on httptools (a C parser), guarded against clients that
    stall or flood their request headers.

    uvicorn times out idle keep-alive connections, but not a client that connects and then
    sends a request line and headers slowly or never finishes them (slowloris): here the
    headers of each request must be complete within `header_timeout` seconds of the
    connection opening or of the request's first byte after a keep-alive pause. And httptools
    has no limit of its own on header size: here more than MAX_HEADER_BYTES of request line
    and headers is answered 431 and the connection closed, including a header that never
    ends (its bytes are counted as they arrive, before the parser has seen all of it).
    """

    header_timeout: float = DEFAULT_READ_TIMEOUT
    _header_timer: asyncio.TimerHandle | None = None
    _headers_done = False  # the current request's headers are complete
    _began_in_chunk = False  # the current request started in the chunk being fed
    _pending_bytes = 0  # bytes received since the current request's first chunk
    _too_large = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request's headers."""
        super().connection_made(HeadWithBody(transport, self.loop))  # type: ignore[arg-type]
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        """Feed the parser; count the bytes of headers that are still incomplete."""
        if self._too_large:
            return  # answered 431: what else the client sends is read and dropped, see below
        self._began_in_chunk = False
        super().data_received(data)
        if self._headers_done or self.transport.is_closing():
            return
        # The chunk a request starts in may end the previous one: only later chunks count, so
        # a pipelined request is never charged for its predecessor's body. Memory stays
        # bounded by one read (256 KiB) plus the limit.
        if not self._began_in_chunk:
            self._pending_bytes += len(data)
        if self._pending_bytes > MAX_HEADER_BYTES:
            self._too_large = True
            self.send_400_response("headers too large")

    def on_message_begin(self) -> None:
        """A request starts: its headers are due within the header timeout."""
        super().on_message_begin()
        self._headers_done = False
        self._began_in_chunk = True
        self._pending_bytes = 0
        if self._header_timer is None:
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        """Check the headers' size exactly, stop the clock, then hand the request to the app."""
        self._headers_done = True
        self._disarm_header_timer()
        size = len(self.url) + sum(
            len(name) + len(value) + _HEADER_LINE_OVERHEAD for name, value in self.headers
        )
        if size > MAX_HEADER_BYTES:
            self._too_large = True
            raise HeadersTooLarge  # the parser stops; uvicorn answers through send_400_response
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """Answer a request the parser refused: 431 for headers too large, 400 otherwise."""
        if not self._too_large:
            super().send_400_response(msg)
            return
        log.info(
            "connection closed", extra=kv(event="connection_closed", reason="headers too large")
        )
        body = error_response(
            431,
            "headers_too_large",
            f"the request line and headers exceed {MAX_HEADER_BYTES} bytes",
        ).body
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n"
            b"connection: close\r\n\r\n" + bytes(body)
        )
        # Closing with the client's bytes unread would make the kernel reset the connection,
        # and the client could lose the answer: end our side (FIN after the answer), keep
        # reading for a moment, then close (the "lingering close" of nginx and Apache).
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()

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
        if not self._headers_done and not self.transport.is_closing():
            log.info(
                "connection closed", extra=kv(event="connection_closed", reason="headers too slow")
            )
            self.transport.close()


def guarded_httptools(header_timeout: float) -> type[GuardedHttpToolsProtocol]:
    """Return the protocol class with its header timeout set."""
    attrs = {"header_timeout": header_timeout}
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), attrs)


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
        http=guarded_httptools(header_timeout),
        lifespan="off",
        log_config=None,
        access_log=False,  # the app logs one structured line per request itself
        server_header=False,
        # Behind no proxy it trusts: the client's address is the socket's, and nothing here
        # reads it (the logs carry no addresses).
        proxy_headers=False,
        timeout_keep_alive=keep_alive,
        timeout_graceful_shutdown=graceful_shutdown,
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
