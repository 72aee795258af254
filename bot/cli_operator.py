"""Operator commands: goodwill coupons, unlinking and support bans, open tickets, broadcasts.

Same rules as the rest of the CLI (`bot.cli`): exit 0 on success, 1 for a refused request
(one `error:` line), 2 for a wrong command line.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import sys
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bot.config import Config
from bot.store import open_store
from handlers.formatting import moment, money
from storage import backup as backups
from storage import broadcasts, coupons, links, members, repair, ticket_list, tickets
from storage import check as consistency
from storage.errors import Invalid, NotFound, Refused
from storage.store import Store

EXIT_OK = 0
CLI_ACTOR_ID = 0  # support_bans.banned_by for a ban from the command line (no Telegram user)


def cents(value: str) -> int:
    """Turn "5", "5.00" or "10.5" (the programme's currency) into integer cents, exactly."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise Invalid(f"not an amount of money: {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise Invalid(f"not an amount of money: {value!r}")
    return int(amount * 100)


async def _telegram_user(store: Store, member_id: str) -> int:
    await members.view(store, member_id)  # NotFound for an unknown member
    user = await links.telegram_user_for(store, member_id)
    if user is None:
        raise NotFound(f"member {member_id!r} has not linked Telegram")
    return user


async def member_coupon(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Give a member a goodwill coupon (a repeat of --key gives the same coupon)."""
    value = cents(args.value)
    key = args.key or secrets.token_hex(8)
    async with open_store(config) as store:
        coupon = await coupons.issue_goodwill(
            store, args.member_id, value, reason=args.reason, actor=args.actor, key=key
        )
    program = config.program
    until = moment(coupon.expires_at, program.timezone, "en")
    shown = money(coupon.value_cents, program.currency, "en")
    out.print(f"{args.member_id}: {shown} coupon {coupon.code}, valid until {until} (key {key})",
              highlight=False)  # fmt: skip
    return EXIT_OK


async def member_unlink(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Disconnect a member's Telegram (the member can link again from the shop)."""
    async with open_store(config) as store:
        user = await _telegram_user(store, args.member_id)
        await links.unlink(store, user)
    out.print(f"{args.member_id}: Telegram {user} unlinked", highlight=False)
    return EXIT_OK


async def member_ban(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Stop support relaying a member's messages (their bot keeps working)."""
    async with open_store(config) as store:
        user = await _telegram_user(store, args.member_id)
        new = await tickets.ban(store, user, by=CLI_ACTOR_ID, reason=args.reason)
    said = "banned from support" if new else "was already banned from support"
    out.print(f"{args.member_id}: {said}", highlight=False)
    return EXIT_OK


async def member_unban(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Let support relay a banned member's messages again."""
    async with open_store(config) as store:
        user = await _telegram_user(store, args.member_id)
        lifted = await tickets.unban(store, user)
    said = "may write to support again" if lifted else "was not banned"
    out.print(f"{args.member_id}: {said}", highlight=False)
    return EXIT_OK


async def tickets_list(config: Config, args: argparse.Namespace, out: Console) -> int:
    """List the open support tickets, oldest first."""
    zone = config.program.timezone
    async with open_store(config) as store:
        found = await ticket_list.open_tickets(store, limit=args.limit)
    if not found:
        out.print("no open tickets", highlight=False)
        return EXIT_OK
    table = Table(title=f"Open tickets ({len(found)})")
    for column in ("#", "member", "name", "about", "opened", "answered", "messages"):
        table.add_column(column)
    for t in found:
        answered = (
            moment(t.first_answer_at, zone, "en")
            if t.first_answer_at
            else ("no (past the SLA)" if t.sla_flagged else "no")
        )
        table.add_row(str(t.id), t.member_id or "(not linked)", t.display_name,
                      t.subject or "-", moment(t.opened_at, zone, "en"), answered,
                      str(t.messages))  # fmt: skip
    out.print(table)
    return EXIT_OK


async def broadcast(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Queue a message to every member it reaches (or, with --dry-run, only count them)."""
    text = broadcasts.check_text(args.text)
    # The default id is the text's: the same command run twice queues nobody twice.
    broadcast_id = args.id or hashlib.sha256(text.encode()).hexdigest()[:12]
    async with open_store(config) as store:
        reach = await broadcasts.audience(store)
        if args.dry_run:
            out.print(
                f"would send to {reach.reachable} of {reach.linked} linked members"
                f" ({reach.opted_out} turned account news off or paused, {reach.blocked} blocked"
                f" the bot); nothing was queued",
                highlight=False,
            )
            return EXIT_OK
        queued = await broadcasts.queue(store, broadcast_id, text)
    rate = config.reminders.rate_per_second
    minutes = -(-queued // (rate * 60)) if queued else 0
    out.print(
        f"broadcast {broadcast_id}: queued {queued} of {reach.reachable} reachable members"
        f" ({reach.reachable - queued} had it already); the running service sends about"
        f" {rate} a second (~{minutes} min), outside each member's quiet hours",
        highlight=False,
    )
    return EXIT_OK


def _said(snapshot: backups.Snapshot) -> str:
    return (
        f"schema version {snapshot.schema_version}, {snapshot.members} members,"
        f" {snapshot.ledger_rows} ledger rows, {snapshot.bytes:,} bytes"
    )


async def db_backup(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Copy the database to a new file while the service runs (SQLite's online backup)."""
    source = Path(config.storage.path)
    made = await asyncio.to_thread(backups.backup, source, args.target)
    out.print(f"{made.path}: backup of {source}, checked: {_said(made)}", highlight=False)
    return EXIT_OK


async def db_restore(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Replace the database with a backup (the current one is kept beside it first)."""
    target = Path(config.storage.path)
    found = await asyncio.to_thread(backups.inspect, args.backup)
    if not args.yes:
        raise Refused(
            f"this replaces {target} with {args.backup} ({_said(found)}); stop the service,"
            " then run again with --yes"
        )
    if target.exists():  # noqa: ASYNC240 (one stat before the copy)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = target.with_name(f"{target.name}.before-restore-{stamp}")
        await asyncio.to_thread(backups.backup, target, kept)
        out.print(f"the database it replaces is kept as {kept}", highlight=False)
    restored = await asyncio.to_thread(backups.restore, args.backup, target)
    out.print(f"{target}: restored from {args.backup}: {_said(restored)}", highlight=False)
    latest = backups.migrations()[-1][0]
    if restored.schema_version < latest:
        out.print("older schema: run `loyaltybot db migrate`, then `loyaltybot db check`",
                  highlight=False)  # fmt: skip
    return EXIT_OK


async def db_repair(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Show (or, with --yes, correct) cached balances that differ from the ledger."""
    async with open_store(config) as store:
        fixes = await repair.repair(store, apply=args.yes)
        left = await consistency.check(store) if args.yes else []
    verb = "set" if args.yes else "would set"
    for f in fixes:
        out.print(f"{f.member_id}: {f.column} {f.stored} -> {f.ledger} ({verb})", highlight=False)
    if not fixes:
        out.print("every cached balance equals the ledger", highlight=False)
    elif not args.yes:
        out.print(f"{len(fixes)} to correct: back up first, stop the service, then --yes",
                  highlight=False)  # fmt: skip
    if left:
        for problem in left:
            print(f"error: {problem} (the ledger itself: a person must look)", file=sys.stderr)
        return 1
    return EXIT_OK
