"""Prometheus metrics and the one log line per request, from one pure ASGI middleware."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
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


class ApiMetrics:
    """The API's metrics in a registry of their own (tests build many apps in one process)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "loyalty_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "loyalty_http_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, by route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.events = Counter(
            "loyalty_shop_events",
            "Shop events by type and outcome (processed, duplicate, rejected, conflict).",
            ("type", "outcome"),
            registry=self.registry,
        )
        self.event_latency = Histogram(
            "loyalty_shop_event_duration_seconds",
            "Time to validate and apply one shop event (its transaction included), by type.",
            ("type",),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

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

        # Each label set's counter and histogram, looked up once: `labels()` checks and locks
        # on every call, a few microseconds each, four times a request. The label sets are
        # bounded (methods, route templates, statuses, event types and outcomes).
        self._series: dict[tuple[Counter, tuple[str, ...]], tuple[Any, Any]] = {}

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
        self._observe(self.requests, (method, route, str(status)), self.latency, 2, seconds)

    def event(self, type_: str, outcome: str, seconds: float) -> None:
        """Count one shop event and how long it took."""
        self._observe(self.events, (type_, outcome), self.event_latency, 1, seconds)

    def _observe(
        self,
        counter: Counter,
        labels: tuple[str, ...],
        histogram: Histogram,
        histogram_labels: int,
        seconds: float,
    ) -> None:
        # The histogram is labelled by the first `histogram_labels` of the counter's labels.
        series = self._series.get((counter, labels))
        if series is None:
            series = self._series[counter, labels] = (
                counter.labels(*labels),
                histogram.labels(*labels[:histogram_labels]),
            )
        series[0].inc()
        series[1].observe(seconds)


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
