"""The README's curl lines work, as written, on the config the README tells a new shop to copy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from bot.config import load_config
from loyalty.clock import ManualClock
from storage.store import Store
from tests.api.conftest import app_for, client_for

ROOT = Path(__file__).resolve().parents[2]
POST = re.compile(r"^post (\S+)(?: '(.*)')?$")


def readme_block() -> list[str]:
    text = (ROOT / "README.md").read_text()
    start = text.index("```sh\nsed -i")
    return text[start + len("```sh\n") : text.index("```", start + 6)].splitlines()


async def test_the_readme_checkout_lines_pass_on_the_copied_config(tmp_path: Path) -> None:
    lines = readme_block()
    config = tmp_path / "config.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    sed = lines[0].split("#")[0]
    assert sed.startswith("sed -i ")
    edit = ["bash", "-c", sed]  # the README's own edit, run as written
    subprocess.run(edit, cwd=tmp_path, check=True)  # noqa: ASYNC221 (a test, before the loop work)
    loaded = load_config(config)
    assert loaded.program.preset == "vip-shop"
    clock = ManualClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))  # after the lines' events
    store = await Store.open(tmp_path / "loyalty.db", loaded.program, clock=clock)
    posts = [POST.match(line) for line in lines if line.startswith("post ")]
    assert len(posts) == 8
    try:
        async with client_for(app_for(store, config=loaded)) as shop:
            for match in posts:
                assert match is not None
                path, body = match.group(1), match.group(2)
                answer = await shop.post(path, json=json.loads(body) if body else None)
                assert answer.status_code in (200, 201), (path, answer.text)
        held = answer.json()
        assert (held["hold_id"], held["points"], held["status"]) == ("h-1", 5, "held")
    finally:
        await store.close()
