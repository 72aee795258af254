"""The work behind each `loyaltybot` command; `bot.cli` parses arguments and maps errors."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.api.body import BadJson, parse_json
from bot.config import Config, load_config, missing_secrets, secret
from bot.connectors.check import connectors_check as connectors_check
from bot.store import open_database, open_store
from bot.tables import program_tables, requirement_words
from handlers.formatting import moment, money, number
from handlers.services import deep_link
from loyalty.program import Currency
from storage import check as consistency
from storage import copy as copying
from storage import coupons, events, grants, ledger, links, members
from storage.db import latest_migration, loose_files
from storage.errors import OperationError, Refused

EXIT_OK, EXIT_FAILED = 0, 1
MAX_REJECTIONS_SHOWN = 20


async def run(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Run the service (in `--role`) until SIGINT/SIGTERM."""
    from bot.service import serve

    await serve(config, role=args.role)
    return EXIT_OK


def _in_a_directory(path: str) -> bool:
    return Path(path).resolve().parent.is_dir()


async def demo(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Run the offline demo in the terminal."""
    from bot.demo import run_demo

    if args.db and not _in_a_directory(args.db):
        raise Refused(f"--db {args.db}: its directory does not exist")
    return await run_demo(config, db_path=args.db)


async def sandbox(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Run the real service against a Telegram emulated on loopback, with the terminal chat."""
    from bot.sandbox import run_sandbox

    if args.db and not _in_a_directory(args.db):
        raise Refused(f"--db {args.db}: its directory does not exist")
    return await run_sandbox(config, db_path=args.db)


async def config_check(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Print the validated programme as tables, then any secret `run` would miss (exit 1)."""
    missing = missing_secrets(config)
    ready = "" if not missing else f", but {len(missing)} secret(s) missing to run it"
    out.print(f"[bold]{config.path}[/bold]: valid{ready}", highlight=False)
    for table in program_tables(config.program):
        out.print(table)
    for line in missing:
        print(f"error: {line}", file=sys.stderr)
    return EXIT_FAILED if missing else EXIT_OK


async def db_migrate(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Create the database or apply the migrations it lacks."""
    db = await open_database(config.storage, create=True)
    try:
        version = await db.schema_version()
    finally:
        await db.close()
    latest = latest_migration(config.storage.backend)
    where = config.storage.describe()
    out.print(f"{where}: schema version {version} (latest {latest})", highlight=False)
    return EXIT_OK


async def db_check(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Prove every cached balance equals its ledger sum and every coupon has its debit, and
    that no database file is readable beyond its owner."""
    async with open_store(config) as store:
        problems = await consistency.check(store)
        # While the store is open: the -wal and -shm files exist then, to be looked at too.
        if config.storage.backend == "sqlite":
            problems.extend(loose_files(config.storage.path))
    if problems:
        for problem in problems:
            print(problem, file=sys.stderr)
        print(f"{len(problems)} problem(s) found", file=sys.stderr)
        return EXIT_FAILED
    out.print(f"{config.storage.describe()}: consistent", highlight=False)
    return EXIT_OK


async def db_copy(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Copy this store into the (empty) store of another config, then compare the two."""
    other = load_config(args.to)
    source = await open_database(config.storage)
    try:
        target = await open_database(other.storage, create=True)
        try:
            planned = await copying.plan(source, target)
            progress = Progress(
                TextColumn("copying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
                disable=not sys.stderr.isatty(),
            )
            with progress:
                task = progress.add_task("rows", total=sum(rows for _, _, rows in planned))
                copied = await copying.copy(source, target, lambda n: progress.advance(task, n))
            comparison = await copying.compare(source, target)
        finally:
            await target.close()
    finally:
        await source.close()
    where, there = config.storage.describe(), other.storage.describe()
    if comparison.differences:
        for difference in comparison.differences:
            print(difference, file=sys.stderr)
        print(f"{where} -> {there}: the copy differs", file=sys.stderr)
        return EXIT_FAILED
    out.print(
        f"{where} -> {there}: copied {copied:,} rows; {comparison.members:,}"
        " members' balances, levels, coupons and ledgers are equal",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_OK


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    # Bytes, not text: each line is decoded on its own (parse_json), so one line that is not
    # UTF-8 is one rejected line, not the end of the import.
    handle: IO[bytes] = sys.stdin.buffer if str(path) == "-" else path.open("rb")
    with handle:
        for number_, line in enumerate(handle, start=1):
            if line.strip():
                yield number_, line


def _count_lines(path: Path) -> int | None:
    if str(path) == "-":
        return None
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


async def events_import(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Apply shop events from JSON lines with the API's validation and idempotency."""
    path: Path = args.file
    total = _count_lines(path)
    counts = {"processed": 0, "duplicate": 0, "rejected": 0}
    rejections: list[str] = []
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    async with open_store(config) as store:
        with progress:
            task = progress.add_task("events", total=total)
            for line_no, line in _lines(path):
                try:
                    body = parse_json(line)
                    answer = await events.apply_event(store, body)
                    counts[answer["status"]] += 1
                except BadJson as exc:
                    counts["rejected"] += 1
                    what = "duplicate key" if exc.duplicate else "malformed JSON"
                    rejections.append(f"line {line_no}: {what} ({exc.reason})")
                except OperationError as exc:
                    counts["rejected"] += 1
                    detail = "; ".join(getattr(exc, "details", [exc.message]))
                    rejections.append(f"line {line_no}: {detail}")
                progress.advance(task)
    for rejection in rejections[:MAX_REJECTIONS_SHOWN]:
        print(rejection, file=sys.stderr)
    if len(rejections) > MAX_REJECTIONS_SHOWN:
        print(f"... and {len(rejections) - MAX_REJECTIONS_SHOWN} more", file=sys.stderr)
    out.print(
        f"processed {counts['processed']}, duplicate {counts['duplicate']}, "
        f"rejected {counts['rejected']}",
        highlight=False,
    )
    return EXIT_FAILED if counts["rejected"] else EXIT_OK


async def member_show(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Print a member's balances, level, coupons and last ledger rows."""
    program = config.program
    async with open_store(config) as store:
        view = await members.view(store, args.member_id)
        owned = await coupons.of_member(store, args.member_id)
        page = await ledger.history(store, args.member_id, limit=10)
    zone, lang = program.timezone, "en"
    summary = Table(title=f"Member {view.member_id}", show_header=False)
    summary.add_row("points", f"{number(view.points, lang)} (held {view.points_held})")
    summary.add_row("coins", number(view.coins, lang))
    same = view.tier.name == view.tier.code
    summary.add_row("level", view.tier.name if same else f"{view.tier.name} ({view.tier.code})")
    if view.next is not None:
        needed = (
            f"{view.next.points_needed} points"
            if program.levels.basis == "points"
            else money(view.next.spend_needed_cents, program.currency, lang)
        )
        missing = ", ".join(requirement_words(r, program.currency) for r in view.next.missing)
        summary.add_row("next level", f"{view.next.tier.name}: {needed}" + (f"; needs {missing}"
                        if missing else ""))  # fmt: skip
    summary.add_row("e-mail verified", "yes" if view.email_verified else "no")
    summary.add_row("telegram", "linked" if view.telegram_linked else "not linked")
    summary.add_row("daily streak", str(view.coin_streak))
    out.print(summary)
    if owned:
        table = Table(title="Coupons")
        for column in ("code", "value", "paid with", "status", "expires"):
            table.add_column(column)
        for c in owned:
            table.add_row(c.code, money(c.value_cents, program.currency, lang), c.paid_with,
                          c.status, moment(c.expires_at, zone, lang))  # fmt: skip
        out.print(table)
    table = Table(title="Last ledger rows")
    for column in ("id", "when", "currency", "amount", "balance", "reason", "ref", "note"):
        table.add_column(column)
    for e in page.entries:
        note = (e.note or "") + (f" (shortfall {e.shortfall})" if e.shortfall else "")
        table.add_row(str(e.id), moment(e.occurred_at, zone, lang), e.currency, f"{e.amount:+d}",
                      str(e.balance_after), e.reason, e.ref or "", note)  # fmt: skip
    out.print(table)
    return EXIT_OK


async def member_grant(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Apply a manual adjustment with a reason."""
    currency: Currency = "coins" if args.coins else "points"
    async with open_store(config) as store:
        result = await grants.grant(
            store, args.member_id, args.amount, reason=args.reason, actor=args.actor,
            currency=currency,
        )  # fmt: skip
    out.print(
        f"{result.member_id}: {result.amount:+d} {currency}, balance {result.balance_after}",
        highlight=False,
    )
    return EXIT_OK


async def bot_username(config: Config) -> str:
    """Return the bot's username from config, or ask Telegram (getMe) with the token."""
    if config.telegram.bot_username:
        return config.telegram.bot_username
    from telegram import Bot
    from telegram.error import TelegramError

    token = secret(config.telegram.token_env, "telegram.token_env")
    try:
        async with Bot(token, base_url=config.telegram.base_url) as tg:
            return tg.username
    except TelegramError as exc:
        raise Refused(
            f"cannot ask Telegram for the bot's name ({exc}); set telegram.bot_username"
        ) from exc


async def member_link_url(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Print a one-time Telegram deep link for a member."""
    from datetime import timedelta

    username = await bot_username(config)
    async with open_store(config) as store:
        token = await links.create_token(
            store,
            args.member_id,
            timedelta(minutes=config.server.link_token_minutes),
            per_hour=config.server.link_tokens_per_hour,
        )
    print(deep_link(username, token.token))
    until = moment(token.expires_at, config.program.timezone, "en")
    print(f"single use, valid until {until}", file=sys.stderr)
    return EXIT_OK
