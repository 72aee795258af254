"""The platforms' APIs for coupons: WooCommerce REST v3 and Shopify Admin GraphQL, over httpx.

Each call ends one of three ways: it worked; `Transient` (the platform is down, slow, throttling
or rejects our credentials: try again later, never give up); `Refusal` (the platform says no to
this coupon for good). Creating a code the shop already has is `Exists`: an earlier try that
timed out may have succeeded, so the caller looks the code up and adopts it, never making two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx

from bot.connectors.settings import ShopifyConfig, WooCommerceConfig
from storage.shop_tasks import ShopTask

RETRY_STATUSES = frozenset({401, 403, 408, 409, 423, 425, 429})


class Transient(Exception):
    """Try again later; `retry_after` is the platform's own wait, when it gave one."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Refusal(Exception):
    """The platform refuses this request for good."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Exists(Exception):
    """The shop already has a coupon with this code."""


@dataclass(frozen=True)
class Check:
    """What `connectors check` found: what works, and what is missing."""

    platform: str
    ok: list[str]
    missing: list[str]


class ShopClient(Protocol):
    """What the sync job and the check need of a platform."""

    platform: str

    async def create_coupon(self, http: httpx.AsyncClient, task: ShopTask) -> str:
        """Create the coupon; return its id in the shop."""
        ...

    async def find_coupon(self, http: httpx.AsyncClient, code: str) -> str | None:
        """Return the shop's id of a code, or None."""
        ...

    async def delete_coupon(self, http: httpx.AsyncClient, ref: str) -> None:
        """Remove a coupon (already gone is fine)."""
        ...

    async def check(self, http: httpx.AsyncClient, currency: str) -> Check:
        """Call the platform with the configured credentials and say what is missing."""
        ...


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


async def _send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """Make one call; a network failure or timeout is Transient (it may have happened)."""
    try:
        return await http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise Transient("timed out") from None
    except httpx.TransportError as exc:
        raise Transient(f"unreachable ({type(exc).__name__})") from None


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _utc(instant: datetime | None) -> str | None:
    """Return an instant as the naive UTC text WooCommerce's *_gmt fields take."""
    if instant is None:
        return None
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds")


def _amount(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


class WooCommerce:
    """WooCommerce REST API v3, with a REST API key (HTTP Basic over https)."""

    platform = "woocommerce"

    def __init__(
        self, config: WooCommerceConfig, key: str, secret: str, *, timeout: float | None = None
    ) -> None:
        self.base = f"{config.store_url}/wp-json/wc/v3"
        self.auth = httpx.BasicAuth(key, secret)
        self.timeout = timeout or config.timeout_seconds

    async def _call(
        self, http: httpx.AsyncClient, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        response = await _send(
            http, method, f"{self.base}{path}", auth=self.auth, timeout=self.timeout, **kwargs
        )
        if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
            raise Transient(f"HTTP {response.status_code}", _retry_after(response))
        return response

    async def create_coupon(self, http: httpx.AsyncClient, task: ShopTask) -> str:
        """POST /coupons: fixed cart, one use, our expiry, only for the member's e-mail."""
        body: dict[str, Any] = {
            "code": task.code,
            "discount_type": "fixed_cart",
            "amount": _amount(task.value_cents),
            "individual_use": False,
            "usage_limit": 1,
            "usage_limit_per_user": 1,
            "date_expires_gmt": _utc(task.expires_at),
            "description": f"Loyalty coupon of member {task.member_id}",
        }
        if task.email:
            body["email_restrictions"] = [task.email]
        response = await self._call(http, "POST", "/coupons", json=body)
        found = _json(response)
        if response.status_code in (200, 201) and isinstance(found, Mapping) and "id" in found:
            return str(found["id"])
        code = found.get("code") if isinstance(found, Mapping) else None
        if code == "woocommerce_rest_coupon_code_already_exists":
            raise Exists()
        message = found.get("message") if isinstance(found, Mapping) else None
        raise Refusal(f"HTTP {response.status_code} {code or ''} {message or ''}".strip())

    async def find_coupon(self, http: httpx.AsyncClient, code: str) -> str | None:
        """GET /coupons?code=: WooCommerce keeps codes in lower case and matches any case."""
        response = await self._call(http, "GET", "/coupons", params={"code": code})
        found = _json(response)
        if response.status_code == 200 and isinstance(found, list):
            for item in found:
                if isinstance(item, Mapping) and str(item.get("code", "")).upper() == code.upper():
                    return str(item["id"])
            return None
        raise Transient(f"HTTP {response.status_code} looking the code up")

    async def delete_coupon(self, http: httpx.AsyncClient, ref: str) -> None:
        """DELETE /coupons/<id>?force=true (coupons have no trash); 404 means already gone."""
        response = await self._call(http, "DELETE", f"/coupons/{ref}", params={"force": "true"})
        if response.status_code in (200, 404, 410):
            return
        raise Refusal(f"HTTP {response.status_code} deleting coupon {ref}")

    async def check(self, http: httpx.AsyncClient, currency: str) -> Check:
        """Read the coupons and the webhooks with the key: credentials, scope, subscriptions."""
        ok: list[str] = []
        missing: list[str] = []
        try:
            coupons = await _send(http, "GET", f"{self.base}/coupons", auth=self.auth,
                                  params={"per_page": 1}, timeout=self.timeout)  # fmt: skip
        except Transient as exc:
            return Check(self.platform, ok, [f"the store cannot be reached: {exc.reason}"])
        if coupons.status_code in (401, 403):
            missing.append("the REST API key is refused: create one with Read/Write access")
            return Check(self.platform, ok, missing)
        if coupons.status_code != 200:
            missing.append(f"GET /wp-json/wc/v3/coupons answered HTTP {coupons.status_code}")
            return Check(self.platform, ok, missing)
        ok.append("the REST API key reads coupons")
        hooks = await _send(http, "GET", f"{self.base}/webhooks", auth=self.auth,
                            params={"per_page": 100}, timeout=self.timeout)  # fmt: skip
        listed = _json(hooks) if hooks.status_code == 200 else None
        if not isinstance(listed, list):
            missing.append(f"the webhooks cannot be listed (HTTP {hooks.status_code})")
            return Check(self.platform, ok, missing)
        active = {
            str(h.get("topic"))
            for h in listed
            if isinstance(h, Mapping)
            and h.get("status") == "active"
            and str(h.get("delivery_url", "")).rstrip("/").endswith("/connectors/woocommerce")
        }
        for topic in ("order.created", "order.updated", "customer.created", "customer.updated"):
            if topic in active:
                ok.append(f"webhook {topic} is active")
            else:
                missing.append(f"no active webhook {topic} to .../connectors/woocommerce")
        return Check(self.platform, ok, missing)


CREATE = """mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""
FIND = """query codeDiscountNodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) { id }
}"""
DELETE = """mutation discountCodeDelete($id: ID!) {
  discountCodeDelete(id: $id) {
    deletedCodeDiscountId
    userErrors { field code message }
  }
}"""
CHECK = """query loyaltyCheck {
  shop { name currencyCode }
  currentAppInstallation { accessScopes { handle } }
  webhookSubscriptions(first: 50) {
    edges { node { topic endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } } } }
  }
}"""
SCOPES = ("read_orders", "read_customers", "write_discounts")
CONTEXT_SINCE = "2025-10"  # the Admin API version that replaced customerSelection by context
WEBHOOK_TOPICS = (
    "ORDERS_CREATE", "ORDERS_PAID", "ORDERS_FULFILLED", "ORDERS_CANCELLED", "REFUNDS_CREATE",
    "CUSTOMERS_CREATE", "CUSTOMERS_UPDATE",
)  # fmt: skip


class Shopify:
    """Shopify Admin GraphQL API, with a custom app's access token."""

    platform = "shopify"

    def __init__(
        self,
        config: ShopifyConfig,
        token: str,
        *,
        base_url: str | None = None,
        timeout: float | None = None,
    ) -> None:
        base = base_url or f"https://{config.shop_domain}"
        self.url = f"{base}/admin/api/{config.api_version}/graphql.json"
        self.headers = {"X-Shopify-Access-Token": token}
        self.timeout = timeout or config.timeout_seconds
        self.eligibility = "context" if config.api_version >= CONTEXT_SINCE else "customerSelection"

    async def _query(
        self, http: httpx.AsyncClient, query: str, variables: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        response = await _send(http, "POST", self.url, headers=self.headers, timeout=self.timeout,
                               json={"query": query, "variables": dict(variables)})  # fmt: skip
        if response.status_code >= 500 or response.status_code in RETRY_STATUSES:
            raise Transient(f"HTTP {response.status_code}", _retry_after(response))
        found = _json(response)
        if response.status_code != 200 or not isinstance(found, Mapping):
            raise Refusal(f"HTTP {response.status_code}")
        errors = found.get("errors")
        if errors:
            codes = {
                str(e.get("extensions", {}).get("code", ""))
                for e in errors
                if isinstance(e, Mapping)
            }
            if "THROTTLED" in codes or "INTERNAL_SERVER_ERROR" in codes:
                raise Transient("throttled" if "THROTTLED" in codes else "server error")
            raise Refusal(f"GraphQL errors: {', '.join(sorted(codes)) or 'unknown'}")
        data = found.get("data")
        return data if isinstance(data, Mapping) else {}

    async def create_coupon(self, http: httpx.AsyncClient, task: ShopTask) -> str:
        """discountCodeBasicCreate: a fixed amount off, once, for that customer, until expiry."""
        discount = {
            "title": f"Loyalty coupon {task.code}",
            "code": task.code,
            "startsAt": task.issued_at.isoformat() if task.issued_at else None,
            "endsAt": task.expires_at.isoformat() if task.expires_at else None,
            "usageLimit": 1,
            "appliesOncePerCustomer": True,
            # Since 2025-10 `context` names who may use it (`customerSelection` is deprecated).
            self.eligibility: {
                "customers": {"add": [f"gid://shopify/Customer/{task.customer_id}"]}
            },
            "customerGets": {
                "value": {
                    "discountAmount": {
                        "amount": _amount(task.value_cents),
                        "appliesOnEachItem": False,
                    }
                },
                "items": {"all": True},
            },
        }
        data = await self._query(http, CREATE, {"basicCodeDiscount": discount})
        result = data.get("discountCodeBasicCreate") or {}
        errors = result.get("userErrors") or []
        if any(isinstance(e, Mapping) and e.get("code") == "TAKEN" for e in errors):
            raise Exists()
        node = result.get("codeDiscountNode")
        if not errors and isinstance(node, Mapping) and node.get("id"):
            return str(node["id"])
        shown = "; ".join(str(e.get("message")) for e in errors if isinstance(e, Mapping))
        raise Refusal(shown or "no discount was created")

    async def find_coupon(self, http: httpx.AsyncClient, code: str) -> str | None:
        """codeDiscountNodeByCode: the discount that has this code (any case), if any."""
        data = await self._query(http, FIND, {"code": code})
        node = data.get("codeDiscountNodeByCode")
        return str(node["id"]) if isinstance(node, Mapping) and node.get("id") else None

    async def delete_coupon(self, http: httpx.AsyncClient, ref: str) -> None:
        """discountCodeDelete; a discount that no longer exists counts as deleted."""
        data = await self._query(http, DELETE, {"id": ref})
        result = data.get("discountCodeDelete") or {}
        errors = [e for e in result.get("userErrors") or [] if isinstance(e, Mapping)]
        if errors and not any("not exist" in str(e.get("message", "")).lower() for e in errors):
            raise Refusal("; ".join(str(e.get("message")) for e in errors))

    async def check(self, http: httpx.AsyncClient, currency: str) -> Check:
        """Ask the shop its currency, the token's scopes and the webhook subscriptions."""
        ok: list[str] = []
        missing: list[str] = []
        try:
            data = await self._query(http, CHECK, {})
        except Transient as exc:
            return Check(self.platform, ok, [f"the shop cannot be reached: {exc.reason}"])
        except Refusal as exc:
            return Check(self.platform, ok, [f"the access token is refused ({exc.reason})"])
        shop = data.get("shop") or {}
        ok.append(f"the access token works for {shop.get('name', '?')}")
        if shop.get("currencyCode") == currency:
            ok.append(f"the shop's currency is the programme's ({currency})")
        else:
            missing.append(
                f"the shop's currency is {shop.get('currencyCode')}, the programme's {currency}"
            )
        scopes = {
            s.get("handle")
            for s in (data.get("currentAppInstallation") or {}).get("accessScopes") or []
            if isinstance(s, Mapping)
        }
        for scope in SCOPES:
            (ok if scope in scopes else missing).append(
                f"scope {scope}" + ("" if scope in scopes else " is not granted to the app")
            )
        subscribed = set()
        for edge in (data.get("webhookSubscriptions") or {}).get("edges") or []:
            node = edge.get("node") if isinstance(edge, Mapping) else None
            if not isinstance(node, Mapping):
                continue
            url = str((node.get("endpoint") or {}).get("callbackUrl", ""))
            if url.rstrip("/").endswith("/connectors/shopify"):
                subscribed.add(node.get("topic"))
        for topic in WEBHOOK_TOPICS:
            if topic in subscribed:
                ok.append(f"webhook {topic} is subscribed")
            else:
                missing.append(f"no webhook subscription {topic} to .../connectors/shopify")
        return Check(self.platform, ok, missing)
