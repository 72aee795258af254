"""Several `loyaltybot run` processes on one store, Telegram played by the emulator over HTTP:
two web workers and a scheduler behind nginx (deploy/nginx.conf with a second upstream, as
docs/scaling.md deploys it), and two schedulers handing the lead over when one is killed.
Each runs on both backends: a SQLite file, and a PostgreSQL schema of its own.

Real processes and real time: what is awaited is another process (a webhook answered, a lease
taken over), polled with a deadline; the lease is 2 s here (20 s by default)."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from loyalty.loader import load_program
from storage import outbox
from storage.db import Conn, Database, to_db
from storage.postgres import PostgresDatabase
from storage.store import Store
from telegram_emulator import Person, TelegramEmulator, serve
from tests.api.test_proxy import NGINX, nginx
from tests.e2e.test_service_end_to_end import event
from tests.postgres_kit import PostgresSchemas
from tests.run_kit import API_KEY, Service, child_env, free_port

SECRET = "s3cr3t"
LEASE = 2  # seconds: the scheduler lease in these tests
DEADLINE = 30.0  # the most any wait here may take (a handover must be well inside it)


@pytest.fixture
async def emu() -> AsyncIterator[TelegramEmulator]:
    emulator = TelegramEmulator(bot_username="shop_loyalty_bot")
    yield emulator
    await emulator.aclose()


DSN_ENV = "LBT_SCALING_DSN"


class Shared:
    """The deployment's one database: a SQLite file or a PostgreSQL schema, as seen from outside."""

    def __init__(self, tmp_path: Path, dsn: str | None = None) -> None:
        self.path, self.dsn = tmp_path / "loyalty.db", dsn

    @property
    def storage(self) -> str:
        """The processes' `[storage]` table."""
        if self.dsn is None:
            return f'[storage]\npath = "{self.path}"\n'
        return f'[storage]\nbackend = "postgresql"\ndsn_env = "{DSN_ENV}"\npool_size = 4\n'

    def env(self, **extra: str) -> dict[str, str]:
        """The processes' environment: `extra` and, on PostgreSQL, the DSN."""
        return child_env(**extra, **({} if self.dsn is None else {DSN_ENV: self.dsn}))

    async def migrate(self) -> None:
        """Create the tables before the processes start (they would race to)."""
        db = await (
            Database.open(self.path) if self.dsn is None else PostgresDatabase.open(self.dsn)
        )
        await db.close()

    async def open_store(self) -> Store:
        """Open the store in this test's process (to seed it)."""
        program = load_program({"preset": "marketplace"})
        if self.dsn is None:
            return await Store.open(self.path, program)
        return await Store.open_postgres(self.dsn, program, pool_size=1)

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the shared database as a third party would (its own connection)."""
        if self.dsn is None:
            with sqlite3.connect(self.path) as conn:
                return conn.execute(sql).fetchall()
        with psycopg.connect(self.dsn) as pg:
            return pg.execute(sql).fetchall()


@pytest.fixture(params=["sqlite", "postgresql"])
def shared(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shared]:
    if request.param == "sqlite":
        yield Shared(tmp_path)
        return
    schemas: PostgresSchemas = request.getfixturevalue("postgres_schemas")  # skips without one
    schema = schemas.create()
    yield Shared(tmp_path, schemas.dsn_for(schema))
    schemas.give_back(schema)


def write_config(path: Path, db: Shared, base_url: str, *, port: int = 0, extra: str = "") -> Path:
    """A config for one process of the deployment: its own port, the shared database."""
    path.write_text(
        db.storage + f'[telegram]\nbase_url = "{base_url}"\nbot_username = "shop_loyalty_bot"\n'
        f"{extra}\n"
        f"[server]\nport = {port}\n"
        # No quiet hours, reminders only from the outbox, drained every second.
        '[reminders]\nenabled = false\nquiet_start = "00:00"\nquiet_end = "00:00"\n'
        "interval_seconds = 1\n"
        f"[scaling]\nlease_seconds = {LEASE}\nheartbeat_seconds = 1\nweb_workers = 2\n"
    )
    return path


async def until(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:  # noqa: ASYNC109
    """Poll `check` (another process's doing) until it returns something true."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)
    return result


def clean(db: Shared, *services: Service) -> None:
    """No process failed or logged the DSN (a secret); the web workers ran on `db`'s backend."""
    for service in services:
        assert "Traceback" not in service.log, service.log
        assert "level=ERROR" not in service.log, service.log
        if db.dsn is not None:
            assert "postgresql://" not in service.log and "search_path" not in service.log
            if "msg=listening" in service.log:  # a web worker names its database there
                assert f"PostgreSQL (${DSN_ENV})" in service.log


async def take_two_taps(emu: TelegramEmulator, person: Person, label: str) -> list[dict[str, Any]]:
    """Press `label` twice, keeping both updates from the webhook: the test delivers them."""
    await emu.webhook_sender.stop()
    url, emu.webhook.url = emu.webhook.url, ""  # queue the updates instead of posting them
    try:
        for _ in range(2):
            assert await person.press(label, timeout=0) is None  # not answered yet
        taps = list(emu.updates.pending)
        emu.updates.drop_all()
    finally:
        emu.webhook.url = url
        emu.webhook_sender.start()
    return taps


async def test_two_web_workers_and_a_scheduler_behind_nginx_spend_a_double_tap_once(
    tmp_path: Path, emu: TelegramEmulator, shared: Shared
) -> None:
    if NGINX is None:
        pytest.skip("nginx is not on PATH; to run this test: apt-get install nginx")
    front, ports = free_port(), (free_port(), free_port())
    db = shared
    await db.migrate()
    webhook = f'mode = "webhook"\nwebhook_url = "http://127.0.0.1:{front}/telegram/webhook"'
    env = db.env(SHOP_API_KEY=API_KEY, BOT_TOKEN=emu.token, WEBHOOK_SECRET=SECRET)
    (tmp_path / "nginx").mkdir()
    async with serve(emu) as base_url:
        web = [
            write_config(tmp_path / f"web{i}.toml", db, base_url, port=port, extra=webhook)
            for i, port in enumerate(ports)
        ]
        tasks = write_config(tmp_path / "scheduler.toml", db, base_url, extra=webhook)
        with nginx(tmp_path / "nginx", front, *ports):
            async with (
                Service(web[0], env, "--role", "web") as one,
                Service(web[1], env, "--role", "web") as two,
                Service(tasks, env, "--role", "scheduler") as scheduler,
            ):
                assert (await one.port(), await two.port()) == ports
                await scheduler.wait_for("event=scheduler_leading")
                headers = {"Authorization": f"Bearer {API_KEY}"}
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{front}", headers=headers
                ) as shop:
                    ann = emu.user(1001, "Ann", language_code="en")
                    await event(shop, "e-1", "member.upserted", member_id="m-1", name="Ann")
                    token = (await shop.post("/api/v1/members/m-1/link-token")).json()
                    await ann.send(f"/start {token['token']}")
                    assert "is connected" in (await ann.wait_reply()).text
                    await event(shop, "e-2", "order.placed", order_id="o-1", member_id="m-1",
                                amount_cents=61_050)  # fmt: skip
                    await event(shop, "e-3", "order.delivered", order_id="o-1")
                    # The points notice is the scheduler's to send, not a web worker's.
                    sent = "SELECT status FROM outbox WHERE kind = 'order_points'"
                    await until(lambda: db.query(sent) == [("sent",)], "the points notice")
                    await ann.send("/coupons")
                    await ann.wait_reply()
                    await ann.press("$5.00 · 500 points")
                    assert "Exchange 500 points" in (await ann.wait_reply()).text
                    answered = len(emu.calls_to("answerCallbackQuery"))
                    taps = await take_two_taps(emu, ann, "✅ Confirm")
                    # Telegram delivers the two taps at once, each to another worker.
                    async with httpx.AsyncClient() as telegram:
                        answers = await asyncio.gather(*(
                            telegram.post(
                                f"http://127.0.0.1:{port}/telegram/webhook", json=tap,
                                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                            )
                            for port, tap in zip(ports, taps, strict=True)
                        ))  # fmt: skip
                    assert [a.status_code for a in answers] == [200, 200]
                    await until(
                        lambda: len(emu.calls_to("answerCallbackQuery")) >= answered + 2,
                        "both taps answered",
                    )
                    shown = (await shop.get("/api/v1/members/m-1")).json()
                    assert shown["points"] == 115  # 615 less one coupon's 500
                    assert len(shown["coupons"]) == 1
                for service in (one, two, scheduler):
                    assert await service.stop() == 0
    clean(db, one, two, scheduler)
    assert "outbox_drained" not in one.log + two.log  # web workers send no fan-out
    assert "event=scheduler_lost_lead" not in scheduler.log


MEMBERS = 90


async def seed_fan_out(db: Shared) -> None:
    """Members linked to Telegram users, each with one points notice due now."""
    store = await db.open_store()
    now = datetime.now(UTC)
    stamp = to_db(now)

    def insert(conn: Conn) -> None:
        for i in range(MEMBERS):
            conn.execute(
                "INSERT INTO members (member_id, level_code, created_at, updated_at)"
                " VALUES (?, 'A0', ?, ?)",
                (f"m-{i}", stamp, stamp),
            )
            conn.execute(
                "INSERT INTO telegram_users (telegram_user_id, telegram_language, first_seen,"
                " updated_at) VALUES (?, 'en', ?, ?)",
                (5_000 + i, stamp, stamp),
            )
            conn.execute(
                "INSERT INTO telegram_links (member_id, telegram_user_id, linked_at)"
                " VALUES (?, ?, ?)",
                (f"m-{i}", 5_000 + i, stamp),
            )
            outbox.notify(conn, f"m-{i}", "order_points", f"order_points:o-{i}",
                          {"order_id": f"o-{i}", "points": 10}, now)  # fmt: skip

    try:
        await store.db.write(insert)
    finally:
        await store.close()


async def test_killing_the_leading_scheduler_mid_fan_out_hands_over_and_nobody_hears_twice(
    tmp_path: Path, emu: TelegramEmulator, shared: Shared
) -> None:
    db = shared
    await db.migrate()
    await seed_fan_out(db)
    for i in range(MEMBERS):
        emu.user(5_000 + i, f"M{i}")
        emu.users[5_000 + i].started = True
    env = db.env(BOT_TOKEN=emu.token)

    def received() -> Counter[int]:
        return Counter(
            int(c.params["chat_id"]) for c in emu.calls_to("sendMessage") if c.status == 200
        )

    async with serve(emu) as base_url:
        config = write_config(tmp_path / "scheduler.toml", db, base_url)
        async with Service(config, env, "--role", "scheduler") as first:
            await first.wait_for("event=scheduler_leading")
            async with Service(config, env, "--role", "scheduler") as second:
                await second.wait_for("event=scheduler_running")
                # Mid-fan-out (20 a second: the leader's share of 30 beside the web workers').
                await until(lambda: sum(received().values()) >= MEMBERS // 3, "a third sent")
                assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
                killed = time.monotonic()
                await second.wait_for("event=scheduler_leading", timeout=DEADLINE)
                handover = time.monotonic() - killed
                pending = "SELECT COUNT(*) FROM outbox WHERE status = 'pending'"
                await until(lambda: db.query(pending) == [(0,)], "every notice settled")
                assert await second.stop() == 0
    clean(db, second)
    assert handover < LEASE + 1 + 2  # lease + heartbeat, and the processes' own pace
    got = received()
    assert max(got.values()) == 1  # nobody reminded twice
    outcomes = dict(db.query("SELECT COALESCE(outcome, status), COUNT(*) FROM outbox"
                             " GROUP BY 1"))  # fmt: skip
    uncertain = outcomes.get("uncertain", 0)
    # The notices in flight when the leader died are not sent again, and only those.
    assert outcomes.get("sent", 0) + uncertain == MEMBERS
    assert MEMBERS - uncertain <= len(got) <= MEMBERS
    # At most the marks written ahead (twice the sender's concurrency of 4) and those in flight.
    assert uncertain <= 12
