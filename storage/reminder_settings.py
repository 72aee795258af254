"""Reminder settings: each Telegram user's language and reminder choices, read and changed.

Per kind of notice 'on', 'silent' or 'off', the hour reminders come at, quiet hours and a
pause for everything; a value left NULL follows the configured `ReminderPolicy`, so changing
the config moves everyone who never chose.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from loyalty.reminders import CATEGORIES, MODES, ReminderPolicy
from storage import telegram_users
from storage.db import Conn, Row, to_db
from storage.errors import Invalid
from storage.store import Store

NO_QUIET = (0, 0)


@dataclass(frozen=True)
class Settings:
    """A Telegram user's language and reminder choices (None = the configured default)."""

    telegram_user_id: int
    language: str | None
    modes: Mapping[str, str]
    hour: int | None
    quiet_start: int | None
    quiet_end: int | None
    paused: bool

    def reminder_hour(self, policy: ReminderPolicy) -> int:
        """Return the hour reminders come at."""
        return policy.default_hour if self.hour is None else self.hour

    def quiet(self, policy: ReminderPolicy) -> tuple[int, int]:
        """Return the quiet hours as (start, end) minutes; equal values mean none."""
        if self.quiet_start is None or self.quiet_end is None:
            return policy.quiet_start, policy.quiet_end
        return self.quiet_start, self.quiet_end


_SETTINGS_SQL = (
    "SELECT language, reminders, reminder_hour, quiet_start, quiet_end,"
    " remind_daily, remind_expiry, remind_burn, remind_account"
    " FROM telegram_users WHERE telegram_user_id = ?"
)
# The same statement as telegram_users.ensure, which takes the connection once converted.
_CHANGE_SQL = (
    "UPDATE telegram_users SET reminders = ?, reminder_hour = ?, quiet_start = ?, quiet_end = ?,"
    " remind_daily = ?, remind_expiry = ?, remind_burn = ?, remind_account = ?, updated_at = ?"
    " WHERE telegram_user_id = ?"
)


async def read(store: Store, telegram_user_id: int) -> Settings:
    """Return a Telegram user's settings (defaults for a user never seen)."""
    row = await store.db.read_one(_SETTINGS_SQL, (telegram_user_id,))
    if row is None:
        return Settings(telegram_user_id, None, dict.fromkeys(CATEGORIES, "on"), None, None,
                        None, False)  # fmt: skip
    return _settings(telegram_user_id, row)


def _settings(telegram_user_id: int, row: Row) -> Settings:
    return Settings(
        telegram_user_id=telegram_user_id,
        language=row["language"],
        modes={c: row[f"remind_{c}"] for c in CATEGORIES},
        hour=row["reminder_hour"],
        quiet_start=row["quiet_start"],
        quiet_end=row["quiet_end"],
        paused=not row["reminders"],
    )


Quiet = tuple[int, int] | Literal["default", "off"]


async def change(
    store: Store,
    telegram_user_id: int,
    *,
    mode: tuple[str, str] | None = None,
    hour: int | None = None,
    quiet: Quiet | None = None,
    quiet_start: int | None = None,
    quiet_end: int | None = None,
    policy: ReminderPolicy | None = None,
    paused: bool | None = None,
) -> Settings:
    """Change reminder settings; arguments left None stay as they are. Raise Invalid on bad ones.

    `quiet` sets both ends ("default" follows the config, "off" means none); `quiet_start` or
    `quiet_end` moves one end, starting from the `policy` default if the user had none.
    """
    if mode is not None:
        category, value = mode
        if category not in CATEGORIES or value not in MODES:
            raise Invalid(f"no reminder setting {category}={value}")
    if hour is not None and not 0 <= hour <= 23:
        raise Invalid("the reminder hour must be 0..23")
    if isinstance(quiet, tuple):
        _check_minutes(*quiet)
    asked = any(v is not None for v in (mode, hour, quiet, quiet_start, quiet_end, paused))
    now = to_db(store.now())

    def change_row(conn: Conn) -> Settings:
        telegram_users.ensure(conn, telegram_user_id, now)
        current = _settings(
            telegram_user_id, conn.execute(_SETTINGS_SQL, (telegram_user_id,)).fetchone()
        )
        if not asked:
            return current
        new = _changed(current, mode, hour, quiet, paused)
        if quiet_start is not None or quiet_end is not None:
            if policy is None:
                raise ValueError("moving one end of the quiet hours needs the configured policy")
            new = _one_end_moved(current, new, quiet_start, quiet_end, policy)
        conn.execute(
            _CHANGE_SQL,
            (int(not new.paused), new.hour, new.quiet_start, new.quiet_end,
             *(new.modes[c] for c in ("daily", "expiry", "burn", "account")),
             now, telegram_user_id),
        )  # fmt: skip
        return new

    return await store.db.write(change_row)


def _changed(
    current: Settings,
    mode: tuple[str, str] | None,
    hour: int | None,
    quiet: Quiet | None,
    paused: bool | None,
) -> Settings:
    """Return `current` with the given settings applied (None leaves one as it is)."""
    new = current
    if mode is not None:
        category, value = mode
        new = replace(new, modes={**new.modes, category: value})
    if hour is not None:
        new = replace(new, hour=hour)
    if quiet == "default":
        new = replace(new, quiet_start=None, quiet_end=None)
    elif quiet == "off":
        new = replace(new, quiet_start=NO_QUIET[0], quiet_end=NO_QUIET[1])
    elif isinstance(quiet, tuple):
        new = replace(new, quiet_start=quiet[0], quiet_end=quiet[1])
    if paused is not None:
        new = replace(new, paused=paused)
    return new


def _one_end_moved(
    current: Settings,
    new: Settings,
    quiet_start: int | None,
    quiet_end: int | None,
    base: ReminderPolicy,
) -> Settings:
    """Return `new` with one end of the stored quiet hours moved; raise Invalid if out of range."""
    start = current.quiet_start if current.quiet_start is not None else base.quiet_start
    end = current.quiet_end if current.quiet_end is not None else base.quiet_end
    if (current.quiet_start, current.quiet_end) == NO_QUIET:  # from "none", one end starts one
        start, end = base.quiet_start, base.quiet_end
    start = quiet_start if quiet_start is not None else start
    end = quiet_end if quiet_end is not None else end
    start, end = _check_minutes(start, end)
    return replace(new, quiet_start=start, quiet_end=end)


def _check_minutes(start: int, end: int) -> tuple[int, int]:
    for value in (start, end):
        if not 0 <= value < 24 * 60:
            raise Invalid("quiet hours are minutes after midnight, 0..1439")
    return start, end
