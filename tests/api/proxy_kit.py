"""What the reverse-proxy tests share (nginx: test_proxy.py, Caddy: test_caddy.py): the app
behind the proxy with a record of what reached it, raw HTTP exchanges, and starting a proxy."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.api.server import http_server
from storage.store import Store
from tests.api.conftest import API_KEY, app_for, error, make_config
from tests.run_kit import free_port

PROMPT = 1.0  # what "answered promptly" means, with margin for a busy CI machine
SECRET = "s3cret"


@dataclass
class Seen:
    """The requests that reached the app (path and query), in order."""

    paths: list[str] = field(default_factory=list)

    def wrap(self, app: ASGIApp) -> ASGIApp:
        async def recorded(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                query = scope["query_string"].decode()
                self.paths.append(scope["path"] + (f"?{query}" if query else ""))
            await app(scope, receive, send)

        return recorded


@dataclass
class Proxied:
    host: str
    port: int
    seen: Seen
    updates: list[dict[str, Any]]

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.asynccontextmanager
async def live_app(store: Store) -> AsyncIterator[tuple[int, Seen, list[dict[str, Any]]]]:
    """Serve the shop API and the webhook on a loopback port: (port, what reached it, the
    Telegram updates it took)."""
    seen, updates = Seen(), []

    async def on_update(update: dict[str, Any]) -> None:
        updates.append(update)

    app = app_for(store, config=make_config(), telegram_webhook=on_update, webhook_secret=SECRET)
    async with http_server(seen.wrap(app), "127.0.0.1", 0) as live:
        yield live.port, seen, updates


@contextlib.asynccontextmanager
async def behind(
    store: Store, proxy: Callable[[int, int], contextlib.AbstractContextManager[None]]
) -> AsyncIterator[Proxied]:
    """Serve the app, run `proxy(listen_port, app_port)` in front of it; yield its address."""
    async with live_app(store) as (upstream, seen, updates):
        port = free_port()
        with proxy(port, upstream):
            yield Proxied("127.0.0.1", port, seen, updates)


@contextlib.contextmanager
def running(command: list[str], port: int, name: str, **popen: Any) -> Iterator[None]:
    """Run a proxy in the foreground until the block ends, once it listens on `port`."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **popen)
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{name} did not start: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                break
            assert time.monotonic() < deadline, f"{name} did not listen within 10 s"
            time.sleep(0.02)
        yield
    finally:
        process.terminate()  # SIGTERM: a fast shutdown for both nginx and Caddy
        process.wait(10)


async def exchange(proxied: Proxied, *chunks: bytes, wait: float = PROMPT) -> bytes:
    """Send `chunks` on a fresh connection; return all the proxy wrote before it closed."""
    reader, writer = await asyncio.open_connection(proxied.host, proxied.port)
    try:
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        return await asyncio.wait_for(reader.read(), wait)
    finally:
        writer.close()


async def answer_to(proxied: Proxied, *chunks: bytes) -> bytes:
    """Send `chunks` on a fresh connection; return the first answer (head and body)."""
    reader, writer = await asyncio.open_connection(proxied.host, proxied.port)
    try:
        with contextlib.suppress(ConnectionError):  # the proxy may answer before the end
            for chunk in chunks:
                writer.write(chunk)
                await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PROMPT)
        length = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
        assert length is not None, head
        return head + await asyncio.wait_for(reader.readexactly(int(length.group(1))), PROMPT)
    finally:
        writer.close()


def body_of(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def tmp_home(directory: Path) -> dict[str, str]:
    """Return environment variables that keep a proxy's own files inside `directory`."""
    home = directory / "home"
    return {"HOME": str(home), "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config")}  # fmt: skip


# -- what both proxies must do, each test file asserting it of its own proxy -------------------


async def passes_requests_and_a_webhook(proxied: Proxied) -> None:
    """Assert that API requests and a Telegram webhook reach the app through the proxy."""
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with httpx.AsyncClient(base_url=proxied.url, headers=headers) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert error(await client.get("/api/v1/members/m-1"), 404)["code"] == "not_found"
        webhook = await client.post(
            "/telegram/webhook",
            json={"update_id": 7},
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET, "Authorization": ""},
        )
        assert webhook.status_code == 200
    assert proxied.updates == [{"update_id": 7}]
    assert proxied.seen.paths == ["/healthz", "/api/v1/members/m-1", "/telegram/webhook"]


async def refuses_a_header_over(proxied: Proxied, limit: int) -> bytes:
    """Assert a header of `limit` bytes gets 431 before the app and one just under is served
    (with the request after it); return the 431 answer."""
    head = b"GET /healthz?big HTTP/1.1\r\nHost: x\r\n"
    big = b"X-Padding: " + b"a" * limit + b"\r\n\r\n"
    answer = await exchange(proxied, head + big)
    assert answer.startswith(b"HTTP/1.1 431 ")
    fits = b"X-Padding: " + b"a" * (limit - 200) + b"\r\n\r\n"
    near = await exchange(
        proxied, head.replace(b"?big", b"?fits") + fits,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )  # fmt: skip
    assert near.count(b"HTTP/1.1 200 ") == 2
    assert proxied.seen.paths == ["/healthz?fits", "/healthz"]
    return answer


async def dribbled_headers_cut_off(proxied: Proxied, proxy_timeout: float) -> bytes:
    """Dribble a header a byte every `proxy_timeout`/20 s; assert the proxy closes the
    connection `proxy_timeout` after its start (not after the last byte); return its answer.

    Real time on purpose: the clock under test is the proxy's own (another process, its
    timeout set in the test config), which no injected clock reaches; the test waits for it,
    never longer.
    """
    reader, writer = await asyncio.open_connection(proxied.host, proxied.port)
    started = time.monotonic()
    closed = asyncio.create_task(reader.read())
    with contextlib.suppress(ConnectionError):
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz":
            if closed.done():
                break
            writer.write(bytes([byte]))  # each read well within the timeout
            await writer.drain()
            await asyncio.sleep(proxy_timeout / 20)
    answer = await asyncio.wait_for(closed, proxy_timeout + PROMPT)
    assert proxy_timeout * 0.9 <= time.monotonic() - started < proxy_timeout + PROMPT
    writer.close()
    assert proxied.seen.paths == []
    return answer
