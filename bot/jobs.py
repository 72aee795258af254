"""Scheduled work: reminders planned into the outbox and sent, each programme day's start, SLA.

The JobQueue (APScheduler) is only the trigger: every job asks the store's clock what is due,
so tests and the demo move time with a ManualClock and call the same methods. What a job did
is recorded in the database (the outbox rows, `scheduler_runs`), so a restart, a second
process or a late trigger neither repeats nor loses work.

Several scheduler processes may run (docs/scaling.md): each keeps trying for the scheduler
lease (bot/leader.py), and only the holder runs the jobs below and sends; it claims outbox rows
for no longer than its lease has left, and marks each row before sending it, so a successor
neither waits for the dead leader's claims nor sends anything twice.

Jobs (see `schedule_jobs`):
- `scheduler_lease`, every `scaling.heartbeat_seconds`: renew or take the lease; a process
  that just took over drains the outbox at once.
- `day_start`, every minute: once per programme day, just after midnight in the programme's
  time zone: the yearly burn (at the end of the burn day), coupon expiry, level recomputation
  (members whose points aged out are told), retention (`[retention]`: idempotency keys, settled
  outbox rows, taken update ids, expired leases and conversation state).
- `plan_reminders`, every minute: for each local hour that began, queue check-in reminders
  (members whose hour it is and who have not checked in), coupon-expiry digests and burn
  digests (one per member), with dedupe keys.
- `drain_outbox`, every `reminders.interval_seconds`: claim due notices in batches and send
  them through the rate limiter, paced at `reminders.rate_per_second`, behind members' answers.
- `shop_sync`, every 30 s when a connector has API credentials: the shop outbox (coupons
  created in and removed from the connected shop, `bot.connectors.sync`).
- `sla_check`, every minute: flag in the agent chat, once each, tickets waiting past the
  first-answer SLA (`flag_overdue`).
- `expire_holds`, every minute: release checkout holds older than `server.hold_minutes` that
  the shop neither captured nor released (`release_expired_holds`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import Application, CallbackContext, Job

from bot.config import Config
from bot.connectors.sync import INTERVAL_SECONDS, ShopSync, clients_from
from bot.leader import Leadership
from bot.logs import kv
from bot.ratelimit import BULK, FREE_PER_SECOND, FairRateLimiter, retry_seconds
from handlers import agents, notices
from handlers.context import SERVICES_KEY
from handlers.services import Services
from storage import checkout, day_start, outbox, reminder_planning, tickets
from storage.day_start import DayStart
from storage.outbox import Claim, Notice
from storage.reminder_planning import PlanReport
from storage.store import Store

log = logging.getLogger(__name__)
SCHEDULER_KEY = "scheduler"
SHOP_SYNC_KEY = "shop_sync"
TICK_SECONDS = 60  # how often time-of-day work (day start, planning, SLA) looks at the clock
LEASE = timedelta(minutes=2)  # how long a claim holds its rows; a dead run's rows wait this long
LEASE_MARGIN = timedelta(seconds=15)  # stop sending a batch this close to the lease's end
NETWORK_RETRY = timedelta(seconds=30)  # Telegram unreachable: try the rows again after this


AnyApp = Application[Any, Any, Any, Any, Any, Any]


@dataclass
class DrainReport:
    """What one outbox run did, and what it cost."""

    sent: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    deferred: int = 0
    failed: int = 0
    blocked: int = 0
    released: int = 0
    batches: int = 0
    retry_after: float | None = None
    select_seconds: float = 0.0  # the due-row queries
    claim_seconds: float = 0.0  # whole claims (overlapping the sending)
    seconds: float = 0.0


class _Starts:
    """Notices about to be sent, recorded first (outbox.mark_sending), ahead of the senders.

    The marks run `ahead` notices before the sends, written in the background in one write per
    chunk: a worker waits only when it overtook them, so the marks neither cost a write per
    message nor put a wait between a worker's last look at the run's state and its send. A
    crash leaves at most the marked, unsent notices (`ahead` and those in flight) unsent.
    """

    def __init__(self, store: Store, claim_id: str, order: list[int], ahead: int) -> None:
        self.store, self.claim_id, self.order, self.ahead = store, claim_id, order, ahead
        self.position = {notice_id: index for index, notice_id in enumerate(order)}
        self.marked = 0  # order[:marked] are recorded
        self.begun = 0  # notices whose send began
        self.turn = asyncio.Lock()
        self.topping: asyncio.Task[None] | None = None

    async def mark_through(self, end: int) -> None:
        """Record every notice of `order` before index `end` (once)."""
        async with self.turn:
            end = min(end, len(self.order))
            if end <= self.marked:
                return
            await outbox.mark_sending(self.store, self.claim_id, self.order[self.marked : end])
            self.marked = end

    async def before(self, notice_id: int) -> None:
        """Return once `notice_id` is recorded as being sent; keep the marks ahead."""
        self.begun += 1
        index = self.position.get(notice_id, len(self.order) - 1)
        if index >= self.marked:
            await self.mark_through(max(index + 1, self.begun + self.ahead))
        short = self.marked - self.begun < self.ahead // 2 and self.marked < len(self.order)
        if short and (self.topping is None or self.topping.done()):
            self.topping = asyncio.create_task(self.mark_through(self.begun + self.ahead))

    async def close(self) -> None:
        """Wait for a mark still being written (its failure only means fewer marks ahead)."""
        if self.topping is not None:
            await asyncio.gather(self.topping, return_exceptions=True)


class _SentMarks:
    """Notices sent but not yet marked: written in small group commits, not one per message.

    A crash loses at most the marks of the last `every` seconds of sends, and those notices go
    once more after the claim expires; one commit per message would cap the fan-out instead.
    """

    def __init__(
        self, store: Store, claim_id: str, *, every: float = 0.02, size: int = 200
    ) -> None:
        self.store, self.claim_id, self.every, self.size = store, claim_id, every, size
        self.ids: list[int] = []
        self.since = time.monotonic()

    def add(self, notice_id: int) -> None:
        """Remember a sent notice."""
        if not self.ids:
            self.since = time.monotonic()
        self.ids.append(notice_id)

    async def maybe_flush(self) -> None:
        """Write the marks if enough have gathered or enough time has passed."""
        if len(self.ids) >= self.size or time.monotonic() - self.since >= self.every:
            await self.flush()

    async def flush(self) -> None:
        """Write every pending mark now."""
        ids, self.ids = self.ids, []
        await outbox.mark_sent(self.store, self.claim_id, ids)


@dataclass
class _BatchState:
    """What the workers sending one batch share."""

    queue: deque[list[Notice]]
    left: list[int] = field(default_factory=list)  # claimed, not tried: given back
    gone: set[int] = field(default_factory=set)  # users who blocked the bot during the batch
    halt: bool = False  # stop the run (Telegram asked to wait, or is unreachable)
    renew: bool = False  # stop this batch, claim afresh (the lease is running out)
    not_before: datetime | None = None
    stop_at: datetime | None = None  # stop sending from here on: the claim's lease ends soon
    starts: _Starts | None = None


class Scheduler:
    """The scheduled work of one application; the job callbacks and tests call its methods."""

    def __init__(
        self,
        app: AnyApp,
        config: Config,
        *,
        batch_size: int | None = None,
        concurrency: int | None = None,
        lease: timedelta = LEASE,
        leadership: Leadership | None = None,
    ) -> None:
        self.app = app
        self.services: Services = app.bot_data[SERVICES_KEY]
        self.policy = config.reminders.policy()
        self.hold_lifetime = timedelta(minutes=config.server.hold_minutes)
        self.rate = config.reminders.rate_per_second
        # Over Telegram's free 30 a second, the fan-out needs paid broadcasts.
        self.paid = self.rate > FREE_PER_SECOND
        # At most a second of sending per claim: a lease never runs out, and the claim (one
        # transaction, decided in Python) never holds the loop or the write lock for long.
        self.batch_size = batch_size or max(20, min(500, self.rate))
        self.lease = lease
        # With several scheduler processes only the leader sends (None: this one alone).
        self.leadership = leadership
        self.retention = config.retention.policy()
        # Enough sends in flight to reach the rate over a ~100 ms round trip.
        self.concurrency = concurrency or max(4, min(100, self.rate // 10))
        self.draining = False
        self.renderer = notices.Renderer(self.services)
        self._limiter_options: dict[str, Any] = {}
        if isinstance(app.bot.rate_limiter, FairRateLimiter):
            self._limiter_options["rate_limit_args"] = BULK
        self._message_options = {"allow_paid_broadcast": True} if self.paid else {}

    @property
    def store(self) -> Store:
        """Return the store."""
        return self.services.store

    async def tick(self) -> DrainReport:
        """Run every time-driven step once, in order: day start, expired holds, planning,
        sending."""
        await self.start_day()
        await self.release_expired_holds()
        await self.plan()
        return await self.drain()

    async def release_expired_holds(self) -> int:
        """Release the holds older than `server.hold_minutes` (the members are told)."""
        released = await checkout.release_expired(self.store, self.hold_lifetime)
        if released:
            log.info("expired holds released", extra=kv(event="holds_expired", holds=released))
        return released

    async def start_day(self) -> DayStart | None:
        """Do the start-of-day work if today's is not done yet."""
        done = await day_start.start_day(self.store, self.retention)
        if done is not None:
            log.info(
                "day started",
                extra=kv(
                    event="day_started",
                    day=done.day,
                    burned=done.burned,
                    expired=done.expired,
                    level_changes=done.level_changes,
                    pruned=done.pruned,
                ),
            )
        return done

    async def plan(self) -> PlanReport:
        """Queue the reminders of every hour that began since the last plan."""
        started = time.perf_counter()
        report = await reminder_planning.plan(self.store, self.policy)
        if report.hours:
            log.info(
                "reminders planned",
                extra=kv(
                    event="reminders_planned",
                    hours=len(report.hours),
                    queued=sum(report.queued.values()),
                    **dict(sorted(report.queued.items())),
                    seconds=round(time.perf_counter() - started, 3),
                ),
            )
        return report

    def leading(self) -> bool:
        """Tell whether this process may run the jobs now (it leads, or runs alone)."""
        return self.leadership is None or self.leadership.leading()

    def _claim_lease(self) -> timedelta:
        """Claim rows for no longer than this process leads: a successor finds them free."""
        if self.leadership is None:
            return self.lease
        return min(self.lease, self.leadership.remaining())

    def _limiter(self) -> FairRateLimiter | None:
        limiter = self.app.bot.rate_limiter
        return limiter if isinstance(limiter, FairRateLimiter) else None

    async def drain(self) -> DrainReport:
        """Send every due notice: claim a batch, send it, repeat until none is due.

        Stops early (leaving the rest for a later run, not sleeping on it) when Telegram asks
        to wait (RetryAfter) or cannot be reached.
        """
        report = DrainReport()
        claim_id = secrets.token_hex(8)
        marks = _SentMarks(self.store, claim_id)
        limiter = self._limiter()
        started = time.perf_counter()
        upcoming: asyncio.Task[Claim] | None = None
        try:
            while (limiter is None or limiter.bulk_blocked_for() <= 0) and self.leading():
                batch = await (upcoming or self._claim(claim_id, report))
                upcoming = None
                if not batch.touched:
                    break
                # Claim the next batch while this one goes out: the claim's query and
                # decisions are not dead time for the sender.
                upcoming = asyncio.create_task(self._claim(claim_id, report))
                if not await self._send(batch, marks, report):
                    break
            if limiter is not None and limiter.bulk_blocked_for() > 0:
                report.retry_after = report.retry_after or limiter.bulk_blocked_for()
        finally:
            if upcoming is not None:
                await self._give_back(upcoming, claim_id, report)
            await marks.flush()
            report.seconds = time.perf_counter() - started
        if report.batches > 1 or report.sent:
            skipped = {f"skipped_{k}": v for k, v in sorted(report.skipped.items())}
            log.info(
                "outbox drained",
                extra=kv(
                    event="outbox_drained",
                    sent=report.sent,
                    deferred=report.deferred,
                    failed=report.failed,
                    blocked=report.blocked,
                    released=report.released,
                    retry_after=report.retry_after,
                    **skipped,
                    seconds=round(report.seconds, 3),
                ),
            )
        return report

    async def _claim(self, claim_id: str, report: DrainReport) -> Claim:
        before = time.perf_counter()
        lease = self._claim_lease()
        if lease <= timedelta(0):  # the lead was lost: claim nothing
            return Claim(claim_id=claim_id, lease_until=self.store.now())
        batch = await outbox.claim(
            self.store, self.policy, claim_id, limit=self.batch_size, lease=lease
        )
        report.claim_seconds += time.perf_counter() - before
        report.select_seconds += batch.query_seconds
        report.batches += 1
        report.skipped.update(batch.skipped)
        report.deferred += batch.deferred
        return batch

    async def _give_back(
        self, upcoming: asyncio.Task[Claim], claim_id: str, report: DrainReport
    ) -> None:
        """Release what a prefetched claim holds when the run stops before sending it."""
        try:
            spare = await upcoming
        except Exception:
            # Nothing was claimed: nothing to give back.
            log.exception("claim failed", extra=kv(event="claim_failed"))
            return
        ids = [n.id for n in spare.notices]
        if ids:
            wait = timedelta(seconds=report.retry_after or 0)
            await outbox.release(self.store, claim_id, ids, self.store.now() + wait)
            report.released += len(ids)

    async def _send(self, batch: Claim, marks: _SentMarks, report: DrainReport) -> bool:
        """Send one claimed batch with a few concurrent workers; False when the run must stop.

        Over a network each send waits a round trip, so one message at a time would cap the
        rate at 1/RTT; the limiter, not the worker count, sets the pace. A member's notices
        stay in order: they go to one worker, one after another.
        """
        groups: dict[int, list[Notice]] = {}
        for notice in batch.notices:
            groups.setdefault(notice.telegram_user_id, []).append(notice)
        # Stop a quarter of the claim's lease (at most LEASE_MARGIN) before it ends.
        margin = min(LEASE_MARGIN, (batch.lease_until - self.store.now()) / 4)
        workers = min(self.concurrency, len(groups))
        order = [notice.id for group in groups.values() for notice in group]
        starts = _Starts(self.store, batch.claim_id, order, ahead=2 * workers)
        state = _BatchState(
            queue=deque(groups.values()), stop_at=batch.lease_until - margin, starts=starts
        )
        await starts.mark_through(starts.ahead)  # before any send
        try:
            await asyncio.gather(
                *(self._worker(batch, marks, report, state) for _ in range(workers))
            )
        finally:
            await starts.close()
        await marks.flush()
        untouched = state.left + [n.id for group in state.queue for n in group]
        if untouched:
            # Given back, not dropped: a later run sends them (after Telegram's wait, if any).
            await outbox.release(
                self.store, batch.claim_id, untouched, state.not_before or self.store.now()
            )
            report.released += len(untouched)
        return not state.halt

    async def _worker(
        self, batch: Claim, marks: _SentMarks, report: DrainReport, state: _BatchState
    ) -> None:
        store = self.store
        while state.queue and not (state.halt or state.renew):
            group = state.queue.popleft()
            for index, notice in enumerate(group):
                assert state.stop_at is not None
                if state.halt or state.renew or store.now() >= state.stop_at:
                    # Slower than planned: give the rest back before another run may take it.
                    state.renew = True
                    state.left.extend(n.id for n in group[index:])
                    break
                if notice.telegram_user_id in state.gone:
                    await outbox.settle(store, batch.claim_id, notice.id, "skipped", "blocked")
                    continue
                if not await self._deliver(notice, batch, marks, report, state):
                    state.left.extend(n.id for n in group[index:])
                    break
                # Yield between sends: member updates never wait for the whole fan-out.
                await asyncio.sleep(0)

    async def _deliver(
        self,
        notice: Notice,
        batch: Claim,
        marks: _SentMarks,
        report: DrainReport,
        state: _BatchState,
    ) -> bool:
        """Send one notice and settle it; return False if it was not tried (stop sending)."""
        store = self.store
        try:
            text, markup = self.renderer(notice)
            if state.starts is not None:
                await state.starts.before(notice.id)
            await self.app.bot.send_message(
                notice.telegram_user_id,
                text,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
                disable_notification=True if notice.silent else None,
                protect_content=True if notice.kind in notices.PROTECTED else None,
                **self._message_options,
                **self._limiter_options,
            )
        except Forbidden:
            # Blocked: unreachable until they write again (the gate clears the mark).
            await outbox.blocked(store, batch.claim_id, notice.id, notice.telegram_user_id)
            state.gone.add(notice.telegram_user_id)
            report.blocked += 1
            log.info(
                "member unreachable", extra=kv(event="member_unreachable", notice_id=notice.id)
            )
        except RetryAfter as exc:
            seconds = retry_seconds(exc)
            state.halt = True
            state.not_before = store.now() + timedelta(seconds=seconds)
            report.retry_after = seconds
            self._drain_later(seconds)
            return False
        except BadRequest as exc:
            await outbox.settle(store, batch.claim_id, notice.id, "failed", exc.message)
            report.failed += 1
            log.warning(
                "notice refused",
                extra=kv(event="notice_failed", notice_id=notice.id, error=exc.message),
            )
        except NetworkError as exc:
            # It may or may not have arrived; sending again later risks a repeat, dropping it
            # risks a lost warning: we repeat (a row's attempts are capped).
            state.halt = True
            state.not_before = store.now() + NETWORK_RETRY
            log.warning(
                "telegram unreachable",
                extra=kv(event="telegram_unreachable", error=type(exc).__name__),
            )
            return False
        except Exception:
            await outbox.settle(store, batch.claim_id, notice.id, "failed", "error")
            report.failed += 1
            log.exception(
                "notice error",
                extra=kv(event="notice_error", notice_id=notice.id, kind=notice.kind),
            )
        else:
            marks.add(notice.id)
            report.sent += 1
            await marks.maybe_flush()
        return True

    def _drain_later(self, seconds: float) -> None:
        """Run the outbox again once Telegram's wait is over (not sleeping in this run)."""
        queue = self.app.job_queue
        if queue is not None and queue.scheduler.running:
            queue.run_once(_drain_job, seconds + 0.5, name="drain_outbox_retry")


def scheduler(app: AnyApp) -> Scheduler:
    """Return the application's scheduler (made by `schedule_jobs`)."""
    return app.bot_data[SCHEDULER_KEY]


async def _lease_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runner = scheduler(context.application)
    if runner.leadership is None:
        return
    was = runner.leadership.leading()
    if await runner.leadership.beat() and not was:
        # Just took over: send what the previous leader left at once, not at the next trigger.
        queue = context.application.job_queue
        if queue is not None and queue.scheduler.running:
            queue.run_once(_drain_job, 0, name="drain_outbox_takeover")


async def _day_start_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runner = scheduler(context.application)
    if runner.leading():
        await runner.start_day()


async def _holds_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runner = scheduler(context.application)
    if runner.leading():
        await runner.release_expired_holds()


async def _plan_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runner = scheduler(context.application)
    if runner.leading():
        await runner.plan()


async def _drain_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    runner = scheduler(context.application)
    if runner.draining or not runner.leading():  # a fan-out running picks up what is due
        return
    runner.draining = True
    try:
        await runner.drain()
    finally:
        runner.draining = False


async def flag_overdue(bot: Bot, services: Services) -> int:
    """Flag in the agent chat, once each, tickets waiting past the SLA for a first answer.

    Returns how many tickets were flagged; nothing happens without an agent chat.
    """
    if not services.support.enabled:
        return 0
    store, flagged = services.store, 0
    for item in await tickets.overdue(store):
        # Claimed before sending: a flag is posted at most once, even by two schedulers.
        if not await tickets.claim_flag(store, item.ticket.id):
            continue
        if await agents.flag_overdue_ticket(bot, services, item):
            flagged += 1
    return flagged


async def shop_sync_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """JobQueue callback: make the shop outbox's due calls (coupons in connected shops)."""
    runner = context.bot_data.get(SCHEDULER_KEY)
    if runner is not None and not runner.leading():
        return
    sync: ShopSync = context.bot_data[SHOP_SYNC_KEY]
    await sync.run_once()


async def sla_job(context: CallbackContext[Any, Any, Any, Any]) -> None:
    """JobQueue callback: flag the tickets waiting past the first-answer SLA (leader only)."""
    runner = context.bot_data.get(SCHEDULER_KEY)
    if runner is None or runner.leading():
        await flag_overdue(context.bot, context.bot_data[SERVICES_KEY])


def schedule_jobs(app: AnyApp, config: Config) -> list[Job]:
    """Register the scheduled jobs on the application's JobQueue and return them.

    Call once after `build_application` (the service and the demo); the jobs start with the
    application. The first job keeps the scheduler lease (bot/leader.py): the others run only
    while this process leads.
    """
    queue = app.job_queue
    if queue is None:
        raise RuntimeError("the JobQueue needs python-telegram-bot[job-queue]")
    store: Store = app.bot_data[SERVICES_KEY].store
    scaling = config.scaling
    leadership = Leadership(store, timedelta(seconds=scaling.lease_seconds))
    app.bot_data[SCHEDULER_KEY] = Scheduler(app, config, leadership=leadership)
    # Overlap is harmless (claims and dedupe keys) but pointless: one instance at a time, and a
    # trigger missed while the process was busy or down runs once, not once per miss.
    options = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
    jobs = [
        queue.run_repeating(_lease_job, scaling.heartbeat_seconds, first=0,
                            name="scheduler_lease", job_kwargs=options),
        queue.run_repeating(_day_start_job, TICK_SECONDS, first=1, name="day_start",
                            job_kwargs=options),
        queue.run_repeating(_plan_job, TICK_SECONDS, first=2, name="plan_reminders",
                            job_kwargs=options),
        # A long fan-out outlives the interval: a second instance is allowed so the trigger
        # does not log "skipped", and returns at once while one is draining.
        queue.run_repeating(_drain_job, config.reminders.interval_seconds, first=3,
                            name="drain_outbox", job_kwargs={**options, "max_instances": 2}),
        queue.run_repeating(sla_job, TICK_SECONDS, first=5, name="sla_check", job_kwargs=options),
        queue.run_repeating(_holds_job, TICK_SECONDS, first=7, name="expire_holds",
                            job_kwargs=options),
    ]  # fmt: skip
    clients = clients_from(config)
    if clients:
        store = app.bot_data[SERVICES_KEY].store
        app.bot_data[SHOP_SYNC_KEY] = ShopSync(store, clients)
        jobs.append(queue.run_repeating(shop_sync_job, INTERVAL_SECONDS, first=4,
                                        name="shop_sync", job_kwargs=options))  # fmt: skip
    return jobs
