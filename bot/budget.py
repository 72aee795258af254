"""The bot-wide message budget split between processes: 30 a second however many send.

Telegram counts its limits per bot (about 30 messages a second in all, 20 a minute per group),
not per connection, so several processes each running the full budget would together exceed
it. The split is static, decided from the config, so no process asks another (or the database)
before each message:

- `all` (one process): the whole budget, as before.
- `web` (any number, behind a balancer): each sends only its own answers to the updates it
  takes, within `web_messages_per_second / web_workers` a second, and a share of each group's
  20 a minute. Answers are what members wait for; a share of ten a second for all workers is
  several hundred answering members a minute.
- `scheduler` (any number, one leading): only the leader sends, the outbox fan-out and the
  agents' SLA flags, within what the web workers leave (`30 - web_messages_per_second`); a
  standby sends nothing, so handing over never doubles the rate. Paid broadcasts (a rate over
  30, with `allow_paid_broadcast`) count in Telegram's separate 1,000 a second window, which
  only the leader uses.

A DB-backed token bucket would let an idle share flow to a busy process, at the price of a
database round trip per message (or per batch of tokens) on every answer's path; the static
split wastes some of an idle web share instead. docs/scaling.md says when to move the line.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import FREE_PER_SECOND, Config

GROUP_PER_MINUTE = 20  # Telegram's limit per group chat (the agents' supergroup)
ROLES = ("all", "web", "scheduler")


@dataclass(frozen=True)
class Share:
    """What one process may send: overall and fan-out messages a second, group messages a minute."""

    overall_per_second: int
    bulk_per_second: int
    group_per_minute: int


def share(config: Config, role: str) -> Share:
    """Return the part of the bot's budget a process of `role` may use."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    rate = config.reminders.rate_per_second
    if role == "all":
        return Share(FREE_PER_SECOND, rate, GROUP_PER_MINUTE)
    scaling = config.scaling
    web = scaling.web_messages_per_second
    # The agents' group hears from every web worker (relayed member messages) and from the
    # leader (SLA flags): each gets an even part, never less than one a minute.
    group = max(1, GROUP_PER_MINUTE // (scaling.web_workers + 1))
    if role == "web":
        return Share(max(1, web // scaling.web_workers), 1, group)
    left = FREE_PER_SECOND - web
    # Over 30 a second the fan-out goes out as paid broadcasts, in their own window.
    return Share(left, rate if rate > FREE_PER_SECOND else min(rate, left), group)
