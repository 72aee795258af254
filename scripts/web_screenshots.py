"""Take the README's screenshots of the card and the console (docs/*.png) in headless Chromium.

A store from bench/engine.py's builder (2,000 members, two years of history) is served on a
local port; the card is opened as a linked member with Telegram's dark theme, the console
through a one-time link.

    .venv/bin/python scripts/web_screenshots.py [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.engine import NOW, build  # noqa: E402
from bot.api.app import build_api  # noqa: E402
from bot.api.server import http_server  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.web.initdata import sign  # noqa: E402
from loyalty.clock import ManualClock  # noqa: E402
from storage import console_logins, coupons  # noqa: E402
from storage.store import Store  # noqa: E402
from tests.web.live import CHROMIUM_ARGS, chromium_path  # noqa: E402

TOKEN = "1:screenshots"  # noqa: S105 (a made-up token for signing test initData)
ADMIN = 42
T = TypeVar("T")
THEME = {"bg_color": "#17212b", "text_color": "#f5f5f5", "hint_color": "#708499",
         "link_color": "#6ab3f3", "button_color": "#5288c1", "button_text_color": "#ffffff",
         "secondary_bg_color": "#232e3c"}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(ROOT / "docs"))
    args = parser.parse_args()
    executable = chromium_path()
    if executable is None:
        print("needs Chromium: apt-get install chromium", file=sys.stderr)
        return 1
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=300)

    config = parse_config({"program": {"preset": "marketplace"}, "support": {"admin_ids": [ADMIN]}})
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "shots.db"
        run(build(path, config.program, 2_000, 60_000, 0, 3))
        store = run(Store.open(path, config.program, clock=ManualClock(NOW)))
        app = build_api(config, store, api_key="k", bot_username="b", bot_token=TOKEN)
        server = http_server(app, "127.0.0.1", 0)
        listening = run(server.__aenter__())
        row = run(store.db.read_one(
            "SELECT l.member_id, l.telegram_user_id FROM telegram_links l JOIN members m"
            " ON m.member_id = l.member_id WHERE m.level_code = 'A3' ORDER BY m.points DESC"
        ))  # fmt: skip
        member_id, user_id = row[0], row[1]
        run(coupons.exchange(store, member_id, 1000, "points", "shot-1"))
        user = {"id": user_id, "first_name": "Alex", "language_code": "en"}
        card = (
            f"{listening.url}/app/#tgWebAppData={quote(sign(TOKEN, user, store.now()))}"
            f"&tgWebAppThemeParams={quote(json.dumps(THEME))}"
        )
        login = run(console_logins.create(store, ADMIN))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 390, "height": 800})
                page.goto(card)
                page.wait_for_selector("#points")
                page.screenshot(path=f"{args.out}/card.png", full_page=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{listening.url}/console/#login={login.token}")
                page.wait_for_selector("#kpi-members")
                page.screenshot(path=f"{args.out}/console-overview.png", full_page=True)
                page.click('nav button[data-view="members"]')
                page.fill("#search", member_id)
                page.click("#search-form button")
                page.click(f'tr[data-member="{member_id}"]')
                page.wait_for_selector("#grant-form")
                page.screenshot(path=f"{args.out}/console-member.png", full_page=True)
                browser.close()
        finally:
            run(server.__aexit__(None, None, None))
            run(store.close())
    print(f"screenshots in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
