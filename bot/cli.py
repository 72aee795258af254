"""The `loyaltybot` command line: run, demo, config, db, events and member commands."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

from bot.config import DEFAULT_PATH, EXAMPLE_PATH, Config, ConfigError, load_config
from storage.errors import OperationError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

Command = Callable[[Config, argparse.Namespace, Console], Coroutine[Any, Any, int]]


class UsageError(Exception):
    """The command line itself is wrong (exit code 2)."""


def text(value: str) -> str:
    """An argument that is stored or shown: valid UTF-8 text (not bytes the shell passed raw)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"not valid UTF-8 text: {value!r}") from None
    return value


def _error(message: str) -> None:
    """Print one error line on stderr (plain: never wrapped, never marked up)."""
    # One write, not print's two (text, then the newline): the log thread writes to stderr
    # too, and a line of its own could land between them.
    sys.stderr.write(f"error: {message}\n")
    sys.stderr.flush()


def _config_path(raw: str | None) -> Path:
    """Return the config file to use: -c, else config.toml, else the example with a warning."""
    if raw is not None:
        return Path(raw)
    if DEFAULT_PATH.exists() or not EXAMPLE_PATH.exists():
        return DEFAULT_PATH
    print(f"warning: {DEFAULT_PATH} not found, using {EXAMPLE_PATH}", file=sys.stderr)
    return EXAMPLE_PATH


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser for every command."""
    # -c works before or after the command: `loyaltybot -c x db check` and `... db check -c x`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="config file (default config.toml, else config.example.toml)",
    )
    parser = argparse.ArgumentParser(
        prog="loyaltybot", description="Telegram loyalty-programme bot", parents=[common]
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = commands.add_parser("run", parents=[common], help="the service: bot, shop API, scheduler")
    run.add_argument(
        "--role",
        choices=("all", "web", "scheduler"),
        default="all",
        help="all: one process (default); web: shop API and webhook, several behind a balancer;"
        " scheduler: jobs and the outbox sender, one leading (docs/scaling.md)",
    )
    demo = commands.add_parser("demo", parents=[common], help="the whole product offline")
    demo.add_argument(
        "--db",
        metavar="PATH",
        help="keep the demo database here, with its moved clock (PATH.clock), for the next run"
        " (default: a temporary file)",
    )

    sandbox = commands.add_parser(
        "sandbox", parents=[common], help="the real service on an emulated Telegram, chat here"
    )
    sandbox.add_argument("--db", metavar="PATH", help="database (default: a temporary file)")

    config = commands.add_parser("config", parents=[common], help="configuration")
    config_commands = config.add_subparsers(dest="action", metavar="ACTION", required=True)
    config_commands.add_parser("check", parents=[common], help="validate and print the programme")

    db = commands.add_parser("db", parents=[common], help="database")
    db_commands = db.add_subparsers(dest="action", metavar="ACTION", required=True)
    db_commands.add_parser("migrate", parents=[common], help="create or upgrade the database")
    db_commands.add_parser("check", parents=[common], help="prove balances equal the ledger")
    repair = db_commands.add_parser(
        "repair", parents=[common], help="set cached balances back to the ledger's sums"
    )
    repair.add_argument("--yes", action="store_true", help="yes, correct them (else: only show)")
    backup = db_commands.add_parser("backup", parents=[common], help="an online copy, checked")
    backup.add_argument("target", type=Path, help="the new backup file")
    restore = db_commands.add_parser("restore", parents=[common], help="replace the database")
    restore.add_argument("backup", type=Path, help="a file made by `db backup`")
    restore.add_argument("--yes", action="store_true", help="yes, replace it (service stopped)")
    copier = db_commands.add_parser(
        "copy", parents=[common], help="copy the store into another, empty one, and compare"
    )
    copier.add_argument(
        "--to", required=True, type=Path, metavar="OTHER_CONFIG", help="the target's config file"
    )

    events = commands.add_parser("events", parents=[common], help="shop events")
    events_commands = events.add_subparsers(dest="action", metavar="ACTION", required=True)
    importer = events_commands.add_parser(
        "import", parents=[common], help="apply shop events from a JSON-lines file"
    )
    importer.add_argument("file", type=Path, help="JSON lines, one event per line ('-' = stdin)")

    member = commands.add_parser("member", parents=[common], help="members")
    member_commands = member.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = member_commands.add_parser("show", parents=[common], help="balances, level, coupons")
    show.add_argument("member_id", type=text)
    grant = member_commands.add_parser("grant", parents=[common], help="a manual adjustment")
    grant.add_argument("member_id", type=text)
    grant.add_argument("amount", type=int, help="points to add (negative: to remove)")
    grant.add_argument("--reason", type=text, required=True, help="why (recorded in the ledger)")
    grant.add_argument("--coins", action="store_true", help="adjust coins instead of points")
    grant.add_argument("--actor", type=text, default="cli", help="who (recorded in the ledger)")
    link = member_commands.add_parser("link-url", parents=[common], help="a one-time deep link")
    link.add_argument("member_id", type=text)
    coupon = member_commands.add_parser("coupon", parents=[common], help="a goodwill coupon")
    coupon.add_argument("member_id", type=text)
    coupon.add_argument("value", type=text, help="the coupon's value, one of the programme's: 5")
    coupon.add_argument("--reason", type=text, required=True, help="why (told to the member)")
    coupon.add_argument("--key", type=text, help="idempotency key: a repeat gives the same coupon")
    coupon.add_argument("--actor", type=text, default="cli", help="who (recorded in the ledger)")
    unlink = member_commands.add_parser("unlink", parents=[common], help="disconnect Telegram")
    unlink.add_argument("member_id", type=text)
    ban = member_commands.add_parser("ban", parents=[common], help="ban from live support")
    ban.add_argument("member_id", type=text)
    ban.add_argument("--reason", type=text, help="why (kept with the ban)")
    unban = member_commands.add_parser("unban", parents=[common], help="lift a support ban")
    unban.add_argument("member_id", type=text)

    ticket = commands.add_parser("tickets", parents=[common], help="support tickets")
    ticket_commands = ticket.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = ticket_commands.add_parser("list", parents=[common], help="the open tickets")
    listing.add_argument("--limit", type=int, default=200, help="at most this many (200)")

    cast = commands.add_parser("broadcast", parents=[common], help="a message to every member")
    cast.add_argument("text", type=text, help="the message (plain text)")
    cast.add_argument("--id", type=text, help="broadcast id (default: from the text)")
    cast.add_argument("--dry-run", action="store_true", help="only count who it would reach")
    _add_connectors(commands, common)
    return parser


def _add_connectors(commands: Any, common: argparse.ArgumentParser) -> None:
    """`loyaltybot connectors check` (bot/connectors/check.py does the work)."""
    connectors = commands.add_parser("connectors", parents=[common], help="shop platforms")
    actions = connectors.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "check", parents=[common], help="call each enabled platform, say what is missing"
    )


def _command(args: argparse.Namespace) -> Command:
    # Imported here so `loyaltybot --help` stays fast and each command loads only what it needs.
    from bot import cli_commands, cli_operator

    single = ("run", "demo", "sandbox", "broadcast")
    name = args.command if args.command in single else f"{args.command}_{args.action}"
    name = name.replace("-", "_")
    return getattr(cli_commands, name, None) or getattr(cli_operator, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    # Piped output is not cut to 80 columns: tables stay readable in files and CI logs.
    out = Console() if sys.stdout.isatty() else Console(width=160)
    args = build_parser().parse_args(argv)
    config: Config | None = None
    try:
        config = load_config(_config_path(getattr(args, "config", None)))
        # uvloop: the service spends much of its time in the event loop itself (sockets,
        # callbacks, hand-offs from SQLite's thread), which uvloop runs in C; the tests run on it
        # too (tests/conftest.py). Figures: README, "Shop API over HTTP".
        return uvloop.run(_command(args)(config, args, out))
    except ConfigError as exc:
        for problem in exc.problems:
            _error(problem)
        return EXIT_FAILED
    except UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OperationError as exc:
        _error(str(exc.message))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        _error(str(exc))
        return EXIT_FAILED
    except sqlite3.DatabaseError as exc:
        # A path whose directory is missing, a file that is not a database, a full disk.
        where = f"database {config.storage.path}" if config is not None else "database"
        _error(f"{where}: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
