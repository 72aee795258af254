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
    assert result.err.strip() == "line 2: malformed JSON (not UTF-8)"
    assert cli("member", "show", "m-1").code == 0
    assert cli("member", "show", "m-2").code == 1


def test_events_import_from_stdin_that_is_not_utf8(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    assert run_child("db", "migrate", "-c", str(config)).returncode == 0
    child = run_child("events", "import", "-", "-c", str(config), input_bytes=b"\xff\xfe{}\n")
    assert child.returncode == 1
    assert "Traceback" not in child.stderr
    assert "line 1: malformed JSON (not UTF-8)" in child.stderr


def one_error_line(result, code: int = 1) -> str:
    """Assert the command failed with `code` and exactly one `error:` line; return it."""
    assert result.code == code, (result.out, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    return lines[0]


def test_every_command_refuses_what_a_user_can_get_wrong(cli, tmp_path: Path, monkeypatch) -> None:
    for name in ("BOT_TOKEN", "SHOP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    # before the database exists
    assert "run `loyaltybot db migrate` first" in one_error_line(cli("db", "check"))
    assert "db migrate" in one_error_line(cli("member", "show", "m-1"))
    for args in (
        ("tickets", "list"),
        ("broadcast", "hi", "--dry-run"),
        ("db", "repair"),
        ("member", "unlink", "m-1"),
        ("member", "coupon", "m-1", "5", "--reason", "r"),
    ):
        assert "db migrate" in one_error_line(cli(*args)), args  # fmt: skip
    assert "does not exist" in one_error_line(cli("db", "backup", str(tmp_path / "b.db")))
    assert cli("db", "migrate").code == 0
    # unset secrets
    assert "SHOP_API_KEY is not set" in one_error_line(cli("run"))
    # unknown ids
    assert one_error_line(cli("member", "show", "nobody")) == "error: unknown member 'nobody'"
    assert "unknown member" in one_error_line(
        cli("member", "grant", "nobody", "5", "--reason", "x")
    )
    assert "unknown member" in one_error_line(cli("member", "link-url", "nobody"))
    # wrong values
    assert "between" in one_error_line(cli("member", "grant", "m", "10" * 10, "--reason", "x"))
    assert "reason" in one_error_line(cli("member", "grant", "m", "5", "--reason", " "))
    # missing files, a directory for a file
    assert "No such file" in one_error_line(cli("events", "import", str(tmp_path / "none.jsonl")))
    assert "Is a directory" in one_error_line(cli("events", "import", str(tmp_path)))
    for command in ("demo", "sandbox"):
        assert "directory does not exist" in one_error_line(
            cli(command, "--db", str(tmp_path / "no" / "demo.db"))
        )
    assert "no such file" in one_error_line(cli("db", "restore", str(tmp_path / "x.db")))
    assert "not a file" in one_error_line(cli("db", "restore", str(tmp_path)))
    assert "a broadcast needs a text" in one_error_line(cli("broadcast", ""))
    assert "not an amount of money" in one_error_line(
        cli("member", "coupon", "m", "5,00", "--reason", "r")
    )
    # nothing changed by any of it
    assert cli("db", "check").code == 0


def test_bad_files_and_bytes_from_the_shell(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[program]\npreset = "marketplace"\nname = "Caf\xe9"\n')
    typed = tmp_path / "typed.toml"
    typed.write_text('[server]\nport = "8080"\n[program]\npreset = "marketplace"\n')
    nowhere = tmp_path / "nowhere.toml"
    nowhere.write_text(f'[storage]\npath = "{tmp_path}/no/such/dir/x.db"\n')
    not_a_db = tmp_path / "text.db"
    not_a_db.write_text("these are not the pages of a database\n" * 200)
    text_db = tmp_path / "textdb.toml"
    text_db.write_text(f'[storage]\npath = "{not_a_db}"\n')
    cases = [
        (("config", "check", "-c", str(latin)), 1, "cannot be read ('utf-8' codec"),
        (("config", "check", "-c", str(typed)), 1, "server.port: must be an integer"),
        (("db", "migrate", "-c", str(nowhere)), 1, "unable to open database file"),
        (("db", "migrate", "-c", str(text_db)), 1, "file is not a database"),
        (("config", "check", "-c", str(tmp_path)), 1, "cannot be read"),
        (("member", "show", "\udcff", "-c", str(typed)), 2, "not valid UTF-8 text"),
        (("member", "grant", "m-1", "ten", "--reason", "x"), 2, "invalid int value: 'ten'"),
    ]
    for args, code, expected in cases:
        child = run_child(*args, env=None)
        assert child.returncode == code, (args, child.stderr)
        assert expected in child.stderr, (args, child.stderr)
        assert "Traceback" not in child.stderr, (args, child.stderr)
