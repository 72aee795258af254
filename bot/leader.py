"""The scheduler's leadership: of every process running the jobs, one leads at a time.

Each scheduler process (role `scheduler` or `all`) renews or tries to take the `scheduler`
lease every `heartbeat_seconds` (storage/leases.py: one upsert, times from the store's injected
clock). Only the holder runs the jobs and sends; when it dies its lease runs out after
`lease_seconds` and the next heartbeat of a standby takes it, so a handover takes at most
`lease_seconds + heartbeat_seconds` (25 s by default). The outbox rows a leader claims are
claimed for no longer than its lease has left (`bot/jobs.py`), so by the time a standby leads,
the dead leader's claims have expired too and its rows can be sent.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from datetime import datetime, timedelta

from bot.logs import kv
from storage import leases
from storage.store import Store

log = logging.getLogger(__name__)
LEASE_NAME = "scheduler"


def process_name() -> str:
    """Return a name for this process, unique across machines and restarts."""
    # Not host:pid:hex: with a pid of five digits that is the shape of a bot token, and the
    # log lines naming the leader wrote it as <bot-token> (bot/logs.py redacts tokens).
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"


class Leadership:
    """This process's hold on the scheduler lease."""

    def __init__(self, store: Store, term: timedelta, holder: str | None = None) -> None:
        self.store = store
        self.term = term
        self.holder = holder or process_name()
        self.until: datetime | None = None

    def leading(self) -> bool:
        """Tell whether this process holds the lease now (by the store's clock)."""
        return self.until is not None and self.store.now() < self.until

    def remaining(self) -> timedelta:
        """Return how long the lease lasts from now (zero when not leading)."""
        if self.until is None:
            return timedelta(0)
        return max(timedelta(0), self.until - self.store.now())

    async def beat(self) -> bool:
        """Renew the lease, or take it if it is free; return whether this process leads.

        A failed renewal (the database busy or gone) keeps the lease as it was: it runs out on
        its own, and the jobs stop sending when it does.
        """
        was = self.leading()
        try:
            until = await leases.acquire(self.store, LEASE_NAME, self.holder, self.term)
        except Exception:
            log.exception("lease renewal failed", extra=kv(event="lease_failed"))
            return self.leading()
        self.until = until
        now = self.leading()
        if now and not was:
            log.info("leading", extra=kv(event="scheduler_leading", holder=self.holder))
        elif was and not now:
            log.warning("lost the lead", extra=kv(event="scheduler_lost_lead", holder=self.holder))
        return now

    async def resign(self) -> None:
        """Give the lease up (a clean stop: a standby takes over at its next heartbeat)."""
        if self.until is None:
            return
        self.until = None
        try:
            await leases.release(self.store, LEASE_NAME, self.holder)
        except Exception:
            log.exception("lease release failed", extra=kv(event="lease_release_failed"))
