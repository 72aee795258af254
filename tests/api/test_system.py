"""Authentication, health, metrics, error rendering, the Telegram webhook and the log lines."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from telegram import Bot, Update

from bot.api import limits
from bot.logs import KeyValueFormatter
from bot.service import parse_update
from loyalty.clock import ManualClock
from loyalty.loader import load_program
from storage.store import Store
from tests.api.conftest import API_KEY, Shop, app_for, client_for, error
from tests.conftest import StoreOpener, open_store


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY},
     {"Authorization": f"Basic {API_KEY}"}, {"Authorization": f"Bearer {API_KEY}x"}],
)  # fmt: skip
async def test_every_api_request_needs_the_bearer_key(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    client.headers.pop("Authorization")
    requests = [
        ("GET", "/api/v1/members/m-1"),
        ("POST", "/api/v1/events"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/no-such-thing"),
    ]
    for method, path in requests:
        response = await client.request(method, path, headers=headers, json={})
        assert error(response, 401)["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_the_key_is_compared_in_constant_time(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = limits.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(limits.hmac, "compare_digest", spy)
    await client.get("/api/v1/members/m-1", headers={"Authorization": "Bearer guess"})
    assert calls == [(b"guess", API_KEY.encode())]
    lower = await client.get(
        "/api/v1/openapi.json", headers={"Authorization": f"bearer  {API_KEY}"}
    )
    assert lower.status_code == 200


async def test_health_and_metrics_need_no_key(client: httpx.AsyncClient) -> None:
    client.headers.pop("Authorization")
    health = await client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok", "database": "ok"})
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


async def test_health_is_503_when_the_database_does_not_answer(
    tmp_path: Path, clock: ManualClock
) -> None:
    store = await open_store(tmp_path / "gone.db", load_program({"preset": "marketplace"}), clock)
    async with client_for(app_for(store)) as client:
        assert (await client.get("/healthz")).status_code == 200
        await store.close()
        assert error(await client.get("/healthz"), 503)["code"] == "unavailable"


async def test_metrics_count_requests_by_route_template_and_status(shop: Shop) -> None:
    await shop.member("m-1")
    await shop.card("m-1")
    await shop.client.get("/api/v1/members/m-2")
    await shop.client.get("/api/v1/members/m-1", headers={"Authorization": "Bearer no"})
    for method in ("BREW", "TRACE"):
        await shop.client.request(method, "/api/v1/events")
    text = (await shop.client.get("/metrics")).text
    assert 'method="other",route="/api/v1/events",status="405"} 2.0' in text
    for line in (
        'loyalty_http_requests_total{method="GET",route="/api/v1/members/{member_id}",'
        'status="200"} 1.0',
        'loyalty_http_requests_total{method="GET",route="/api/v1/members/{member_id}",'
        'status="404"} 1.0',
        'loyalty_http_requests_total{method="GET",route="/api/v1/members/{member_id}",'
        'status="401"} 1.0',
        'loyalty_http_requests_total{method="POST",route="/api/v1/events",status="200"} 1.0',
        'loyalty_http_request_duration_seconds_count{method="POST",route="/api/v1/events"} 1.0',
    ):
        assert line in text, line
    assert "m-1" not in text and "m-2" not in text  # no ids as labels


async def test_each_app_has_its_own_registry_unless_given_one(store: Store) -> None:
    shared = CollectorRegistry()
    for _ in range(2):
        async with client_for(app_for(store, metrics_registry=None)) as client:
            await client.get("/healthz")
            assert 'route="/healthz",status="200"} 1.0' in (await client.get("/metrics")).text
    async with client_for(app_for(store, metrics_registry=shared)) as client:
        await client.get("/healthz")
    assert (
        shared.get_sample_value(
            "loyalty_http_requests_total", {"method": "GET", "route": "/healthz", "status": "200"}
        )
        == 1.0
    )


async def test_unknown_paths_and_methods_answer_in_the_error_format(
    client: httpx.AsyncClient,
) -> None:
    assert error(await client.get("/nowhere"), 404)["code"] == "not_found"
    assert error(await client.get("/api/v1/nowhere"), 404)["code"] == "not_found"
    assert error(await client.get("/api/v1/members/m-1/"), 404)["code"] == "not_found"
    response = await client.delete("/api/v1/events")
    assert error(response, 405)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


async def test_the_openapi_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json()["openapi"] == "3.1.0"


async def test_webhook_is_404_unless_configured(client: httpx.AsyncClient) -> None:
    response = await client.post("/telegram/webhook", json={"update_id": 1})
    assert error(response, 404)["code"] == "not_found"


async def test_webhook_checks_the_secret_and_passes_updates_on(store: Store) -> None:
    received: list[dict[str, Any]] = []

    async def on_update(update: dict[str, Any]) -> None:
        received.append(update)

    app = app_for(store, telegram_webhook=on_update, webhook_secret="s3cret")
    async with client_for(app) as client:
        client.headers.pop("Authorization")  # Telegram does not know the shop's key
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            response = await client.post(
                "/telegram/webhook", json={"update_id": 1}, headers=headers
            )
            assert error(response, 403)["code"] == "forbidden"
        good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        response = await client.post("/telegram/webhook", json={"update_id": 7}, headers=good)
        assert response.status_code == 200
        bad = await client.post("/telegram/webhook", json=[1], headers=good)
        assert error(bad, 422)["code"] == "invalid"
    assert received == [{"update_id": 7}]
    with pytest.raises(ValueError, match="secret"):
        app_for(store, telegram_webhook=on_update)


async def test_a_redelivered_update_is_taken_once_by_any_of_two_workers(
    store: Store, stores: StoreOpener
) -> None:
    received: list[tuple[str, dict[str, Any]]] = []

    def worker(name: str) -> Any:
        async def on_update(update: dict[str, Any]) -> None:
            received.append((name, update))

        return on_update

    other = await stores.another(store)  # another process on the same database
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    try:
        one = app_for(store, telegram_webhook=worker("one"), webhook_secret="s3cret")
        two = app_for(other, telegram_webhook=worker("two"), webhook_secret="s3cret")
        async with client_for(one) as first, client_for(two) as second:
            for client in (first, second, first):
                response = await client.post(
                    "/telegram/webhook", json={"update_id": 9}, headers=good
                )
                assert response.status_code == 200  # Telegram stops redelivering
            await second.post("/telegram/webhook", json={"update_id": 10}, headers=good)
    finally:
        await other.close()
    assert received == [("one", {"update_id": 9}), ("two", {"update_id": 10})]


async def test_webhook_answers_400_to_json_that_is_not_an_update(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """With the right secret, `{}` and `{"update_id": 2, "message": 5}` were a 500."""
    bot = Bot("123:" + "a" * 35)  # de_json only needs a bot to attach; nothing is called
    queued: list[Update] = []

    async def push(update: dict[str, Any]) -> None:  # what the service does (bot.service)
        queued.append(parse_update(update, bot))

    app = app_for(store, telegram_webhook=push, webhook_secret="s3cret")
    caplog.set_level(logging.WARNING, logger="bot.api.routes.system")
    good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    async with client_for(app) as client:
        for body in ({}, {"update_id": 2, "message": 5}, {"update_id": "2"},
                     {"update_id": 3, "message": {"message_id": 1}},
                     {"update_id": 4, "callback_query": [1]}):  # fmt: skip
            response = await client.post("/telegram/webhook", json=body, headers=good)
            assert error(response, 400)["code"] == "malformed_update", body
        fine = await client.post("/telegram/webhook", json={"update_id": 9}, headers=good)
        assert fine.status_code == 200
    assert [u.update_id for u in queued] == [9]
    logged = [r for r in caplog.records if getattr(r, "kv", {}).get("event")]
    assert [r.kv["event"] for r in logged] == ["webhook_malformed_update"] * 5


async def test_one_structured_line_per_request_without_personal_data(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.api.metrics")
    await shop.send("member.upserted", "evt-42", member_id="m-7", email="ann@example.com",
                    name="Ann Example")  # fmt: skip
    await shop.client.get("/api/v1/members/m-7")
    lines = [KeyValueFormatter().format(r) for r in caplog.records if r.name == "bot.api.metrics"]
    assert len(lines) == 2
    assert " msg=request event=request method=POST route=/api/v1/events status=200 ms=" in lines[0]
    assert lines[0].endswith("event_id=evt-42 type=member.upserted outcome=processed member_id=m-7")
    assert "route=/api/v1/members/{member_id} status=200" in lines[1]
    assert lines[1].endswith("member_id=m-7")
    joined = "\n".join(lines)
    assert "ann@example.com" not in joined and "Ann" not in joined


async def test_metrics_show_the_business_and_telegram_errors(shop: Shop, store: Store) -> None:
    from telegram.error import BadRequest, Forbidden, RetryAfter

    from handlers import telegram_errors
    from storage import links, outbox, tickets

    await shop.member("m-1")
    await shop.member("m-2")
    token = await links.create_token(store, "m-1")
    await links.consume_token(store, token.token, 501)
    await tickets.open_or_get(store, 501, display_name="Ann", member_id="m-1")
    later = store.now() + timedelta(hours=3)

    def queue(conn) -> None:
        outbox.notify(conn, "m-1", "broadcast", "b:1", {"text": "x"}, store.now())
        outbox.notify(conn, "m-1", "broadcast", "b:2", {"text": "y"}, store.now(), due_at=later)

    await store.db.write(queue)
    before = telegram_errors.counts()
    for failure in (Forbidden("blocked"), Forbidden("blocked"), RetryAfter(3), BadRequest("x")):
        telegram_errors.count(failure)
    text = (await shop.client.get("/metrics")).text
    for line in (
        "loyalty_members 2.0",
        "loyalty_members_linked 1.0",
        "loyalty_outbox_pending 2.0",
        "loyalty_outbox_due 1.0",
        "loyalty_tickets_open 1.0",
    ):
        assert line in text, line
    for kind, added in (("forbidden", 2), ("retry_after", 1), ("bad_request", 1)):
        value = float(before.get(kind, 0) + added)
        assert f'loyalty_telegram_errors_total{{kind="{kind}"}} {value}' in text, kind
