"""The API under a real uvicorn on 127.0.0.1: a shop's calls, and clients that stall.

What the proxy in front guards (slow or oversized request headers, idle connections) is in
tests/api/test_proxy.py."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from bot.api.server import Listening, http_server
from bot.service import Stopper
from storage.store import Store
from tests.api.conftest import API_KEY, Shop, app_for, client_for, error, event, make_config

TIMEOUT = 0.3  # the app's body timeout in these tests
PROMPT = 1.0  # what "served promptly" means here, with margin for a busy CI machine


@pytest.fixture
async def live(store: Store) -> AsyncIterator[Listening]:
    app = app_for(store, config=make_config(max_body_bytes=4_096), read_timeout=TIMEOUT)
    async with http_server(app, "127.0.0.1", 0) as listening:
        yield listening


async def test_a_shop_talks_to_a_real_server(live: Listening, store: Store) -> None:
    app = Starlette()  # unused: the client talks over the network
    async with client_for(app, base_url=live.url, transport=httpx.AsyncHTTPTransport()) as client:
        shop = Shop(client, store)
        await shop.member("m-1")
        await shop.delivered("m-1", 4_200)
        assert (await shop.card("m-1"))["points"] == 47
        token = await client.post("/api/v1/members/m-1/link-token")
        assert token.json()["url"].startswith("https://t.me/")
        assert (await client.get("/healthz")).status_code == 200
        big = await client.post("/api/v1/events", content=b"x" * 5_000)
        assert error(big, 413)["code"] == "body_too_large"
        assert error(await client.get("/api/v1/members/m-1", headers={"Authorization": ""}), 401)
        metrics = (await client.get("/metrics")).text
        assert 'route="/api/v1/events",status="413"} 1.0' in metrics


async def _served_promptly(url: str) -> None:
    """Make a few requests on fresh connections; each must be answered within PROMPT."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        for _ in range(3):
            started = time.monotonic()
            response = await asyncio.wait_for(c.get("/healthz"), PROMPT)
            assert response.status_code == 200
            assert time.monotonic() - started < PROMPT


async def test_stalled_clients_do_not_stall_others_and_a_stalled_body_is_cut_off(
    live: Listening, store: Store
) -> None:
    # One client stops in the middle of its headers, another in the middle of its body.
    _, head_writer = await asyncio.open_connection(live.host, live.port)
    head_writer.write(b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Le")
    body_reader, body_writer = await asyncio.open_connection(live.host, live.port)
    body = event("member.upserted", store.now(), member_id="m-1")
    body_writer.write(
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer "
        + API_KEY.encode()
        + b"\r\nContent-Length: 300\r\n\r\n"
        + repr(body).encode()[:40]
    )
    await asyncio.gather(head_writer.drain(), body_writer.drain())
    await _served_promptly(live.url)  # while both hang
    # The body that stalled gets 408 and its connection closed; nothing was applied.
    answer = await asyncio.wait_for(body_reader.read(), TIMEOUT + PROMPT)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()
    assert b'"request_timeout"' in answer
    for writer in (head_writer, body_writer):
        writer.close()
    await _served_promptly(live.url)
    client = client_for(app_for(store), base_url=live.url, transport=httpx.AsyncHTTPTransport())
    async with client:
        assert error(await client.get("/api/v1/members/m-1"), 404)


async def test_keep_alive_is_quick_and_an_idle_connection_is_closed(live: Listening) -> None:
    reader, writer = await asyncio.open_connection(live.host, live.port)
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    started = time.monotonic()
    for _ in range(10):  # ten requests on one connection
        writer.write(request)
        status = await asyncio.wait_for(reader.readline(), PROMPT)
        assert status.startswith(b"HTTP/1.1 200")
        headers = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PROMPT)
        length = int(headers.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
    # With Nagle on, each request after the first waits for the client's delayed ACK (~40 ms).
    assert time.monotonic() - started < 0.3
    writer.close()


async def test_a_signal_while_serving_stops_the_server_then_reaches_the_service_once(
    store: Store,
) -> None:
    stopper = Stopper()
    forced: list[bool] = []
    stopper.on_force.append(lambda: forced.append(True))
    with stopper.signals():
        async with http_server(app_for(store), "127.0.0.1", 0) as live:
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn takes it, stops, and hands it on
            await asyncio.wait_for(stopper.event.wait(), 5)
            async with httpx.AsyncClient(base_url=live.url) as client:
                with pytest.raises(httpx.ConnectError):
                    await client.get("/healthz")
        for _ in range(3):  # the server has stopped: run what a second delivery would queue
            await asyncio.sleep(0)
    assert forced == []  # heard once: a stop, not a forced one
