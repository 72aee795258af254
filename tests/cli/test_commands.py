"""The operator CLI end to end: config check, db migrate/check, events import, member commands."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.db import migrations
from tests.cli.conftest import ROOT, run_child, write_config, write_events

DAY = "2026-11-20T10:00:00+00:00"


def ev(event_id: str, type_: str, **data: object) -> dict:
    return {"id": event_id, "type": type_, "occurred_at": DAY, "data": data}


def test_config_check_prints_both_presets(cli, tmp_path: Path) -> None:
    result = cli("config", "check")
    assert result.code == 0
    for text in ("Marketplace points", "A0", "A4", "2000 points", "$20.00", "30/06", "day 7"):
        assert text in result.out
    (tmp_path / "vip").mkdir()
    vip = write_config(tmp_path / "vip", 'preset = "vip-shop"')
    child = run_child("config", "check", "-c", str(vip))
    assert child.returncode == 0, child.stderr
    for text in ("VIP Bonus Points", "Top-VIP", "$5,000.00 spent", "0.5%", "email_verified"):
        assert text in child.stdout


def test_broken_config_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[server]\nport = -1\n[program]\npreset = "marketplace"\ntimezone = "Mars/Base"\n'
        '[program.coupons]\nburn_date = "02-30"\ndaily_limit = -3\n'
        '[[program.levels.tiers]]\ncode = "B"\nmin_points = 10\n'
        '[[program.levels.tiers]]\ncode = "A"\nmin_points = 5\n'
        "[support]\nmessages_per_minute = 0\ntickets_per_day = -1\n"
    )
    child = run_child("config", "check", "-c", str(bad))
    assert child.returncode == 1
    lines = [line for line in child.stderr.splitlines() if line.startswith("error:")]
    expected = (
        "server.port",
        "program.timezone",
        "program.coupons.burn_date",
        "program.coupons.daily_limit",
        "program.levels.tiers: the first level must start at 0",
        "program.levels.tiers[1]: levels out of order",
        "support.messages_per_minute",
        "support.tickets_per_day",
    )
    for key in expected:
        assert any(key in line for line in lines), (key, child.stderr)
    assert "Traceback" not in child.stderr


def test_missing_config_and_unknown_command(tmp_path: Path) -> None:
    missing = run_child("db", "check", "-c", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr
    usage = run_child("frobnicate")
    assert usage.returncode == 2


def test_falls_back_to_example_config_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "config.example.toml").write_text((ROOT / "config.example.toml").read_text())
    child = run_child("config", "check", cwd=tmp_path)
    assert child.returncode == 0, child.stderr
    assert "warning: config.toml not found, using config.example.toml" in child.stderr


def test_db_check_needs_a_database_then_passes(cli) -> None:
    before = cli("db", "check")
    assert before.code == 1 and "db migrate" in before.err
    assert cli("db", "migrate").code == 0
    again = cli("db", "migrate")
    latest = migrations()[-1][0]
    assert again.code == 0 and f"schema version {latest} (latest {latest})" in again.out
    assert cli("db", "check").code == 0


def test_db_check_reports_a_tampered_balance(cli, tmp_path: Path) -> None:
    cli("db", "migrate")
    events = write_events(tmp_path / "e.jsonl", [ev("e1", "member.upserted", member_id="m-1")])
    assert cli("events", "import", str(events)).code == 0
    with sqlite3.connect(tmp_path / "loyalty.db") as db:
        db.execute("UPDATE members SET points = 999 WHERE member_id = 'm-1'")
    result = cli("db", "check")
    assert result.code == 1
    assert "points balance differs from the ledger: m-1 (stored 999, expected 0)" in result.err


def test_events_import_counts_processed_duplicate_rejected(cli, tmp_path: Path) -> None:
    cli("db", "migrate")
    path = tmp_path / "events.jsonl"
    lines = [
        json.dumps(ev("e1", "member.upserted", member_id="m-1", name="Ann")),
        json.dumps(ev("e2", "order.placed", order_id="o-1", member_id="m-1", amount_cents=25_000)),
        json.dumps(ev("e3", "order.delivered", order_id="o-1")),
        json.dumps(ev("e3", "order.delivered", order_id="o-1")),  # replayed: duplicate
        json.dumps(ev("e3", "order.delivered", order_id="o-2")),  # same id, other body: rejected
        "{not json",
        json.dumps(ev("e4", "order.delivered", order_id="o-404")),
        json.dumps({"id": "e5", "type": "order.placed", "occurred_at": DAY,
                    "data": {"order_id": "o-5", "member_id": "m-1", "amount_cents": -1}}),
        "",
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    result = cli("events", "import", str(path))
    assert result.code == 1
    assert "processed 3, duplicate 1, rejected 4" in result.out
    assert "line 5: 'event:e3' was already used for a different request" in result.err
    assert "line 6: malformed JSON" in result.err
    assert "line 7: unknown order 'o-404'" in result.err
    assert "line 8: data.amount_cents: must be between 0 and" in result.err
    again = cli("events", "import", str(path))
    assert "processed 0, duplicate 4, rejected 4" in again.out
    shown = cli("member", "show", "m-1")
    assert shown.code == 0
    assert "255" in shown.out  # 250 for the order + 5 for the day's purchase


def test_member_grant_show_and_link_url(cli, tmp_path: Path) -> None:
    cli("db", "migrate")
    events = write_events(tmp_path / "e.jsonl", [ev("e1", "member.upserted", member_id="m-1")])
    cli("events", "import", str(events))
    granted = cli("member", "grant", "m-1", "120", "--reason", "goodwill for a late parcel")
    assert granted.code == 0 and "balance 120" in granted.out
    refused = cli("member", "grant", "m-1", "-500", "--reason", "too much")
    assert refused.code == 1
    assert refused.err.strip() == "error: the balance is 120 points; it cannot go below zero"
    assert cli("member", "grant", "m-1", "-20", "--reason", "correction").code == 0
    shown = cli("member", "show", "m-1")
    assert "goodwill for a late parcel" in shown.out and "+120" in shown.out and "-20" in shown.out
    unknown = cli("member", "show", "nobody")
    assert unknown.code == 1 and unknown.err.strip() == "error: unknown member 'nobody'"
    link = cli("member", "link-url", "m-1")
    assert link.code == 0
    url = link.out.strip()
    assert url.startswith("https://t.me/loyalty_test_bot?start=")
    assert len(url.rsplit("=", 1)[1]) >= 32
    assert cli("member", "link-url", "m-1").out.strip() != url  # a fresh token each time
    assert cli("member", "link-url", "nobody").code == 1


def test_usage_errors_exit_2(cli) -> None:
    for args in (("member", "grant", "m-1", "ten", "--reason", "x"), ("member", "grant", "m-1")):
        try:
            code = cli(*args).code
        except SystemExit as exc:
            code = exc.code
        assert code == 2


def test_events_import_rejects_each_bad_line_and_applies_the_rest(cli, tmp_path: Path) -> None:
    """Each of these once ended the import with a traceback, applying nothing after it."""
    cli("db", "migrate")
    good = [
        json.dumps(ev(f"e{n}", "member.upserted", member_id=f"m-{n}")).encode() for n in range(6)
    ]
    bad = [
        b'{"id":"x1","type":"member.upserted","occurred_at":"' + DAY.encode()
        + b'","data":{"member_id":"m\\ud800"}}',  # a lone surrogate
        b'{"id":"x2","type":"order.placed","occurred_at":"' + DAY.encode()
        + b'","data":{"order_id":"o","member_id":"m-0","amount_cents":' + b"9" * 4_400 + b"}}",
        b'{"id":"x3","type":"member.upserted","data":{"member_id":"m-\xff\xfe"}}',  # not UTF-8
        b"[" * 100_000 + b"]" * 100_000,
        b'{"id":"x5","id":"x6","type":"member.upserted","occurred_at":"' + DAY.encode()
        + b'","data":{"member_id":"m-9"}}',  # a key twice
    ]  # fmt: skip
    lines = [good[0], bad[0], good[1], bad[1], good[2], bad[2], good[3], bad[3], good[4], bad[4]]
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\n".join([*lines, good[5]]) + b"\n")
    result = cli("events", "import", str(path))
    assert result.code == 1
    assert "processed 6, duplicate 0, rejected 5" in result.out
    assert "line 2: malformed JSON (a lone surrogate in a string)" in result.err
    assert "line 4: malformed JSON (Exceeds the limit (4300 digits)" in result.err
    assert "line 6: malformed JSON (not UTF-8)" in result.err
    assert "line 8: malformed JSON (nested too deeply)" in result.err
    assert "line 10: duplicate key (the key 'id' appears twice in one object)" in result.err
    assert "Traceback" not in result.err
    for n in range(6):
        assert cli("member", "show", f"m-{n}").code == 0
    assert cli("member", "show", "m-9").code == 1


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The usual umask (022), under which new files are world-readable unless made private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_database_files_are_private_and_db_check_says_when_not(
    cli, tmp_path: Path, usual_umask: None
) -> None:
    assert cli("db", "migrate").code == 0
    db = tmp_path / "loyalty.db"
    events = write_events(tmp_path / "e.jsonl", [ev("e1", "member.upserted", member_id="m-1")])
    assert cli("events", "import", str(events)).code == 0
    assert db.stat().st_mode & 0o777 == 0o600
    # SQLite gives the -wal and -shm files the database file's mode: look while one is open.
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("UPDATE members SET name = NULL")
        side = [Path(f"{db}{suffix}") for suffix in ("-wal", "-shm")]
        assert [p.stat().st_mode & 0o777 for p in side] == [0o600, 0o600]
    assert cli("db", "check").code == 0
    db.chmod(0o644)
    result = cli("db", "check")
    assert result.code == 1
    assert f"{db} is mode 0644, readable beyond its owner: chmod 600 it" in result.err


def test_events_import_from_stdin_rejects_a_line_that_is_not_utf8(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_child("-c", str(config), "db", "migrate").returncode == 0
    lines = [
        json.dumps(ev("e1", "member.upserted", member_id="m-1")).encode(),
        b'{"id":"e2","type":"member.upserted","data":{"member_id":"\xe9"}}',
        json.dumps(ev("e3", "member.upserted", member_id="m-3")).encode(),
    ]
    child = subprocess.run(
        [sys.executable, "-m", "bot", "-c", str(config), "events", "import", "-"],
        input=b"\n".join(lines) + b"\n", cwd=ROOT, capture_output=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 1, child.stderr
    assert b"processed 2, duplicate 0, rejected 1" in child.stdout
    assert b"line 2: malformed JSON (not UTF-8)" in child.stderr
