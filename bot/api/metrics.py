"""Prometheus metrics and the one log line per request, from one pure ASGI middleware."""

from __future__ import annotations

import bisect
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.logs import kv
from handlers import telegram_errors
from storage import stats
from storage.store import Store

log = logging.getLogger(__name__)

# Where routes put what the request line should also say (event id, outcome, member id...).
LOG_FIELDS = "loyalty.log"
UNMATCHED = "<unmatched>"
# Any token is a method to HTTP: labels take only these, so a client cannot mint time series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class TimedCounts(Collector):
    """A counter and a latency histogram kept as plain numbers, turned into metrics at scrape.

    prometheus_client's Counter and Histogram take a lock on every increment, four a request:
    5.3 us per request and event measured, against 1.2 us for these. They are only touched
    from the event loop, one thread, so plain integers do; the scrape (GET /metrics) reads
    them on the same loop. The histogram is labelled by the first `histogram_labels` of
    the counter's labels (a request's route, not its status).
    """

    def __init__(
        self,
        counter: tuple[str, str],
        histogram: tuple[str, str],
        labels: tuple[str, ...],
        histogram_labels: int,
        buckets: tuple[float, ...] = LATENCY_BUCKETS,
    ) -> None:
        self.counter_name, self.counter_help = counter
        self.histogram_name, self.histogram_help = histogram
        self.labels = labels
        self.histogram_labels = histogram_labels
        self.bounds = buckets
        self.counts: dict[tuple[str, ...], int] = {}
        # Per label set: how many fell in each bucket (not cumulative; the last is +Inf), sum.
        self.buckets: dict[tuple[str, ...], list[int]] = {}
        self.sums: dict[tuple[str, ...], float] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        """Count one occurrence with these labels and how long it took."""
        self.counts[labels] = self.counts.get(labels, 0) + 1
        key = labels[: self.histogram_labels]
        buckets = self.buckets.get(key)
        if buckets is None:
            buckets = self.buckets[key] = [0] * (len(self.bounds) + 1)
            self.sums[key] = 0.0
        buckets[bisect.bisect_left(self.bounds, seconds)] += 1
        self.sums[key] += seconds

    def collect(self) -> list[Metric]:
        """Return the counter and the histogram families, one sample set per label set."""
        counter = CounterMetricFamily(self.counter_name, self.counter_help, labels=self.labels)
        for labels, count in sorted(self.counts.items()):
            counter.add_metric(labels, count)
        histogram = HistogramMetricFamily(
            self.histogram_name,
            self.histogram_help,
            labels=self.labels[: self.histogram_labels],
        )
        edges = [floatToGoString(bound) for bound in self.bounds] + ["+Inf"]
        for key, buckets in sorted(self.buckets.items()):
            cumulative = list(zip(edges, itertools.accumulate(buckets), strict=True))
            histogram.add_metric(key, cumulative, self.sums[key])
        return [counter, histogram]


class ApiMetrics:
    """The API's metrics in a registry of their own (tests build many apps in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = TimedCounts(
            (
                "loyalty_http_requests",
                "HTTP requests answered, by method, route template and status.",
            ),
            (
                "loyalty_http_request_duration_seconds",
                "Time from the request's arrival to the end of its answer, by route template.",
            ),
            ("method", "route", "status"),
            histogram_labels=2,
        )
        self.events = TimedCounts(
            (
                "loyalty_shop_events",
                "Shop events by type and outcome (processed, duplicate, rejected, conflict).",
            ),
            (
                "loyalty_shop_event_duration_seconds",
                "Time to validate and apply one shop event (its transaction included), by type.",
            ),
            ("type", "outcome"),
            histogram_labels=1,
        )
        self.registry.register(self.requests)
        self.registry.register(self.events)

        self.gauges = {
            name: Gauge(f"loyalty_{name}", help_, registry=self.registry)
            for name, help_ in (
                ("members", "Members of the programme."),
                ("members_linked", "Members who linked Telegram."),
                ("outbox_pending", "Notices not sent yet (some wait for quiet hours to end)."),
                ("outbox_due", "Notices due now and not sent yet: the sender's backlog."),
                ("tickets_open", "Open support tickets."),
            )
        }
        self.registry.register(TelegramErrors())

    async def refresh(self, store: Store) -> None:
        """Read the business figures into their gauges (at each scrape: one small read)."""
        found = await stats.figures(store)
        for name, value in (
            ("members", found.members),
            ("members_linked", found.linked),
            ("outbox_pending", found.outbox_pending),
            ("outbox_due", found.outbox_due),
            ("tickets_open", found.open_tickets),
        ):
            self.gauges[name].set(value)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request and how long it took."""
        self.requests.observe((method, route, str(status)), seconds)

    def event(self, type_: str, outcome: str, seconds: float) -> None:
        """Count one shop event and how long it took."""
        self.events.observe((type_, outcome), seconds)


class TelegramErrors(Collector):
    """Telegram errors by kind, as counted in this process (handlers.telegram_errors)."""

    def collect(self) -> list[CounterMetricFamily]:
        """Return the counter family, one sample per kind seen."""
        family = CounterMetricFamily(
            "loyalty_telegram_errors",
            "Telegram errors met by the bot, by kind (forbidden, retry_after, network...).",
            labels=("kind",),
        )
        for kind, value in sorted(telegram_errors.counts().items()):
            family.add_metric((kind,), value)
        return [family]


class Observe:
    """Count, time and log every request (including the ones answered by inner middleware).

    The route label is the route's template (`/api/v1/members/{member_id}`), never the raw
    path: ids in paths would make one time series per member. The log line carries method,
    route, status and duration plus what the route added (ids, never names or e-mails).
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: ApiMetrics,
        route_of: Callable[[Scope], str | None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = self.clock()
        status = 500
        fields: dict[str, Any] = {}
        scope[LOG_FIELDS] = fields

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            seconds = self.clock() - start
            method = scope["method"] if scope["method"] in METHODS else "other"
            route = self.route_of(scope) or UNMATCHED
            self.metrics.request(method, route, status, seconds)
            _log_request(method, route, status, seconds, fields)


def _log_request(
    method: str, route: str, status: int, seconds: float, fields: Mapping[str, Any]
) -> None:
    level = logging.WARNING if status >= 500 else logging.INFO
    if not log.isEnabledFor(level):
        return
    log.log(
        level,
        "request",
        extra=kv(
            event="request",
            method=method,
            route=route,
            status=status,
            ms=round(seconds * 1000, 2),
            **fields,
        ),
    )
