"""Running an ASGI app under stock uvicorn inside the caller's event loop, as one component.

The shape follows python-telegram-bot's `customwebhookbot/starlettebot.py`: a
`uvicorn.Server` served in the same loop as the bot, so the shop API and the Telegram webhook
share one server. uvicorn is used through its public options only (`http="httptools"`, its
keep-alive and shutdown timeouts). What a reverse proxy does better stays with the proxy
(docs/deploy.md, `deploy/nginx.conf`): TLS, clients that dribble or flood their request
headers (uvicorn on httptools times out neither, nor limits header size), slow clients.

Signals: while it serves in the main thread, `Server.serve()` takes SIGINT/SIGTERM, shuts
down gracefully and then raises the signal again for the handlers that were there before
(uvicorn's cooperative signal handling, 0.29+). The service's handlers are plain
`signal.signal` ones (bot/service.py), so they hear each signal once, after the server, which
is the first component to stop anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.types import ASGIApp

GRACEFUL_SHUTDOWN_SECONDS = 10
STARTUP_POLL_SECONDS = 0.005  # how often `embedded` looks whether uvicorn serves yet


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
        http="httptools",  # the C parser
        lifespan="off",
        log_config=None,
        access_log=False,  # the app logs one structured line per request itself
        server_header=False,
        # The client's address is the socket's (the proxy's, behind one), and nothing here
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
) -> AsyncIterator[uvicorn.Server]:
    """Serve `config`'s app on `sock` in this loop from when it serves until the block ends."""
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name=name)
    # uvicorn reports readiness only as its public `started` flag (no event to wait on); a
    # failed start ends the task instead.
    while not server.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(STARTUP_POLL_SECONDS)
    # Started, then already stopped (a signal during start-up) is not a failure: the signal
    # reaches the caller's handler as the server stops.
    if not server.started:
        sock.close()
        task.result()  # re-raise why uvicorn did not start
        raise RuntimeError(f"{name} stopped before serving")
    try:
        yield server
    finally:
        server.should_exit = True
        await task
        sock.close()
