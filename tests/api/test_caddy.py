"""deploy/Caddyfile, run by a real Caddy in front of a live server on loopback: the docs'
`caddy validate` line, what passes, and the oversized or slow requests it stops.

As in test_proxy.py (nginx), the shipped file is used with its deployment lines replaced: the
site name by plain HTTP on a free loopback port (no certificates), the upstream by the live
server, 1 s timeouts, the admin endpoint off, and Caddy's own files in the test's directory.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage.store import Store
from tests.api.conftest import API_KEY, make_config
from tests.api.proxy_kit import (
    Proxied,
    answer_to,
    behind,
    body_of,
    dribbled_headers_cut_off,
    passes_requests_and_a_webhook,
    refuses_a_header_over,
    running,
    tmp_home,
)
from tests.cli.conftest import ROOT
from tests.docs.test_operations import commands

CADDY = shutil.which("caddy")
CADDYFILE = ROOT / "deploy" / "Caddyfile"
TIMEOUT = 1  # the proxy's header and body timeouts here, in seconds
HEADER_LIMIT = 16_384  # request line and headers in all (max_header_size + Go's 4 KiB)
CONNECTOR_LIMIT = 1_048_576
pytestmark = [
    pytest.mark.skipif(
        CADDY is None, reason="caddy is not on PATH; to run these tests: apt-get install caddy"
    ),
    pytest.mark.sqlite_only,  # the proxy is under test, not the store: one backend is enough
]


def caddy_env(directory: Path) -> dict[str, str]:
    """Return the environment Caddy runs in: its data and config under `directory`."""
    return {**os.environ, **tmp_home(directory)}


def test_the_docs_validate_line_passes_on_the_shipped_file(tmp_path: Path) -> None:
    (line,) = [c for c in commands() if c.startswith("caddy ")]
    installed = tmp_path / "etc" / "caddy" / "Caddyfile"
    installed.parent.mkdir(parents=True)
    shutil.copy(CADDYFILE, installed)
    argv = shlex.split(line.replace("/etc/caddy/Caddyfile", str(installed)))
    child = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=60,
                           env=caddy_env(tmp_path), check=False)  # fmt: skip
    assert child.returncode == 0, child.stderr[-2000:]
    assert "Valid configuration" in child.stdout + child.stderr
    assert "not formatted" not in child.stderr  # as `caddy fmt` writes it


def caddy_config(listen: int, upstream: int) -> str:
    """Return deploy/Caddyfile for this test: plain HTTP on loopback, 1 s timeouts, no admin."""
    text = CADDYFILE.read_text()
    replaced = [
        (r"(?m)^\{\n", "{\n\tadmin off\n\tauto_https off\n"),
        # Any Host (the tests send "x"), on loopback only.
        (r"(?m)^bot\.example\.com \{", f"http://:{listen} {{\n\tbind 127.0.0.1"),
        (r"reverse_proxy 127\.0\.0\.1:8080", f"reverse_proxy 127.0.0.1:{upstream}"),
        (r"read_header 10s", f"read_header {TIMEOUT}s"),
        (r"read_body 10s", f"read_body {TIMEOUT}s"),
    ]
    for pattern, replacement in replaced:
        text, count = re.subn(pattern, replacement, text)
        assert count, f"deploy/Caddyfile no longer has {pattern!r}"
    return text


@contextlib.contextmanager
def caddy(directory: Path, listen: int, upstream: int) -> Iterator[None]:
    """Run Caddy with the test's Caddyfile until the block ends."""
    conf = directory / "Caddyfile"
    conf.write_text(caddy_config(listen, upstream))
    command = [str(CADDY), "run", "--config", str(conf), "--adapter", "caddyfile"]
    with running(command, listen, "caddy", cwd=directory, env=caddy_env(directory)):
        yield


@pytest.fixture
async def proxied(store: Store, tmp_path: Path) -> AsyncIterator[Proxied]:
    # Caddy writes nothing outside the test's directory: its HOME and XDG dirs are in it.
    async with behind(store, functools.partial(caddy, tmp_path)) as through:
        yield through


async def test_requests_and_a_webhook_pass_through(proxied: Proxied) -> None:
    await passes_requests_and_a_webhook(proxied)


def post(path: str, length: bytes) -> bytes:
    return (
        b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer "
        + API_KEY.encode()
        + b"\r\n"
        + length
        + b"Connection: close\r\n\r\n"
    )


async def test_bodies_over_the_apps_limits_are_refused_before_the_app(proxied: Proxied) -> None:
    limit = make_config().server.max_body_bytes
    declared = await answer_to(
        proxied, post("/api/v1/events", b"Content-Length: %d\r\n" % (limit + 1))
    )
    assert declared.startswith(b"HTTP/1.1 413 ")  # from Content-Length, before the body
    assert body_of(declared)["error"]["code"] == "body_too_large"
    orders = await answer_to(
        proxied, post("/connectors/woocommerce", b"Content-Length: %d\r\n" % (CONNECTOR_LIMIT + 1))
    )
    assert orders.startswith(b"HTTP/1.1 413 ")
    assert proxied.seen.paths == []
    # Exactly the limit reaches the app (64 KiB, not Caddy's decimal 64 KB), and so does an
    # order of 100 KiB on the connectors' path; the app answers them itself (not valid JSON).
    fits = await answer_to(
        proxied, post("/api/v1/events", b"Content-Length: %d\r\n" % limit), b"x" * limit
    )
    assert not fits.startswith((b"HTTP/1.1 413 ", b"HTTP/1.1 502 ")), fits[:200]
    order = 100 * 1_024
    bigger = await answer_to(
        proxied, post("/connectors/woocommerce", b"Content-Length: %d\r\n" % order), b"x" * order
    )
    assert not bigger.startswith((b"HTTP/1.1 413 ", b"HTTP/1.1 502 ")), bigger[:200]
    assert proxied.seen.paths == ["/api/v1/events", "/connectors/woocommerce"]
    # A body that declares no length (chunked) is refused too: Caddy 2.6 would stream it and
    # cut it off at the limit, the app seeing the start of it (deploy/Caddyfile says why).
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (limit + 1, b"x" * (limit + 1))
    streamed = await answer_to(
        proxied, post("/api/v1/events", b"Transfer-Encoding: chunked\r\n"), chunked
    )
    assert streamed.startswith(b"HTTP/1.1 411 "), streamed[:300]
    assert body_of(streamed)["error"]["code"] == "length_required"
    assert proxied.seen.paths == ["/api/v1/events", "/connectors/woocommerce"]


async def test_headers_over_16_kib_get_431_before_the_app(proxied: Proxied) -> None:
    await refuses_a_header_over(proxied, HEADER_LIMIT)  # Go's own plain-text 431


async def test_headers_that_dribble_past_the_timeout_are_cut_off(proxied: Proxied) -> None:
    answer = await dribbled_headers_cut_off(proxied, TIMEOUT)
    # Go's server answers a request it gave up on with a plain 400, or nothing.
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400 ")
