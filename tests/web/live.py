"""A live server for browser tests: the real app on a real store, in a thread of its own.

Playwright's sync API drives the browser from the test's thread; the server, the store and
their event loop live in another thread, and tests reach the store through `run()`.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from bot.api.server import Listening, http_server
from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage.store import Store
from tests.conftest import START
from tests.web.conftest import SECRET, web_app

T = TypeVar("T")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium_path() -> str | None:
    """Return $CHROMIUM, else the `chromium` on PATH (Debian's), or None when there is none."""
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    return found if found is not None and Path(found).exists() else None


class LiveServer:
    """The app served on 127.0.0.1 (a free port) from a store at `path`."""

    def __init__(self, path: Path, *, secret: bytes = SECRET) -> None:
        self.clock = ManualClock(START)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: Store = self.run(
            Store.open(path, load_program({"preset": "marketplace"}), clock=self.clock,
                       synchronous="NORMAL")
        )  # fmt: skip
        self._server = http_server(web_app(self.store, secret=secret), "127.0.0.1", 0)
        self.listening: Listening = self.run(self._server.__aenter__())

    @property
    def url(self) -> str:
        return self.listening.url

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine in the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def close(self) -> None:
        self.run(self._server.__aexit__(None, None, None))
        self.run(self.store.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the whole module."""
    executable = chromium_path()
    if executable is None:
        pytest.skip("browser tests need Chromium: apt-get install chromium (or set CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def screenshot(page: Any, name: str) -> None:
    """Save a screenshot into $WEB_SCREENSHOTS (docs/ uses them), when it is set."""
    folder = os.environ.get("WEB_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)
