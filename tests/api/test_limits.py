"""Request limits in the app: 413 by declared or streamed size, 408 for a body that stalls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from storage.store import Store
from tests.api.conftest import API_KEY, app_for, error, make_config

LIMIT = 2_048


async def test_a_declared_length_over_the_limit_is_413(store: Store) -> None:
    app = app_for(store, config=make_config(max_body_bytes=LIMIT))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        response = await client.post("/api/v1/events", content=b" " * (LIMIT + 1), headers=headers)
        assert error(response, 413)["code"] == "body_too_large"
        assert response.headers["connection"] == "close"
        at_limit = await client.post("/api/v1/events", content=b" " * LIMIT, headers=headers)
        assert at_limit.status_code == 400  # read, and found not to be JSON


async def test_a_streamed_body_is_counted_as_it_arrives(store: Store) -> None:
    app = app_for(store, config=make_config(max_body_bytes=LIMIT))

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"[" * 512

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        request = client.build_request(
            "POST", "/api/v1/events", content=chunks(),
            headers={"Authorization": f"Bearer {API_KEY}"},
        )  # fmt: skip
        assert "content-length" not in request.headers
        response = await client.send(request)
        assert error(response, 413)["code"] == "body_too_large"


async def asgi_call(
    app: Any, messages: list[dict[str, Any]], headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """Call the app with `messages` as the request, then a receive that never returns."""
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/api/v1/events", "raw_path": b"/api/v1/events",
             "query_string": b"", "root_path": "", "server": ("t", 80), "client": ("c", 1),
             "headers": [(b"authorization", f"Bearer {API_KEY}".encode()), *headers]}  # fmt: skip
    await app(scope, queue.get, send)
    return sent


async def test_a_body_that_stalls_is_408_and_closes(store: Store) -> None:
    app = app_for(store, read_timeout=0.05)
    sent = await asgi_call(
        app, [{"type": "http.request", "body": b'{"id": ', "more_body": True}],
        [(b"content-length", b"100")],
    )  # fmt: skip
    start = sent[0]
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert b'"request_timeout"' in sent[1]["body"]


async def test_a_client_that_leaves_mid_body_gets_no_answer(store: Store) -> None:
    sent = await asgi_call(
        app_for(store), [{"type": "http.request", "body": b"{", "more_body": True},
                         {"type": "http.disconnect"}], [],
    )  # fmt: skip
    assert sent == []


async def test_a_content_length_that_is_not_a_number_is_400(store: Store) -> None:
    sent = await asgi_call(app_for(store), [], [(b"content-length", b"12x")])
    assert sent[0]["status"] == 400
