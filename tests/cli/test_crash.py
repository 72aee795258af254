"""Crash safety: an import killed with SIGKILL leaves a consistent store, and a re-import of the
same file credits nothing twice (every event is applied whole, once, or not at all)."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.cli.conftest import ROOT, run_child, write_config, write_events

MEMBERS, ORDERS = 60, 300


def day_of_events(seed: int) -> list[dict]:
    """A shop's day: members, orders placed/paid/delivered, some returned or reviewed."""
    rng = random.Random(seed)
    at = "2026-11-20T{:02d}:{:02d}:00+00:00"
    events: list[dict] = []

    def add(type_: str, **data: object) -> None:
        minute = len(events) % 1440
        occurred_at = at.format(minute // 60, minute % 60)
        events.append({"id": f"evt-{len(events)}", "type": type_, "occurred_at": occurred_at,
                       "data": data})  # fmt: skip

    for m in range(MEMBERS):
        add("member.upserted", member_id=f"m-{m}", **({"referred_by": "m-0"} if m else {}))
    for o in range(ORDERS):
        member = f"m-{rng.randrange(MEMBERS)}"
        add("order.placed", order_id=f"o-{o}", member_id=member,
            amount_cents=rng.randrange(100, 80_000))  # fmt: skip
        add("order.paid", order_id=f"o-{o}")
        add("order.delivered", order_id=f"o-{o}")
        if rng.random() < 0.3:
            add("review.submitted", order_id=f"o-{o}")
        if rng.random() < 0.15:
            add("order.returned", order_id=f"o-{o}")
    return events


def balances(db: Path) -> dict[str, tuple[int, int, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT member_id, points, coins, level_code FROM members").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def processed(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            return conn.execute("SELECT COUNT(*) FROM idempotency").fetchone()[0]
    except sqlite3.OperationalError:  # the child has not created the schema yet
        return 0


def test_sigkill_mid_import_then_reimport_credits_nothing_twice(tmp_path: Path) -> None:
    events = day_of_events(seed=7)
    file = write_events(tmp_path / "day.jsonl", events)

    reference_dir = tmp_path / "reference"
    reference_dir.mkdir()
    reference = write_config(reference_dir)
    assert run_child("db", "migrate", "-c", str(reference)).returncode == 0
    full = run_child("events", "import", str(file), "-c", str(reference))
    assert full.returncode == 0, full.stderr
    expected = balances(reference_dir / "loyalty.db")

    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    config = write_config(crash_dir)
    db = crash_dir / "loyalty.db"
    assert run_child("db", "migrate", "-c", str(config)).returncode == 0
    child = subprocess.Popen(
        [sys.executable, "-m", "bot", "events", "import", str(file), "-c", str(config)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    # Wait for the child to be well into the file (a condition, not a fixed delay).
    kill_after = random.Random(11).randrange(150, 450)
    deadline = time.monotonic() + 60
    while processed(db) < kill_after and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL, "the import finished before it could be killed"
    done = processed(db)
    assert 0 < done < len(events)

    check = run_child("db", "check", "-c", str(config))
    assert check.returncode == 0, check.stdout + check.stderr

    again = run_child("events", "import", str(file), "-c", str(config))
    assert again.returncode == 0, again.stderr
    counts = again.stdout.strip()
    assert counts == f"processed {len(events) - done}, duplicate {done}, rejected 0"
    assert balances(db) == expected
    assert run_child("db", "check", "-c", str(config)).returncode == 0
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT ref, reason, COUNT(*) FROM ledger WHERE reason IN ('order', 'review')"
            " GROUP BY ref, reason HAVING COUNT(*) > 1"
        ).fetchall()
    assert rows == []
