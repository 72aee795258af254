"""`db backup` (SQLite's online backup, checked) and `db restore` (confirmed, the old kept)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from loyalty.loader import load_program
from storage import backup, grants
from storage.events import apply_event
from storage.store import Store
from tests.cli.conftest import write_events
from tests.cli.test_bad_input import one_error_line

DAY = "2026-11-20T10:00:00+00:00"


def points(db: Path, member_id: str = "m-1") -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT points FROM members WHERE member_id = ?", (member_id,)
        ).fetchone()[0]


def test_backup_then_restore_brings_the_balances_back(cli, tmp_path: Path) -> None:
    cli("db", "migrate")
    upsert = {
        "id": "e1",
        "type": "member.upserted",
        "occurred_at": DAY,
        "data": {"member_id": "m-1"},
    }
    cli("events", "import", str(write_events(tmp_path / "e.jsonl", [upsert])))
    cli("member", "grant", "m-1", "300", "--reason", "gift")
    copy = tmp_path / "backups" / "loyalty-1.db"
    copy.parent.mkdir()
    made = cli("db", "backup", str(copy))
    assert made.code == 0, made.err
    assert "checked: schema version" in made.out and "1 members, 1 ledger rows" in made.out
    assert copy.stat().st_mode & 0o777 == 0o600  # private, like the database
    assert "already exists" in one_error_line(cli("db", "backup", str(copy)))
    assert "no such directory" in one_error_line(cli("db", "backup", str(tmp_path / "no" / "x")))
    cli("member", "grant", "m-1", "200", "--reason", "after the backup")
    live = tmp_path / "loyalty.db"
    assert points(live) == 500
    refused = one_error_line(cli("db", "restore", str(copy)))
    assert "stop the service, then run again with --yes" in refused
    assert points(live) == 500  # nothing changed without --yes
    restored = cli("db", "restore", str(copy), "--yes")
    assert restored.code == 0, restored.err
    assert points(live) == 300
    kept = next(tmp_path.glob("loyalty.db.before-restore-*"))
    assert points(kept) == 500  # the replaced database, kept
    assert cli("db", "check").code == 0
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("hello\n" * 1000)
    assert "not a usable database" in one_error_line(cli("db", "restore", str(not_a_db), "--yes"))
    assert "no such file" in one_error_line(cli("db", "restore", str(tmp_path / "gone.db")))
    assert points(live) == 300


async def test_backup_is_online_and_has_what_was_committed(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "live.db", load_program({"preset": "marketplace"}))
    try:
        body = {"id": "e1", "type": "member.upserted", "occurred_at": DAY,
                "data": {"member_id": "m-1"}}  # fmt: skip
        await apply_event(store, body)
        await grants.grant(store, "m-1", 42, reason="r", actor="t")  # committed, in the WAL
        snapshot = await asyncio.to_thread(backup.backup, tmp_path / "live.db", tmp_path / "b.db")
        await grants.grant(store, "m-1", 1, reason="r", actor="t")  # the service goes on
    finally:
        await store.close()
    assert (snapshot.members, snapshot.ledger_rows) == (1, 1)
    assert points(tmp_path / "b.db") == 42
    assert not (tmp_path / "b.db-wal").exists()  # one self-contained file


def test_repair_shows_then_sets_drifted_balances_back_to_the_ledger(cli, tmp_path: Path) -> None:
    cli("db", "migrate")
    upsert = {
        "id": "e1",
        "type": "member.upserted",
        "occurred_at": DAY,
        "data": {"member_id": "m-1"},
    }
    cli("events", "import", str(write_events(tmp_path / "e.jsonl", [upsert])))
    cli("member", "grant", "m-1", "120", "--reason", "gift")
    live = tmp_path / "loyalty.db"
    with sqlite3.connect(live) as db:
        db.execute("UPDATE members SET points = 999, coins = 7 WHERE member_id = 'm-1'")
    assert cli("db", "check").code == 1
    shown = cli("db", "repair")
    assert shown.code == 0
    assert "m-1: points 999 -> 120 (would set)" in shown.out
    assert "m-1: coins 7 -> 0 (would set)" in shown.out
    assert points(live) == 999  # only shown
    fixed = cli("db", "repair", "--yes")
    assert fixed.code == 0 and "m-1: points 999 -> 120 (set)" in fixed.out
    assert points(live) == 120
    assert cli("db", "check").code == 0
    assert "every cached balance equals the ledger" in cli("db", "repair").out
