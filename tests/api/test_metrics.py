"""The API's own counters and histograms, as a scrape reads them."""

from __future__ import annotations

from bot.api.metrics import ApiMetrics


def test_latency_buckets_are_cumulative_and_include_their_bound() -> None:
    metrics = ApiMetrics()
    for seconds in (0.001, 0.0011, 0.2, 7.0):
        metrics.request("GET", "/healthz", 200, seconds)
    metrics.request("GET", "/healthz", 503, 0.004)

    def bucket(le: str) -> float | None:
        labels = {"method": "GET", "route": "/healthz", "le": le}
        return metrics.registry.get_sample_value(
            "loyalty_http_request_duration_seconds_bucket", labels
        )

    assert [bucket(le) for le in ("0.001", "0.0025", "0.005", "0.25", "5.0", "+Inf")] == [
        1.0, 2.0, 3.0, 4.0, 4.0, 5.0
    ]  # fmt: skip
    route = {"method": "GET", "route": "/healthz"}
    value = metrics.registry.get_sample_value
    assert value("loyalty_http_request_duration_seconds_count", route) == 5.0
    assert abs((value("loyalty_http_request_duration_seconds_sum", route) or 0) - 7.2061) < 1e-9
    assert value("loyalty_http_requests_total", {**route, "status": "200"}) == 4.0
    assert value("loyalty_http_requests_total", {**route, "status": "503"}) == 1.0


def test_event_counts_by_type_and_outcome_and_times_by_type() -> None:
    metrics = ApiMetrics()
    metrics.event("order.paid", "processed", 0.002)
    metrics.event("order.paid", "duplicate", 0.001)
    value = metrics.registry.get_sample_value
    labels = {"type": "order.paid", "outcome": "duplicate"}
    assert value("loyalty_shop_events_total", labels) == 1.0
    assert value("loyalty_shop_event_duration_seconds_count", {"type": "order.paid"}) == 2.0
    assert value("loyalty_shop_events_total", {"type": "order.refunded", "outcome": "x"}) is None
