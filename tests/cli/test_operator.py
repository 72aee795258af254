"""Operator commands: goodwill coupon, unlink, support ban, open tickets, broadcast."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from bot.config import load_config
from bot.store import open_store
from storage import links, telegram_users, tickets
from tests.cli.conftest import write_events
from tests.cli.test_bad_input import one_error_line

DAY = "2026-11-20T10:00:00+00:00"


def ev(event_id: str, type_: str, **data: object) -> dict:
    return {"id": event_id, "type": type_, "occurred_at": DAY, "data": data}


def prepare(cli, config_path: Path, tmp_path: Path) -> None:
    """Three members: m-1 and m-2 linked (m-2 with an open ticket), m-3 not linked."""
    cli("db", "migrate")
    events = [ev(f"e{i}", "member.upserted", member_id=f"m-{i}", name=f"N{i}") for i in (1, 2, 3)]
    assert cli("events", "import", str(write_events(tmp_path / "e.jsonl", events))).code == 0

    async def link() -> None:
        async with open_store(load_config(config_path)) as store:
            for member_id, user in (("m-1", 501), ("m-2", 502)):
                token = await links.create_token(store, member_id)
                await links.consume_token(store, token.token, user)
                await telegram_users.seen(store, user, "en")
            await tickets.open_or_get(store, 502, display_name="N2", member_id="m-2")

    asyncio.run(link())


def test_goodwill_coupon_once_per_key(cli, config_path: Path, tmp_path: Path) -> None:
    prepare(cli, config_path, tmp_path)
    given = cli("member", "coupon", "m-1", "5", "--reason", "late parcel", "--key", "k-1")
    assert given.code == 0 and "m-1: $5.00 coupon " in given.out and "(key k-1)" in given.out
    again = cli("member", "coupon", "m-1", "5.00", "--reason", "late parcel", "--key", "k-1")
    assert again.out.split("coupon ")[1][:14] == given.out.split("coupon ")[1][:14]
    assert "no coupon worth 700 cents" in one_error_line(
        cli("member", "coupon", "m-1", "7", "--reason", "x")
    )
    for bad in ("five", "-5", "5.001", "nan"):
        line = one_error_line(cli("member", "coupon", "m-1", bad, "--reason", "x"))
        assert line == f"error: not an amount of money: {bad!r}"
    assert "unknown member" in one_error_line(cli("member", "coupon", "x", "5", "--reason", "r"))
    shown = cli("member", "show", "m-1").out
    assert shown.count("goodwill") >= 1 and "late parcel" in shown


def test_unlink_and_support_ban(cli, config_path: Path, tmp_path: Path) -> None:
    prepare(cli, config_path, tmp_path)
    assert cli("member", "ban", "m-2", "--reason", "abuse").out.strip() == (
        "m-2: banned from support"
    )
    assert "already banned" in cli("member", "ban", "m-2").out
    with sqlite3.connect(tmp_path / "loyalty.db") as db:
        assert db.execute("SELECT telegram_user_id, reason FROM support_bans").fetchall() == [
            (502, "abuse")
        ]
    assert "may write to support again" in cli("member", "unban", "m-2").out
    assert "was not banned" in cli("member", "unban", "m-2").out
    assert cli("member", "unlink", "m-1").out.strip() == "m-1: Telegram 501 unlinked"
    assert one_error_line(cli("member", "unlink", "m-1")) == (
        "error: member 'm-1' has not linked Telegram"
    )
    assert "has not linked Telegram" in one_error_line(cli("member", "ban", "m-3"))
    assert "unknown member 'nobody'" in one_error_line(cli("member", "unlink", "nobody"))


def test_open_tickets_listed(cli, config_path: Path, tmp_path: Path) -> None:
    prepare(cli, config_path, tmp_path)
    listed = cli("tickets", "list")
    assert listed.code == 0
    assert "Open tickets (1)" in listed.out
    row = next(line for line in listed.out.splitlines() if "m-2" in line)
    assert "N2" in row and "│ no " in row


def test_broadcast_dry_run_counts_then_queues_once(cli, config_path: Path, tmp_path: Path) -> None:
    prepare(cli, config_path, tmp_path)
    dry = cli("broadcast", "Sale today", "--dry-run")
    assert dry.code == 0
    assert dry.out.strip() == (
        "would send to 2 of 2 linked members (0 turned account news off or paused, 0 blocked"
        " the bot); nothing was queued"
    )
    with sqlite3.connect(tmp_path / "loyalty.db") as db:
        assert db.execute("SELECT COUNT(*) FROM outbox WHERE kind = 'broadcast'").fetchone() == (0,)
    sent = cli("broadcast", "Sale today")
    assert "queued 2 of 2 reachable members (0 had it already)" in sent.out
    assert "about 30 a second" in sent.out
    again = cli("broadcast", "Sale today")
    assert "queued 0 of 2 reachable members (2 had it already)" in again.out
    assert "a broadcast needs a text" in one_error_line(cli("broadcast", "  "))
    assert "at most 3500 characters" in one_error_line(cli("broadcast", "x" * 3_501))
