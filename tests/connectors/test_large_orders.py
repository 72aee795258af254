"""A platform's order webhook may pass the shop API's 64 KiB: the connectors take up to 1 MiB."""

from __future__ import annotations

import httpx

from bot.api.limits import CONNECTOR_MAX_BODY
from storage import members
from storage.store import Store
from tests.api.conftest import API_KEY, error
from tests.api.proxy_kit import Proxied, answer_to
from tests.api.test_proxy import proxied  # noqa: F401 (a fixture)
from tests.connectors.conftest import Platforms, sample


def big_order(lines: int) -> dict[str, object]:
    """Sample order 723 with many line items: about 500 bytes each."""
    order = {**sample("wc_order_723"), "refunds": []}
    item = order["line_items"][0]  # type: ignore[index]
    order["line_items"] = [{**item, "id": n, "total": "1.00"} for n in range(lines)]
    return order


async def test_a_large_order_webhook_is_taken_and_a_larger_one_refused(
    wc: Platforms, wc_store: Store
) -> None:
    answer = await wc.wc("order.updated", big_order(400))  # ~190 KiB
    assert len(answer.request.content) > 65_536
    assert answer.status_code == 200 and answer.json()["outcome"] == "processed", answer.text
    assert (await members.view(wc_store, "wc-26")).points == 400 + 5
    huge = await wc.client.post(
        "/connectors/woocommerce", content=b" " * (CONNECTOR_MAX_BODY + 1),
        headers={"X-WC-Webhook-Signature": "x"},
    )  # fmt: skip
    assert error(huge, 413)["code"] == "body_too_large"
    # The shop API keeps its own limit.
    events = await wc.client.post("/api/v1/events", content=b" " * 70_000,
                                  headers={"Authorization": f"Bearer {API_KEY}"})  # fmt: skip
    assert events.status_code == 413


async def test_the_proxy_passes_a_large_webhook_to_the_app(proxied: Proxied) -> None:  # noqa: F811
    body = b'{"id": 1, "pad": "' + b"x" * 200_000 + b'"}'
    head = (
        b"POST /connectors/woocommerce HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    answer = await answer_to(proxied, head, body)
    # Through nginx to the app, which has no connector configured here: its 404, not a 413.
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]
    assert proxied.seen.paths == ["/connectors/woocommerce"]
    async with httpx.AsyncClient(base_url=proxied.url) as client:
        too_big = await client.post("/connectors/woocommerce", content=b"x" * (2 * 1_048_576))
        assert too_big.status_code == 413
