"""The service configuration: one TOML file, secrets only from environment variables."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from datetime import time, timedelta
from pathlib import Path
from typing import Any

from bot.connectors.settings import ConnectorsConfig, read_connectors
from handlers.services import SupportConfig
from loyalty.loader import Problem, ProgramInvalid, TableReader, load_program
from loyalty.program import Program
from loyalty.reminders import ReminderPolicy, minutes
from storage import links
from storage.db import DEFAULT_SYNCHRONOUS
from storage.retention import Retention

FREE_PER_SECOND = 30  # Telegram's messages a second per bot, shared by every process
DEFAULT_PATH = Path("config.toml")
EXAMPLE_PATH = Path("config.example.toml")
LANGUAGES = ("en", "ru")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason with its key path."""

    def __init__(self, problems: list[Problem] | list[str]) -> None:
        self.problems = [str(p) for p in problems]
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class TelegramConfig:
    """How the bot reaches Telegram."""

    token_env: str = "BOT_TOKEN"  # noqa: S105 (the variable holding the secret)
    base_url: str = "https://api.telegram.org/bot"
    mode: str = "polling"
    webhook_url: str = ""
    webhook_secret_env: str = "WEBHOOK_SECRET"  # noqa: S105 (a variable name)
    bot_username: str = ""


@dataclass(frozen=True)
class StorageConfig:
    """Which database: a SQLite file (`path`) or PostgreSQL (DSN in `dsn_env`), and its sync."""

    backend: str = "sqlite"
    path: str = "loyalty.db"
    synchronous: str = DEFAULT_SYNCHRONOUS
    dsn_env: str = "LOYALTYBOT_DATABASE_URL"
    pool_size: int = 10

    def describe(self) -> str:
        """Name the database for messages, never showing the DSN (it may hold a password)."""
        return self.path if self.backend == "sqlite" else f"PostgreSQL (${self.dsn_env})"


@dataclass(frozen=True)
class ServerConfig:
    """The shop API (and webhook) HTTP server."""

    host: str = "127.0.0.1"
    port: int = 8080
    api_key_env: str = "SHOP_API_KEY"
    max_body_bytes: int = 65_536
    link_token_minutes: int = links.DEFAULT_TTL // timedelta(minutes=1)
    link_tokens_per_hour: int = 10
    hold_minutes: int = 1_440


@dataclass(frozen=True)
class ShopConfig:
    """The shop's own pages the bot points members to."""

    name: str = "Our shop"
    account_url: str = "https://shop.example/account"
    signup_url: str = "https://shop.example/signup?ref={code}"


@dataclass(frozen=True)
class BotConfig:
    """Member-facing defaults."""

    default_language: str = "en"


@dataclass(frozen=True)
class RemindersConfig:
    """Reminders and scheduled work."""

    enabled: bool = True
    daily_hour: int = 19
    expiry_days: tuple[int, ...] = (3, 1)
    burn_days: tuple[int, ...] = (7, 1)
    quiet_start: time = time(22, 0)
    quiet_end: time = time(8, 0)
    rate_per_second: int = 30
    interval_seconds: int = 15

    def policy(self) -> ReminderPolicy:
        """Return the defaults the planner, the sender and /settings share."""
        return ReminderPolicy(
            enabled=self.enabled,
            default_hour=self.daily_hour,
            expiry_days=self.expiry_days,
            burn_days=self.burn_days,
            quiet_start=minutes(self.quiet_start),
            quiet_end=minutes(self.quiet_end),
        )


@dataclass(frozen=True)
class RetentionConfig:
    """How long the tables that would grow forever keep their rows, in days."""

    idempotency_days: int = 90
    outbox_days: int = 30
    update_ids_days: int = 2

    def policy(self) -> Retention:
        """Return the storage layer's retention."""
        return Retention(
            idempotency=timedelta(days=self.idempotency_days),
            outbox=timedelta(days=self.outbox_days),
            update_ids=timedelta(days=self.update_ids_days),
        )


@dataclass(frozen=True)
class ScalingConfig:
    """Several processes: the scheduler's leader lease and the bot-wide message budget."""

    lease_seconds: int = 20
    heartbeat_seconds: int = 5
    web_workers: int = 1
    web_messages_per_second: int = 10


@dataclass(frozen=True)
class WebConfig:
    """The member's card (a Telegram Mini App) and the owner's console, on the API server."""

    public_url: str = ""  # https address Telegram clients reach; "" = no Mini App buttons
    init_data_max_age_seconds: int = 86_400  # how old a Mini App's signed initData may be
    session_secret_env: str = "WEB_SESSION_SECRET"  # noqa: S105 (a variable name)
    session_hours: int = 12  # a console session lasts this long
    login_link_minutes: int = 10  # a one-time console link from /console is valid this long


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated."""

    program: Program
    telegram: TelegramConfig = field(default_factory=TelegramConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    shop: ShopConfig = field(default_factory=ShopConfig)
    bot: BotConfig = field(default_factory=BotConfig)
    # Defined in handlers/services.py, where its users are (handlers may not import bot/).
    support: SupportConfig = field(default_factory=SupportConfig)
    reminders: RemindersConfig = field(default_factory=RemindersConfig)
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    scaling: ScalingConfig = field(default_factory=ScalingConfig)
    connectors: ConnectorsConfig = field(default_factory=ConnectorsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    path: Path | None = None


def secret(env_name: str, key: str) -> str:
    """Return the secret held by environment variable `env_name` or raise ConfigError."""
    value = os.environ.get(env_name, "")
    if not value:
        raise ConfigError([f"environment variable {env_name} is not set (named by {key})"])
    return value


def missing_secrets(config: Config) -> list[str]:
    """Return a line for every secret `loyaltybot run` needs that the environment lacks."""
    needed = [
        (config.telegram.token_env, "telegram.token_env"),
        (config.server.api_key_env, "server.api_key_env"),
    ]
    if config.telegram.mode == "webhook":
        needed.append((config.telegram.webhook_secret_env, "telegram.webhook_secret_env"))
    return [
        f"environment variable {env} is not set (named by {key})"
        for env, key in needed
        if not os.environ.get(env, "")
    ]


def load_config(path: Path) -> Config:
    """Read and validate a config file; ConfigError lists every problem found."""
    try:
        raw = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot be read ({exc})"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML ({exc})"]) from None
    return parse_config(raw, path)


def parse_config(raw: dict[str, Any], path: Path | None = None) -> Config:
    """Validate a parsed config table; ConfigError lists every problem found."""
    problems: list[Problem] = []
    root = TableReader(raw, "config", problems)
    root.seen.add("program")
    program = None
    try:
        program = load_program(raw.get("program", {}))
    except ProgramInvalid as exc:
        problems.extend(exc.problems)
    sections = {
        "telegram": _telegram,
        "storage": _storage,
        "server": _server,
        "shop": _shop,
        "bot": _bot,
        "support": _support,
        "reminders": _reminders,
        "retention": _retention,
        "scaling": _scaling,
        "connectors": read_connectors,
        "web": _web,
    }
    parsed: dict[str, Any] = {}  # section name -> its config type, as Config's fields expect
    for name, read in sections.items():
        reader = root.table_reader(name)
        reader.path = name
        parsed[name] = read(reader)
        reader.done()
    for key in raw:
        if key not in root.seen:
            problems.append(Problem(key, "unknown section"))
    if problems or program is None:
        raise ConfigError(problems)
    return Config(program=program, path=path, **parsed)


# Each reader's defaults are the config types' own (`d = ...Config`): written once, above.


def _telegram(r: TableReader) -> TelegramConfig:
    mode = r.text("mode", TelegramConfig.mode, choices=("polling", "webhook"))
    webhook_url = r.text("webhook_url", TelegramConfig.webhook_url)
    # Telegram only delivers to https; a local Bot API server may deliver to loopback http.
    loopback = webhook_url.startswith(("http://127.0.0.1", "http://localhost"))
    if mode == "webhook" and not (webhook_url.startswith("https://") or loopback):
        r.fail("webhook mode needs a public https:// URL", "webhook_url")
    return TelegramConfig(
        token_env=r.text("token_env", TelegramConfig.token_env),
        base_url=r.text("base_url", TelegramConfig.base_url),
        mode=mode,
        webhook_url=webhook_url,
        webhook_secret_env=r.text("webhook_secret_env", TelegramConfig.webhook_secret_env),
        bot_username=r.text("bot_username", TelegramConfig.bot_username).lstrip("@"),
    )


def _storage(r: TableReader) -> StorageConfig:
    return StorageConfig(
        backend=r.text("backend", StorageConfig.backend, choices=("sqlite", "postgresql")),
        path=r.text("path", StorageConfig.path),
        synchronous=r.text(
            "synchronous", StorageConfig.synchronous, choices=("FULL", "NORMAL", "EXTRA")
        ),
        dsn_env=r.text("dsn_env", StorageConfig.dsn_env),
        pool_size=r.integer("pool_size", StorageConfig.pool_size, low=1, high=100),
    )


def _server(r: TableReader) -> ServerConfig:
    d = ServerConfig
    return ServerConfig(
        host=r.text("host", d.host),
        port=r.integer("port", d.port, low=0, high=65_535),
        api_key_env=r.text("api_key_env", d.api_key_env),
        max_body_bytes=r.integer("max_body_bytes", d.max_body_bytes, low=1_024, high=10_485_760),
        link_token_minutes=r.integer(
            "link_token_minutes", d.link_token_minutes, low=1, high=43_200
        ),
        link_tokens_per_hour=r.integer(
            "link_tokens_per_hour", d.link_tokens_per_hour, low=1, high=1_000
        ),
        hold_minutes=r.integer("hold_minutes", d.hold_minutes, low=1, high=43_200),
    )


def _shop(r: TableReader) -> ShopConfig:
    return ShopConfig(
        name=r.text("name", ShopConfig.name),
        account_url=r.text("account_url", ShopConfig.account_url),
        signup_url=r.text("signup_url", ShopConfig.signup_url),
    )


def _bot(r: TableReader) -> BotConfig:
    default = BotConfig.default_language
    return BotConfig(default_language=r.text("default_language", default, choices=LANGUAGES))


def _support(r: TableReader) -> SupportConfig:
    admin_ids = r.integers("admin_ids", list(SupportConfig.admin_ids), low=1, high=2**53)
    days = r.items("days") if "days" in r.table else list(SupportConfig.days)
    if any(d not in WEEKDAYS for d in days):
        r.fail(f"must list days among {', '.join(WEEKDAYS)}", "days")
        days = list(SupportConfig.days)
    canned_reader = r.table_reader("canned")
    canned = {k: canned_reader.text(k) for k in canned_reader.table}
    d = SupportConfig
    agent_chat_id = r.integer("agent_chat_id", d.agent_chat_id, low=-(2**53), high=2**53)
    if agent_chat_id > 0:
        # A positive id is a person or a bot: forum topics live only in supergroups.
        r.fail("must be the agents' supergroup id, which is negative (-100...); 0 = off",
               "agent_chat_id")  # fmt: skip
        agent_chat_id = d.agent_chat_id
    return SupportConfig(
        agent_chat_id=agent_chat_id,
        admin_ids=tuple(admin_ids),
        language=r.text("language", d.language, choices=LANGUAGES),
        sla_minutes=r.integer("sla_minutes", d.sla_minutes, low=1, high=10_080),
        hours_start=r.time_of_day("hours_start", _hhmm(d.hours_start)),
        hours_end=r.time_of_day("hours_end", _hhmm(d.hours_end)),
        days=tuple(days),
        canned=canned,
        messages_per_minute=r.integer(
            "messages_per_minute", d.messages_per_minute, low=1, high=1_000
        ),
        tickets_per_day=r.integer("tickets_per_day", d.tickets_per_day, low=1, high=1_000),
    )


def _reminders(r: TableReader) -> RemindersConfig:
    d = RemindersConfig
    return RemindersConfig(
        enabled=r.boolean("enabled", d.enabled),
        daily_hour=r.integer("daily_hour", d.daily_hour, high=23),
        expiry_days=tuple(r.integers("expiry_days", list(d.expiry_days), low=1, high=30)),
        burn_days=tuple(r.integers("burn_days", list(d.burn_days), low=1, high=60)),
        quiet_start=r.time_of_day("quiet_start", _hhmm(d.quiet_start)),
        quiet_end=r.time_of_day("quiet_end", _hhmm(d.quiet_end)),
        rate_per_second=r.integer("rate_per_second", d.rate_per_second, low=1, high=1_000),
        interval_seconds=r.integer("interval_seconds", d.interval_seconds, low=1, high=3_600),
    )


def _retention(r: TableReader) -> RetentionConfig:
    d = RetentionConfig
    return RetentionConfig(
        idempotency_days=r.integer("idempotency_days", d.idempotency_days, low=7, high=3_650),
        outbox_days=r.integer("outbox_days", d.outbox_days, low=1, high=3_650),
        update_ids_days=r.integer("update_ids_days", d.update_ids_days, low=1, high=365),
    )


def _scaling(r: TableReader) -> ScalingConfig:
    d = ScalingConfig
    lease = r.integer("lease_seconds", d.lease_seconds, low=1, high=600)
    heartbeat = r.integer("heartbeat_seconds", d.heartbeat_seconds, low=1, high=600)
    if heartbeat * 2 > lease:
        # A leader must renew at least twice per term, or one slow renewal loses the lease.
        r.fail("must be at most half of lease_seconds", "heartbeat_seconds")
    share = r.integer(
        "web_messages_per_second", d.web_messages_per_second, low=1, high=FREE_PER_SECOND - 1
    )
    workers = r.integer("web_workers", d.web_workers, low=1, high=FREE_PER_SECOND - 1)
    if workers > share:
        r.fail("each web worker needs a message a second of the web share", "web_workers")
    return ScalingConfig(
        lease_seconds=lease,
        heartbeat_seconds=heartbeat,
        web_workers=workers,
        web_messages_per_second=share,
    )


def _web(r: TableReader) -> WebConfig:
    d = WebConfig
    public_url = r.text("public_url", d.public_url).rstrip("/")
    # Telegram opens Mini Apps from https addresses only.
    if public_url and not public_url.startswith("https://"):
        r.fail("must be an https:// address (or empty)", "public_url")
        public_url = ""
    return WebConfig(
        public_url=public_url,
        init_data_max_age_seconds=r.integer(
            "init_data_max_age_seconds", d.init_data_max_age_seconds, low=60, high=2_592_000
        ),
        session_secret_env=r.text("session_secret_env", d.session_secret_env),
        session_hours=r.integer("session_hours", d.session_hours, low=1, high=720),
        login_link_minutes=r.integer("login_link_minutes", d.login_link_minutes, low=1, high=60),
    )


def _hhmm(value: time) -> str:
    """Write a default time of day the way the file does ("HH:MM")."""
    return value.strftime("%H:%M")
