"""Every CLI command fed what a user can get wrong: one error line, the right exit code, no
traceback, nothing changed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import run_child, write_config

DAY = "2026-11-20T10:00:00+00:00"


def test_events_import_rejects_a_line_that_is_not_utf8_and_applies_the_rest(
    cli, tmp_path: Path
) -> None:
    cli("db", "migrate")
    good = {"id": "e1", "type": "member.upserted", "occurred_at": DAY, "data": {"member_id": "m-1"}}
    other = dict(good, id="e2", data={"member_id": "m-2", "name": "Renée"})
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        json.dumps(good).encode()
        + b"\n"
        + json.dumps(other, ensure_ascii=False).encode("latin-1")
        + b"\n"
    )
    result = cli("events", "import", str(path))
    assert result.code == 1
    assert "processed 1, duplicate 0, rejected 1" in result.out
    assert result.err.strip() == "line 2: not UTF-8 text (byte 126)"
    assert cli("member", "show", "m-1").code == 0
    assert cli("member", "show", "m-2").code == 1


def test_events_import_from_stdin_that_is_not_utf8(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_child("db", "migrate", "-c", str(config)).returncode == 0
    child = run_child("events", "import", "-", "-c", str(config), input_bytes=b"\xff\xfe{}\n")
    assert child.returncode == 1
    assert "Traceback" not in child.stderr
    assert "line 1: not UTF-8 text (byte 1)" in child.stderr
