"""The PostgreSQL half of the tests: where the server is, and a fresh schema per store.

The server: `LOYALTYBOT_TEST_POSTGRES` (a DSN), by default the local one with trust
authentication. Without it the PostgreSQL tests skip and say how to enable them; with
`LOYALTYBOT_REQUIRE_POSTGRES=1` (`.ci/run` sets it) they fail instead.
"""

from __future__ import annotations

import itertools
import os

import psycopg
import pytest

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
DSN_ENV = "LOYALTYBOT_TEST_POSTGRES"
REQUIRE_ENV = "LOYALTYBOT_REQUIRE_POSTGRES"
# Schemas are named after the test process: what a killed run left behind is dropped by the
# next run (its process is gone), never a schema of a run going on next to it.
PREFIX = "lbt_"
_checked: list[str | None] = []


def postgres_dsn() -> str | None:
    """Return the test server's DSN if it answers (asked once per process), else None."""
    if not _checked:
        dsn = os.environ.get(DSN_ENV, DEFAULT_DSN)
        try:
            with psycopg.connect(dsn, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _checked.append(dsn)
        except psycopg.Error:
            _checked.append(None)
    return _checked[0]


def postgres_or_skip() -> str:
    """Return the DSN; skip the test (fail it when PostgreSQL is required) when none answers."""
    dsn = postgres_dsn()
    if dsn is not None:
        return dsn
    message = (
        f"PostgreSQL is not reachable at {os.environ.get(DSN_ENV, DEFAULT_DSN)}; to run the "
        "PostgreSQL half start the server (pg_ctlcluster 15 main start) or set "
        f"{DSN_ENV} to a DSN"
    )
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1 requires it)", pytrace=False)
    pytest.skip(message)


class PostgresSchemas:
    """Hands out empty schemas on one server, each a store of its own, and takes them back.

    A schema given back is emptied and handed out again, already migrated: creating and
    migrating one costs ~20 DDL statements, emptying it one round trip.
    """

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn = psycopg.connect(dsn, autocommit=True)
        self._names = itertools.count(1)
        self._free: list[str] = []
        self._all: list[str] = []
        self._drop_abandoned()

    def new(self) -> str:
        """Return the name of an empty schema (PostgresDatabase.open creates a new one)."""
        if self._free:
            return self._free.pop()
        name = f"{PREFIX}{os.getpid()}_{next(self._names)}"
        self._all.append(name)
        return name

    def create(self) -> str:
        """Return a new schema that exists (for a store opened by DSN alone, as the CLI does)."""
        schema = self.new()
        self._conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        return schema

    def dsn_for(self, schema: str) -> str:
        """Return the server's DSN with `schema` as the search path."""
        return psycopg.conninfo.make_conninfo(self.dsn, options=f"-c search_path={schema}")

    def give_back(self, schema: str) -> None:
        """Empty `schema` (every table but the migrations') for the next store."""
        tables = [
            f'"{schema}"."{name}"'
            for (name,) in self._conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s"
                " AND tablename != 'schema_migrations'",
                (schema,),
            )
        ]
        # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE gives each of ~40
        # tables and their indexes new files (100 ms a test, a minute of the suite); the
        # replica role skips the foreign keys' triggers, so the order does not matter.
        try:
            with self._conn.transaction():
                self._conn.execute("SET LOCAL session_replication_role = replica")
                self._conn.execute("SET LOCAL synchronous_commit = off")
                if tables:
                    self._conn.execute("; ".join(f"DELETE FROM {table}" for table in tables))
                self._conn.execute(
                    "SELECT setval(format('%%I.%%I', schemaname, sequencename)::regclass, 1,"
                    " false) FROM pg_sequences WHERE schemaname = %s",
                    (schema,),
                )
        except psycopg.errors.InsufficientPrivilege:  # not a superuser: the slow way
            if tables:
                self._conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
        self._free.append(schema)

    def drop(self, schema: str) -> None:
        """Drop `schema` and everything in it."""
        self._conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    def close(self) -> None:
        """Drop every schema handed out, close the admin connection."""
        for schema in self._all:
            self.drop(schema)
        self._conn.close()

    def _drop_abandoned(self) -> None:
        rows = self._conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (PREFIX + "%",)
        ).fetchall()
        for (name,) in rows:
            pid = name[len(PREFIX) :].split("_")[0]
            if pid.isdigit() and not _alive(int(pid)):
                self.drop(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
