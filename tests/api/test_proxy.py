"""deploy/nginx.conf, run by a real nginx in front of a live server on loopback: what passes,
and the slow or oversized requests it stops before they reach the app.

The shipped file is used with its deployment lines replaced (ports, TLS, a 1 s header and
body timeout, paths under the test's own directory), so what is tested is what is deployed.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.api.server import http_server
from storage.store import Store
from tests.api.conftest import API_KEY, app_for, make_config
from tests.api.proxy_kit import (
    PROMPT,
    Proxied,
    Seen,
    answer_to,
    behind,
    body_of,
    dribbled_headers_cut_off,
    exchange,
    passes_requests_and_a_webhook,
    refuses_a_header_over,
    running,
)
from tests.cli.conftest import ROOT

NGINX = shutil.which("nginx")
pytestmark = pytest.mark.sqlite_only  # the proxy is under test, not the store: one backend

CONF = ROOT / "deploy" / "nginx.conf"
TIMEOUT = 1  # the proxy's header and body timeouts here, in seconds
HEADER_LINE_LIMIT = 16_384  # large_client_header_buffers' size in deploy/nginx.conf


def proxy_config(directory: Path, listen: int, upstream: int, *more: int) -> str:
    """Return deploy/nginx.conf for this test: loopback ports (`more`: further web workers,
    as docs/scaling.md adds them), no TLS, 1 s timeouts, no root paths, in the foreground."""
    text = CONF.read_text()
    servers = "".join(f"\n        server 127.0.0.1:{port};" for port in more)
    replaced = [
        (r"listen 443 ssl;", f"listen 127.0.0.1:{listen};"),
        (r"server 127\.0\.0\.1:8080;", f"server 127.0.0.1:{upstream};{servers}"),
        (r"client_header_timeout 10s;", f"client_header_timeout {TIMEOUT}s;"),
        (r"client_body_timeout 10s;", f"client_body_timeout {TIMEOUT}s;"),
        (r"worker_processes auto;", "worker_processes 1;"),
        (r"\n\s*ssl_[a-z_]+ [^;]*;", ""),
    ]
    for pattern, replacement in replaced:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"deploy/nginx.conf no longer has {pattern!r}"
    paths = "".join(
        f"    {kind}_temp_path {directory / kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + paths, 1)
    main = (
        f"daemon off;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} info;\n"
    )
    if os.geteuid() == 0:
        main += "user root;\n"  # workers would otherwise be nobody, shut out of the test's dir
    return main + text


@contextlib.contextmanager
def nginx(directory: Path, listen: int, upstream: int, *more: int) -> Iterator[None]:
    """Run nginx with the test's config until the block ends."""
    conf = directory / "nginx.conf"
    conf.write_text(proxy_config(directory, listen, upstream, *more))
    command = [
        str(NGINX),
        "-p",
        str(directory),
        "-e",
        str(directory / "error.log"),
        "-c",
        str(conf),
    ]
    with running(command, listen, "nginx"):
        yield


@pytest.fixture
async def proxied(store: Store, tmp_path: Path) -> AsyncIterator[Proxied]:
    if NGINX is None:
        pytest.skip("nginx is not on PATH; to run these tests: apt-get install nginx")
    async with behind(store, functools.partial(nginx, tmp_path)) as through:
        yield through


async def test_requests_and_a_webhook_pass_through(proxied: Proxied) -> None:
    await passes_requests_and_a_webhook(proxied)


def test_the_proxy_takes_bodies_as_large_as_the_app_does() -> None:
    limit = re.search(r"client_max_body_size (\d+)k;", CONF.read_text())
    assert limit is not None
    assert int(limit.group(1)) * 1_024 == make_config().server.max_body_bytes


async def test_an_oversized_header_gets_431_before_the_app(proxied: Proxied) -> None:
    answer = await refuses_a_header_over(proxied, HEADER_LINE_LIMIT)
    assert body_of(answer)["error"]["code"] == "headers_too_large"


async def test_a_header_that_never_ends_is_cut_off_before_it_is_whole(proxied: Proxied) -> None:
    reader, writer = await asyncio.open_connection(proxied.host, proxied.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
    answer = asyncio.create_task(reader.read())  # all the proxy writes, until it closes
    sent, give_up = 0, 64 * HEADER_LINE_LIMIT
    with contextlib.suppress(ConnectionError):  # the proxy may close while we still send
        while not answer.done() and sent < give_up:
            writer.write(b"a" * 4_096)  # never a line end
            await writer.drain()
            sent += 4_096
            await asyncio.sleep(0.001)
    assert b'"code":"headers_too_large"' in await asyncio.wait_for(answer, PROMPT)
    writer.close()
    assert sent < give_up  # cut off long before the client gave up
    assert proxied.seen.paths == []


async def test_headers_that_dribble_past_the_timeout_are_cut_off(proxied: Proxied) -> None:
    idle_reader, idle_writer = await asyncio.open_connection(proxied.host, proxied.port)
    # Nothing was answered but nginx's own 408, if anything.
    answer = await dribbled_headers_cut_off(proxied, TIMEOUT)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
    # A connection that never sent anything is closed after the same time.
    idle = await asyncio.wait_for(idle_reader.read(), PROMPT)
    assert idle == b"" or idle.startswith(b"HTTP/1.1 408 ")
    idle_writer.close()


async def test_an_oversized_body_is_refused_before_the_app(proxied: Proxied) -> None:
    limit = make_config().server.max_body_bytes
    head = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + API_KEY.encode() + b"\r\n"
    )
    declared = await answer_to(
        proxied, head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (limit + 1)
    )  # refused from Content-Length, before a byte of the body was sent
    assert declared.startswith(b"HTTP/1.1 413 ")
    assert body_of(declared)["error"]["code"] == "body_too_large"
    # the API's own shape: details list problems, they do not repeat the message
    assert body_of(declared)["error"]["details"] == []
    chunk = b"x" * 8_192
    chunked = b"".join(
        b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limit // len(chunk) + 1)
    )
    streamed = await answer_to(
        proxied, head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n", chunked
    )
    assert streamed.startswith(b"HTTP/1.1 413 ")
    assert proxied.seen.paths == []


async def test_a_body_that_stalls_is_cut_off_before_the_app(proxied: Proxied) -> None:
    request = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Length: 300\r\n\r\n{"
    )
    started = time.monotonic()
    answer = await exchange(proxied, request, wait=TIMEOUT + PROMPT)
    assert time.monotonic() - started >= TIMEOUT * 0.9
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
    assert proxied.seen.paths == []


# A TLS 1.2 ClientHello's first bytes: a client speaking TLS to a port that expects HTTP.
TLS_HELLO = bytes.fromhex("16030100a5010000a10303") + bytes(32) + bytes.fromhex("000004c02fc030")
MALFORMED = {
    "Content-Length abc": b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "two Content-Lengths": b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
    b"Content-Length: 3\r\n\r\n{}",
    "Content-Length and chunked": b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "a TLS hello": TLS_HELLO,
    "a request line that is not HTTP": b"HELLO\x00 / HTTP/1.1\r\nHost: x\r\n\r\n",
    "a header without a colon": b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",
    "a space before the colon": b"GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n",
    "HTTP/1.1 without Host": b"GET /healthz HTTP/1.1\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_requests_the_proxy_cannot_parse_get_the_json_400(
    proxied: Proxied, name: str
) -> None:
    """Without the proxy, uvicorn answers these with a plain-text 400 (docs/deploy.md)."""
    answer = await exchange(proxied, MALFORMED[name])
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"\r\ncontent-type: application/json" in answer.lower()
    assert body_of(answer)["error"]["code"] == "bad_request"
    assert proxied.seen.paths == []


@pytest.mark.parametrize("name", [n for n in MALFORMED if n != "HTTP/1.1 without Host"])
async def test_without_the_proxy_the_server_answers_them_with_its_plain_400(
    store: Store, name: str
) -> None:
    """What docs/deploy.md says a client gets that talks to uvicorn directly: httptools'
    parser refuses the request before the app sees it, and uvicorn answers in plain text."""
    seen = Seen()
    async with http_server(seen.wrap(app_for(store)), "127.0.0.1", 0) as live:
        reader, writer = await asyncio.open_connection("127.0.0.1", live.port)
        writer.write(MALFORMED[name])
        answer = await asyncio.wait_for(reader.read(), PROMPT)
        writer.close()
    head, body = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"\r\ncontent-type: text/plain; charset=utf-8" in head
    assert b"\r\nconnection: close" in head
    assert body == b"Invalid HTTP request received."
    assert seen.paths == []
