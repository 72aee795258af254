"""Backups of the SQLite database with SQLite's online backup API, and restores from them.

The backup API copies a consistent snapshot page by page while the service keeps running
(writers wait only for the moment each step holds the lock), WAL included. A backup is checked
(`PRAGMA integrity_check`) before it is called done; a restore checks the backup first and
copies it over the live database with the same API, in one step.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from storage.db import create_private, migrations
from storage.errors import Invalid

PAGES_PER_STEP = 1_024  # ~4 MB a step: writers get the lock back between steps


@dataclass(frozen=True)
class Snapshot:
    """What a backup file holds."""

    path: Path
    schema_version: int
    members: int
    ledger_rows: int
    bytes: int


def inspect(path: Path) -> Snapshot:
    """Check a database file (integrity, schema) and count what it holds; Invalid if unusable."""
    if not path.exists():
        raise Invalid(f"{path}: no such file")
    if not path.is_file():
        raise Invalid(f"{path}: not a file")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            verdict = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise Invalid(f"{path}: damaged ({verdict})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                raise Invalid(f"{path}: not a loyaltybot database (no schema)")
            members = conn.execute("SELECT COUNT(*) FROM members").fetchone()[0]
            rows = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise Invalid(f"{path}: not a usable database ({exc})") from None
    latest = migrations()[-1][0]
    if version > latest:
        raise Invalid(f"{path}: schema version {version} is newer than this release's {latest}")
    return Snapshot(path, version, members, rows, path.stat().st_size)


def backup(source: Path, target: Path) -> Snapshot:
    """Copy the live database `source` to the new file `target`, online; return what it holds."""
    if not source.is_file():
        raise Invalid(f"database {source} does not exist")
    if target.exists():
        raise Invalid(f"{target} already exists; choose a new file name")
    if not target.parent.is_dir():
        raise Invalid(f"{target.parent}: no such directory")
    partial = target.with_name(target.name + ".partial")
    create_private(partial)  # 0600, like the database: a backup holds the same members
    src = sqlite3.connect(source)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
            # One self-contained file: no -wal beside it to forget when copying it away.
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    snapshot = inspect(partial)
    partial.rename(target)  # only a checked backup gets the name asked for
    return Snapshot(target, snapshot.schema_version, snapshot.members, snapshot.ledger_rows,
                    snapshot.bytes)  # fmt: skip


def restore(backup_file: Path, target: Path) -> Snapshot:
    """Replace the database `target` by the checked `backup_file`; return what it holds now.

    The service must be stopped: a running one would keep serving from what it had cached.
    """
    inspect(backup_file)  # refused before anything is touched when unusable
    if not target.parent.is_dir():
        raise Invalid(f"{target.parent}: no such directory")
    create_private(target)  # when there was none: 0600 (an existing one keeps its mode)
    src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=PAGES_PER_STEP)
        finally:
            dst.close()
    finally:
        src.close()
    return inspect(target)
