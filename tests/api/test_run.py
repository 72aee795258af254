"""`loyaltybot run` as a child process: serves the API, stops cleanly on SIGTERM/SIGINT, and a
missing secret is one error line and exit code 1."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from bot.service import Stopper
from storage.db import Database
from tests.cli.conftest import ROOT, write_config

KEY = "run-test-key"


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SHOP_API_KEY", "BOT_TOKEN")}
    return {**env, **extra}


def start(config: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "-c", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert child.stderr is not None
        for line in child.stderr:
            lines.put(line)
        lines.put("")  # EOF

    threading.Thread(target=pump, daemon=True).start()
    return child, lines


def wait_for(lines: queue.Queue[str], text: str, seen: list[str]) -> str:
    while True:
        line = lines.get(timeout=30)
        seen.append(line)
        assert line, f"the child ended before {text!r}:\n{''.join(seen)}"
        if text in line:
            return line


def configured(tmp_path: Path) -> Path:
    config = write_config(tmp_path, extra="[server]\nport = 0\n")
    asyncio.run(_migrate(tmp_path / "loyalty.db"))
    return config


async def _migrate(path: Path) -> None:
    await (await Database.open(path)).close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_the_api_and_stops_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    child, lines = start(configured(tmp_path), child_env(SHOP_API_KEY=KEY))
    seen: list[str] = []
    try:
        ready = wait_for(lines, "msg=listening", seen)
        port = int(ready.split(" port=")[1].split()[0])
        with httpx.Client(base_url=f"http://127.0.0.1:{port}",
                          headers={"Authorization": f"Bearer {KEY}"}) as client:  # fmt: skip
            assert client.get("/healthz").status_code == 200
            upsert = {
                "id": "e-1",
                "type": "member.upserted",
                "occurred_at": "2026-01-01T00:00:00+00:00",
                "data": {"member_id": "m-1"},
            }
            assert client.post("/api/v1/events", json=upsert).json()["status"] == "processed"
            assert client.get("/api/v1/members/m-1").json()["level"]["code"] == "A0"
            assert (
                client.get("/api/v1/members/m-1", headers={"Authorization": ""}).status_code == 401
            )
        child.send_signal(signum)
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    wait_for(lines, "msg=stopped", seen)
    log = "".join(seen)
    assert f"msg=stopping signal={signum.name}" in log
    assert "route=/api/v1/events status=200" in log
    assert "Traceback" not in log


def test_run_without_the_api_key_is_one_error_line(tmp_path: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "bot", "run", "-c", str(configured(tmp_path))],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert child.returncode == 1
    assert child.stderr.splitlines() == [
        "error: environment variable SHOP_API_KEY is not set (named by server.api_key_env)"
    ]


def test_run_without_a_database_is_one_error_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, extra="[server]\nport = 0\n")
    child = subprocess.run(
        [sys.executable, "-m", "bot", "run", "-c", str(config)],
        cwd=ROOT, env=child_env(SHOP_API_KEY=KEY), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert child.returncode == 1
    errors = [line for line in child.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "loyaltybot db migrate" in errors[0]
    assert "Traceback" not in child.stderr


async def test_a_second_stop_request_forces_the_stop() -> None:
    stopper = Stopper()
    forced: list[bool] = []
    stopper.on_force.append(lambda: forced.append(True))
    stopper.request(signal.SIGTERM)
    assert stopper.event.is_set() and forced == []
    stopper.request(signal.SIGINT)
    assert forced == [True]
