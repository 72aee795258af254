"""The db commands on `[storage] backend = "postgresql"`: migrate, check, and copy both ways."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from storage.postgres import migrations as pg_migrations
from tests.cli.conftest import Result, write_events
from tests.cli.test_commands import ev
from tests.postgres_kit import PostgresSchemas

DSN_ENV = "LBT_TEST_DSN"


def pg_config(directory: Path, dsn_env: str = DSN_ENV) -> Path:
    path = directory / "pg.toml"
    path.write_text(
        f'[storage]\nbackend = "postgresql"\ndsn_env = "{dsn_env}"\npool_size = 2\n'
        '[telegram]\nbot_username = "loyalty_test_bot"\n[program]\npreset = "marketplace"\n'
    )
    return path


@pytest.fixture
def pg(
    postgres_schemas: PostgresSchemas, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A config for an empty PostgreSQL schema, its DSN in the environment."""
    schema = postgres_schemas.create()
    monkeypatch.setenv(DSN_ENV, postgres_schemas.dsn_for(schema))
    (tmp_path / "pg").mkdir()
    yield pg_config(tmp_path / "pg")
    postgres_schemas.give_back(schema)


def test_migrate_and_check_on_postgresql(cli: Callable[..., Result], pg: Path) -> None:
    latest = pg_migrations()[-1][0]
    first = cli("db", "migrate", "-c", str(pg))
    assert first.code == 0, first.err
    assert f"PostgreSQL (${DSN_ENV}): schema version {latest} (latest {latest})" in first.out
    assert cli("db", "migrate", "-c", str(pg)).code == 0  # again: nothing to do
    checked = cli("db", "check", "-c", str(pg))
    assert checked.code == 0 and "consistent" in checked.out


def test_copy_sqlite_to_postgresql_and_back(
    cli: Callable[..., Result], pg: Path, tmp_path: Path
) -> None:
    cli("db", "migrate")
    events = [ev("e1", "member.upserted", member_id="m-1"),
              ev("e2", "order.placed", order_id="o-1", member_id="m-1", amount_cents=12_000),
              ev("e3", "order.delivered", order_id="o-1"),
              ev("e4", "member.upserted", member_id="m-2")]  # fmt: skip
    assert cli("events", "import", str(write_events(tmp_path / "e.jsonl", events))).code == 0
    copied = cli("db", "copy", "--to", str(pg))
    assert copied.code == 0, copied.err
    assert "members' balances, levels, coupons and ledgers are equal" in copied.out
    assert "2 members" in copied.out
    assert cli("db", "check", "-c", str(pg)).code == 0
    assert cli("db", "check").code == 0
    shown = cli("member", "show", "m-1", "-c", str(pg))
    assert shown.code == 0 and "120" in shown.out
    # Once more into the same store: refused, it is no longer empty.
    again = cli("db", "copy", "--to", str(pg))
    assert again.code == 1 and "copy only into an empty store" in again.err
    # And back, into a new SQLite file.
    (tmp_path / "back").mkdir()
    back = tmp_path / "back" / "config.toml"
    back.write_text(
        f'[storage]\npath = "{tmp_path / "back" / "loyalty.db"}"\n'
        '[telegram]\nbot_username = "loyalty_test_bot"\n[program]\npreset = "marketplace"\n'
    )
    returned = cli("db", "copy", "--to", str(back), "-c", str(pg))
    assert returned.code == 0, returned.err
    assert cli("db", "check", "-c", str(back)).code == 0


def test_an_unset_dsn_variable_is_named(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("db", "migrate", "-c", str(pg_config(tmp_path, "LBT_UNSET_DSN")))
    assert result.code == 1
    assert "environment variable LBT_UNSET_DSN is not set (named by storage.dsn_env)" in result.err


def test_an_unreachable_server_fails_plainly_without_the_password(
    cli: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 1.
    monkeypatch.setenv(DSN_ENV, "postgresql://shop:s3cret-pw@127.0.0.1:1/shop")
    result = cli("db", "check", "-c", str(pg_config(tmp_path)))
    assert result.code == 1
    assert "cannot connect to PostgreSQL" in result.err
    assert "s3cret-pw" not in result.err + result.out
