"""POST /connectors/woocommerce and POST /connectors/shopify: signed webhooks in.

Each delivery is checked against the platform's signature (base64 HMAC-SHA256 of the raw
body), recorded once by its delivery id and its content, and applied in one transaction. A bad
or missing signature is 401 and changes nothing. A delivery the programme cannot use (a guest
order, another currency, an unknown topic) is 200, so the platform does not retry it forever,
and is recorded and counted with its reason.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.api.context import api, note
from bot.api.errors import ApiError
from bot.api.limits import BODY
from bot.connectors import shopify, woocommerce
from bot.connectors.mapping import Mapped, Unusable, digest, parse_json, signed
from bot.connectors.settings import ConnectorsConfig
from bot.logs import kv
from storage.connectors import Delivery, Receipt, receive

log = logging.getLogger(__name__)


class ConnectorMetrics:
    """Deliveries by platform and outcome, and the reasons of those the programme ignored."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.deliveries = Counter(
            "loyalty_connector_deliveries",
            "Webhook deliveries from shop platforms by platform and outcome (processed, "
            "ignored, duplicate, forged, ping).",
            ("platform", "outcome"),
            registry=registry,
        )
        self.ignored = Counter(
            "loyalty_connector_ignored",
            "Deliveries the programme could not use, by platform and reason (guest, currency, "
            "topic, payload, refused).",
            ("platform", "reason"),
            registry=registry,
        )


@dataclass(frozen=True)
class Connectors:
    """The enabled connectors' settings and webhook secrets, for the routes."""

    config: ConnectorsConfig
    secrets: Mapping[str, str]  # platform -> webhook secret
    currency: str
    metrics: ConnectorMetrics

    @classmethod
    def build(
        cls,
        config: ConnectorsConfig,
        currency: str,
        registry: CollectorRegistry,
        environ: Mapping[str, str] | None = None,
    ) -> Connectors:
        """Read the enabled connectors' secrets from the environment (missing: not served)."""
        env = os.environ if environ is None else environ
        secrets = {}
        if config.woocommerce.enabled:
            secrets[woocommerce.PLATFORM] = env.get(config.woocommerce.secret_env, "")
        if config.shopify.enabled:
            secrets[shopify.PLATFORM] = env.get(config.shopify.secret_env, "")
        for platform, secret in secrets.items():
            if not secret:
                # Served, but every delivery is refused (503) until the secret is set.
                event = kv(event="connector_secret_missing", platform=platform)
                log.warning("connector secret missing", extra=event)
        return cls(config, secrets, currency, ConnectorMetrics(registry))


def connectors(request: Request) -> Connectors:
    """Return the app's connectors (set by `build_api`)."""
    found: Connectors | None = getattr(request.app.state, "connectors", None)
    if found is None:
        raise ApiError(404, "connectors are not configured")
    return found


def _secret(found: Connectors, platform: str, name: str) -> str:
    secret = found.secrets.get(platform)
    if secret is None:
        raise ApiError(404, f"the {name} connector is off ([connectors.{platform}] enabled)")
    if not secret:
        # Enabled without its secret: nothing can be verified, so nothing is accepted.
        raise ApiError(503, f"the {name} webhook secret is not set", code="unavailable")
    return secret


async def _handle(
    request: Request,
    found: Connectors,
    platform: str,
    topic: str,
    delivery_id: str,
    mapper: Callable[[Mapping[str, Any]], Mapped],
) -> Response:
    body: bytes = request.scope[BODY]
    content = digest(body)
    delivery = Delivery(platform, delivery_id[:128] or content, topic, content)
    note(request, platform=platform, topic=topic[:60])
    try:
        mapped = mapper(parse_json(body))
    except Unusable as exc:
        receipt = await receive(api(request).store, delivery, ignored=exc.message)
        if receipt.outcome == "ignored":
            found.metrics.ignored.labels(platform, exc.kind).inc()
    else:
        receipt = await receive(
            api(request).store, delivery, events=mapped.events, codes=mapped.codes,
            customer=mapped.customer,
        )  # fmt: skip
        if receipt.outcome == "ignored":
            found.metrics.ignored.labels(platform, "refused").inc()
    return _answer(request, found, platform, receipt)


def _answer(request: Request, found: Connectors, platform: str, receipt: Receipt) -> Response:
    found.metrics.deliveries.labels(platform, receipt.outcome).inc()
    note(request, outcome=receipt.outcome)
    return JSONResponse(receipt.to_dict())


def _forged(request: Request, found: Connectors, platform: str) -> ApiError:
    found.metrics.deliveries.labels(platform, "forged").inc()
    note(request, platform=platform, outcome="forged")
    return ApiError(401, "the webhook signature is missing or wrong", code="bad_signature")


async def post_woocommerce(request: Request) -> Response:
    """Take one WooCommerce webhook delivery (`X-WC-Webhook-*` headers)."""
    found = connectors(request)
    secret = _secret(found, woocommerce.PLATFORM, "WooCommerce")
    body: bytes = request.scope[BODY]
    signature = request.headers.get("x-wc-webhook-signature")
    if woocommerce.is_ping(body, signature):
        # Sent once when the webhook is saved, unsigned: it must get a 2xx or WooCommerce
        # will not activate the webhook. It carries nothing to apply.
        found.metrics.deliveries.labels(woocommerce.PLATFORM, "ping").inc()
        note(request, platform=woocommerce.PLATFORM, outcome="ping")
        return JSONResponse(Receipt("ping").to_dict())
    if not signed(secret, body, signature):
        raise _forged(request, found, woocommerce.PLATFORM)
    config = found.config.woocommerce
    topic = request.headers.get("x-wc-webhook-topic", "")
    return await _handle(
        request, found, woocommerce.PLATFORM, topic,
        request.headers.get("x-wc-webhook-delivery-id", ""),
        lambda payload: woocommerce.map_delivery(config, found.currency, topic, payload),
    )  # fmt: skip


async def post_shopify(request: Request) -> Response:
    """Take one Shopify webhook delivery (`X-Shopify-*` headers)."""
    found = connectors(request)
    secret = _secret(found, shopify.PLATFORM, "Shopify")
    body: bytes = request.scope[BODY]
    if not signed(secret, body, request.headers.get("x-shopify-hmac-sha256")):
        raise _forged(request, found, shopify.PLATFORM)
    config = found.config.shopify
    topic = request.headers.get("x-shopify-topic", "")
    return await _handle(
        request, found, shopify.PLATFORM, topic,
        request.headers.get("x-shopify-webhook-id", ""),
        lambda payload: shopify.map_delivery(config, found.currency, topic, payload),
    )  # fmt: skip
