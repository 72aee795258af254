"""The HTTP protocol, driven byte by byte with the clock in hand: its guards on request
headers, and answers sent in one write.

The protocol is uvicorn's httptools one with a header clock and a size limit
(`bot.api.server.GuardedHttpToolsProtocol`) over `HeadWithBody`. Here it talks to a transport
that records each write and a loop whose timers fire only when the test says, so no test waits
for time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from bot.api.server import MAX_HEADER_BYTES, GuardedHttpToolsProtocol, guarded_httptools

TIMEOUT = 10.0


async def echo_length(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer 200 with the length of the request body."""
    size, more = 0, True
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@dataclass
class Timer:
    when: float
    callback: Callable[..., None]
    args: tuple[Any, ...]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class HandLoop:
    """The running loop for tasks; timers are kept for the test to fire."""

    loop: asyncio.AbstractEventLoop
    now: float = 0.0
    timers: list[Timer] = field(default_factory=list)

    def call_later(self, delay: float, callback: Callable[..., None], *args: Any) -> Timer:
        timer = Timer(self.now + delay, callback, args)
        self.timers.append(timer)
        return timer

    def create_task(self, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        return self.loop.create_task(coro, **kwargs)

    def call_soon(self, callback: Callable[..., None], *args: Any) -> asyncio.Handle:
        return self.loop.call_soon(callback, *args)

    def advance(self, seconds: float) -> None:
        """Move the clock on and fire the timers that came due."""
        self.now += seconds
        for timer in [t for t in self.timers if not t.cancelled and t.when <= self.now]:
            self.timers.remove(timer)
            timer.callback(*timer.args)

    def header_timers(self) -> list[Timer]:
        return [
            t for t in self.timers if not t.cancelled and t.callback.__name__ == "_headers_too_slow"
        ]


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.writes: list[bytes] = []
        self.closed = False
        self.eof = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 5555)}.get(name)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.eof = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


@pytest.fixture
async def wired() -> tuple[GuardedHttpToolsProtocol, Transport, HandLoop]:
    loop = HandLoop(asyncio.get_running_loop())
    config = uvicorn.Config(echo_length, lifespan="off", log_config=None, timeout_keep_alive=60)
    protocol = guarded_httptools(TIMEOUT)(config, ServerState(), {}, _loop=loop)  # type: ignore[arg-type]
    transport = Transport()
    protocol.connection_made(transport)
    return protocol, transport, loop


async def answered(transport: Transport, count: int) -> None:
    """Let the app's tasks run until `count` answers are written."""
    for _ in range(100):
        if transport.written.count(b"HTTP/1.1 ") >= count:
            return
        await asyncio.sleep(0)  # yields to the app's task; no time passes
    raise AssertionError(f"only {bytes(transport.written)!r}")


async def test_headers_dribbled_a_byte_at_a_time_still_meet_the_clock(wired: Any) -> None:
    protocol, transport, loop = wired
    for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghij":
        protocol.data_received(bytes([byte]))
        loop.advance(TIMEOUT / 100)  # each byte well within any per-byte patience
    assert len(loop.header_timers()) == 1  # bytes do not restart the clock
    assert not transport.closed
    loop.advance(TIMEOUT)  # the clock started when the connection opened
    assert transport.closed
    assert transport.written == b""  # closed without an answer: it never asked anything


async def test_each_request_on_a_kept_connection_gets_its_own_clock(wired: Any) -> None:
    protocol, transport, loop = wired
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await answered(transport, 1)
    assert loop.header_timers() == []  # headers complete: no clock while the app works
    loop.advance(TIMEOUT * 3)  # a pause between requests is the keep-alive timeout's business
    assert not transport.closed
    protocol.data_received(b"GET / HTTP/1.1\r\nHo")  # the next request starts, and stalls
    assert len(loop.header_timers()) == 1
    loop.advance(TIMEOUT)
    assert transport.closed


async def test_a_pipelined_request_is_not_charged_for_the_body_before_it(wired: Any) -> None:
    protocol, transport, _ = wired
    body = b"x" * (2 * MAX_HEADER_BYTES)
    first = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    # One read holds the first request whole and the start of the second one's headers.
    protocol.data_received(first + b"GET / HTTP/1.1\r\nHost: x\r\n")
    protocol.data_received(b"X-Small: 1\r\n\r\n")
    await answered(transport, 2)
    assert transport.written.count(b"HTTP/1.1 200 ") == 2
    assert b"\r\n\r\n%d" % len(body) in transport.written


async def test_headers_too_large_get_431_then_a_lingering_close(wired: Any) -> None:
    protocol, transport, loop = wired
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ")
    for _ in range(MAX_HEADER_BYTES // 1_024 + 1):
        protocol.data_received(b"a" * 1_024)
    assert transport.written.startswith(b"HTTP/1.1 431 ")
    assert transport.eof and not transport.closed  # our side ended, theirs still read
    protocol.data_received(b"a" * 1_024)  # more of the same is dropped, nothing answered
    assert transport.written.count(b"HTTP/1.1 ") == 1
    loop.advance(TIMEOUT)
    assert transport.closed


async def test_an_answer_goes_out_in_one_write(wired: Any) -> None:
    protocol, transport, _ = wired
    protocol.data_received(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc")
    await answered(transport, 1)
    [write] = transport.writes  # head and body together: one send() on the socket
    assert write.startswith(b"HTTP/1.1 200 ")
    assert write.endswith(b"\r\n\r\n3")


async def test_a_head_without_a_body_still_goes_out(wired: Any) -> None:
    protocol, transport, _ = wired
    protocol.data_received(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")  # no body is sent for HEAD
    await answered(transport, 1)
    [write] = transport.writes
    assert write.startswith(b"HTTP/1.1 200 ")
    assert write.endswith(b"\r\n\r\n")
