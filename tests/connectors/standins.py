"""Stand-in WooCommerce and Shopify APIs on loopback, strict about the documented request shapes.

Each keeps its coupons, logs every call, and can be switched to fail as real platforms do:
`down` (503), `throttled` (GraphQL THROTTLED), `lost` (the coupon is created but the answer
never comes: the caller times out and cannot know it happened), `hang` (no answer at all:
the caller times out), `refuse` (a validation error, for good).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ISO_GMT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")
AMOUNT = re.compile(r"^\d+\.\d\d$")


@dataclass
class Standin:
    """What both stand-ins share: coupons by id, the call log, the failure mode."""

    mode: str = "up"
    coupons: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # shape violations seen
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def by_code(self, code: str) -> tuple[str, dict[str, Any]] | None:
        """Return (id, coupon) for a code, any case, as both platforms match codes."""
        for key, coupon in self.coupons.items():
            if coupon["code"].lower() == code.lower():
                return key, coupon
        return None

    async def fail_first(self) -> Response | None:
        """Answer as the current failure mode does before any work, or None to go on."""
        if self.mode == "down":
            return JSONResponse({"message": "Service Unavailable"}, status_code=503)
        if self.mode == "hang":
            await self.released.wait()  # until the test ends: the client times out first
        return None


def _basic(request: Request) -> tuple[str, str] | None:
    scheme, _, raw = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    user, _, password = base64.b64decode(raw).decode().partition(":")
    return user, password


class WooCommerceStandin(Standin):
    """`/wp-json/wc/v3/coupons` and `/webhooks` as the REST API v3 documents them."""

    key = "ck_test"
    secret = "cs_test"

    def app(self) -> Starlette:
        """Return the ASGI app."""
        return Starlette(routes=[
            Route("/wp-json/wc/v3/coupons", self.coupons_route, methods=["GET", "POST"]),
            Route("/wp-json/wc/v3/coupons/{id}", self.delete, methods=["DELETE"]),
            Route("/wp-json/wc/v3/webhooks", self.webhooks, methods=["GET"]),
        ])  # fmt: skip

    def _auth(self, request: Request) -> Response | None:
        if _basic(request) != (self.key, self.secret):
            return JSONResponse({"code": "woocommerce_rest_cannot_view", "message": "no"}, 401)
        return None

    async def coupons_route(self, request: Request) -> Response:
        self.calls.append((request.method, request.url.path))
        refused = self._auth(request) or await self.fail_first()
        if refused is not None:
            return refused
        if request.method == "GET":
            code = request.query_params.get("code", "")
            found = self.by_code(code) if code else None
            return JSONResponse([found[1]] if found else [])
        body = await request.json()
        problems = self._shape(body)
        if problems or self.mode == "refuse":
            self.problems.extend(problems)
            return JSONResponse({"code": "rest_invalid_param", "message": "Invalid parameter(s)",
                                 "data": {"status": 400, "params": problems}}, 400)  # fmt: skip
        if self.by_code(body["code"]) is not None:
            return JSONResponse({"code": "woocommerce_rest_coupon_code_already_exists",
                                 "message": "The coupon code already exists",
                                 "data": {"status": 400}}, 400)  # fmt: skip
        key = str(next(self.ids))
        # WooCommerce keeps coupon codes in lower case (wc_format_coupon_code).
        self.coupons[key] = {**body, "id": int(key), "code": body["code"].lower()}
        if self.mode == "lost":
            self.mode = "up"
            await self.released.wait()  # created, but the answer never leaves
        return JSONResponse(self.coupons[key], status_code=201)

    def _shape(self, body: Any) -> list[str]:
        wanted = {
            "code": lambda v: isinstance(v, str) and v,
            "discount_type": lambda v: v == "fixed_cart",
            "amount": lambda v: isinstance(v, str) and AMOUNT.match(v),
            "usage_limit": lambda v: v == 1,
            "usage_limit_per_user": lambda v: v == 1,
            "date_expires_gmt": lambda v: isinstance(v, str) and ISO_GMT.match(v),
            "email_restrictions": lambda v: isinstance(v, list) and len(v) == 1 and "@" in v[0],
        }
        if not isinstance(body, dict):
            return ["body"]
        return [key for key, ok in wanted.items() if not ok(body.get(key))]

    async def delete(self, request: Request) -> Response:
        self.calls.append((request.method, request.url.path))
        refused = self._auth(request) or await self.fail_first()
        if refused is not None:
            return refused
        if request.query_params.get("force") != "true":
            self.problems.append("delete without force=true")
            return JSONResponse({"code": "woocommerce_rest_trash_not_supported"}, 501)
        found = self.coupons.pop(request.path_params["id"], None)
        if found is None:
            invalid = {"code": "woocommerce_rest_shop_coupon_invalid_id", "message": "Invalid ID."}
            return JSONResponse({**invalid, "data": {"status": 404}}, 404)
        return JSONResponse(found)

    async def webhooks(self, request: Request) -> Response:
        refused = self._auth(request)
        if refused is not None:
            return refused
        url = "https://loyalty.example/connectors/woocommerce"
        return JSONResponse([
            {"id": 12, "topic": t, "status": "active", "delivery_url": url}
            for t in ("order.created", "order.updated", "customer.created")
        ])  # fmt: skip


class ShopifyStandin(Standin):
    """The Admin GraphQL endpoint: discountCodeBasicCreate, codeDiscountNodeByCode, delete."""

    token = "shpat_test"
    version = "2026-01"

    def app(self) -> Starlette:
        """Return the ASGI app."""
        path = f"/admin/api/{self.version}/graphql.json"
        return Starlette(routes=[Route(path, self.graphql, methods=["POST"])])

    async def graphql(self, request: Request) -> Response:
        self.calls.append(("POST", request.url.path))
        if request.headers.get("x-shopify-access-token") != self.token:
            return JSONResponse({"errors": "[API] Invalid API key or access token"}, 401)
        early = await self.fail_first()
        if early is not None:
            return early
        if self.mode == "throttled":
            return JSONResponse({"errors": [{"message": "Throttled",
                                             "extensions": {"code": "THROTTLED"}}]})  # fmt: skip
        body = await request.json()
        query, variables = body.get("query", ""), body.get("variables") or {}
        if "discountCodeBasicCreate(" in query:
            return await self._create(variables.get("basicCodeDiscount"))
        if "codeDiscountNodeByCode(" in query:
            found = self.by_code(variables.get("code", ""))
            return JSONResponse({"data": {"codeDiscountNodeByCode":
                                          {"id": found[0]} if found else None}})  # fmt: skip
        if "discountCodeDelete(" in query:
            gone = self.coupons.pop(variables.get("id", ""), None)
            errors = [] if gone else [{"field": ["id"], "code": None,
                                       "message": "Discount does not exist"}]  # fmt: skip
            return JSONResponse({"data": {"discountCodeDelete": {
                "deletedCodeDiscountId": variables.get("id") if gone else None,
                "userErrors": errors}}})  # fmt: skip
        if "loyaltyCheck" in query:
            return JSONResponse({"data": {
                "shop": {"name": "Demo", "currencyCode": "EUR"},
                "currentAppInstallation": {"accessScopes": [
                    {"handle": "read_orders"}, {"handle": "write_discounts"}]},
                "webhookSubscriptions": {"edges": [{"node": {"topic": "ORDERS_CREATE",
                    "endpoint": {"__typename": "WebhookHttpEndpoint",
                                 "callbackUrl": "https://loyalty.example/connectors/shopify"}}}]},
            }})  # fmt: skip
        self.problems.append(f"unknown query {query[:40]!r}")
        return JSONResponse({"errors": [{"message": "unknown"}]}, 400)

    async def _create(self, discount: Any) -> Response:
        problems = self._shape(discount)
        if problems or self.mode == "refuse":
            self.problems.extend(problems)
            errors = [
                {"field": ["basicCodeDiscount", p], "code": "INVALID", "message": f"{p} is invalid"}
                for p in problems or ["context"]
            ]
            return JSONResponse({"data": {"discountCodeBasicCreate": {
                "codeDiscountNode": None, "userErrors": errors}}})  # fmt: skip
        if self.by_code(discount["code"]) is not None:
            return JSONResponse({"data": {"discountCodeBasicCreate": {"codeDiscountNode": None,
                "userErrors": [{"field": ["basicCodeDiscount", "code"], "code": "TAKEN",
                                "message": "Code must be unique."}]}}})  # fmt: skip
        key = f"gid://shopify/DiscountCodeNode/{next(self.ids)}"
        self.coupons[key] = dict(discount)
        if self.mode == "lost":
            self.mode = "up"
            await self.released.wait()  # created, but the answer never leaves
        return JSONResponse({"data": {"discountCodeBasicCreate": {
            "codeDiscountNode": {"id": key}, "userErrors": []}}})  # fmt: skip

    def _shape(self, d: Any) -> list[str]:
        if not isinstance(d, dict):
            return ["basicCodeDiscount"]
        gets = d.get("customerGets") or {}
        amount = (gets.get("value") or {}).get("discountAmount") or {}
        # 2025-10 and later: who may use it is `context` (customerSelection is deprecated).
        customers = ((d.get("context") or {}).get("customers") or {}).get("add")
        checks = {
            "code": isinstance(d.get("code"), str) and d["code"],
            "title": isinstance(d.get("title"), str) and d["title"],
            "startsAt": isinstance(d.get("startsAt"), str),
            "endsAt": isinstance(d.get("endsAt"), str) and "T" in d["endsAt"],
            "usageLimit": d.get("usageLimit") == 1,
            "appliesOncePerCustomer": d.get("appliesOncePerCustomer") is True,
            "context": isinstance(customers, list)
            and len(customers) == 1
            and str(customers[0]).startswith("gid://shopify/Customer/"),
            "customerGets.value": isinstance(amount.get("amount"), str)
            and AMOUNT.match(amount["amount"])
            and amount.get("appliesOnEachItem") is False,
            "customerGets.items": gets.get("items") == {"all": True},
        }
        return [key for key, ok in checks.items() if not ok]
