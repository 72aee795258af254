"""The OpenAPI 3.1 document of the shop API, served at GET /api/v1/openapi.json.

Written by hand (the contract is designed, not derived), but built from the same constants the
code checks against (event fields, id length, amount limits), and kept true to the app by
tests: every route is documented and every documented operation exists; examples validate
against their schemas; every response the tests see validates against its documented schema.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

from storage.checkout import MAX_HOLD_POINTS, MAX_ORDER_CENTS
from storage.events import EVENT_FIELDS, MAX_CLOCK_SKEW
from storage.members import ADDRESSABLE_ID_PATTERN, MAX_ID_LENGTH

Schema = dict[str, Any]

VERSION = "1.0.0"
REF = "#/components/schemas/"


def ref(name: str) -> Schema:
    """Return a reference to a component schema."""
    return {"$ref": REF + name}


def _id(description: str, *, addressable: bool = False) -> Schema:
    """An id; `addressable` ones (members, holds) also appear in paths, so never hold "/"."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_LENGTH,
        "pattern": ADDRESSABLE_ID_PATTERN if addressable else r"\S",
        "description": description + (NO_SLASH if addressable else ""),
    }


NO_SLASH = ' (no "/": the id is also part of a path, where %2F cannot address it)'


def _obj(required: list[str], properties: dict[str, Schema], **extra: Any) -> Schema:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


INSTANT = {"type": "string", "format": "date-time", "description": "ISO 8601 with an offset"}
OCCURRED_AT = {
    **INSTANT,
    "description": "ISO 8601 with an offset; from 2000-01-01 to at most "
    f"{int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes after the server's own clock (clock "
    "skew): later is 422 `occurred_at: is in the future`. A maximum that moves with the clock "
    "cannot be a static `formatMaximum`, so it is said here.",
}
COUPON_STATUS = {"type": "string", "enum": ["active", "used", "expired", "burned"]}


def _event_data(fields: dict[str, tuple[str, int, bool]]) -> Schema:
    properties: dict[str, Schema] = {}
    for key, (kind, limit, needed) in fields.items():
        if kind == "cents":
            schema: Schema = {"type": "integer", "minimum": 0, "maximum": limit}
        else:
            pattern = {"email": "@", "member_id": ADDRESSABLE_ID_PATTERN}.get(kind, r"\S")
            schema = {"type": "string", "minLength": 1, "maxLength": limit, "pattern": pattern}
        if not needed:  # the store reads null as "not given"
            schema["type"] = [schema["type"], "null"]
        properties[key] = schema
    required = [key for key, (_k, _l, needed) in fields.items() if needed]
    return _obj(required, properties)


def _event(type_: str) -> Schema:
    return _obj(
        ["id", "type", "occurred_at", "data"],
        {
            "id": _id("the event's own id: the idempotency key"),
            "type": {"const": type_},
            "occurred_at": OCCURRED_AT,
            "data": _event_data(EVENT_FIELDS[type_]),
        },
        title=type_,
    )


def _schemas() -> dict[str, Schema]:
    return {
        "Error": _obj(
            ["error"],
            {
                "error": _obj(
                    ["code", "message", "details"],
                    {
                        "code": {"type": "string", "description": "machine-readable reason"},
                        "message": {"type": "string", "description": "for people, English"},
                        "details": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "every problem found (one item at least)",
                        },
                    },
                )
            },
        ),
        "Event": {
            "description": "A shop event; `data` depends on `type`.",
            "oneOf": [ref(f"Event.{t}") for t in EVENT_FIELDS],
            "discriminator": {
                "propertyName": "type",
                "mapping": {t: REF + f"Event.{t}" for t in EVENT_FIELDS},
            },
        },
        **{f"Event.{t}": _event(t) for t in EVENT_FIELDS},
        "EventResult": {
            "type": "object",
            "required": ["status", "event_id", "type"],
            "properties": {
                "status": {"type": "string", "enum": ["processed", "duplicate"]},
                "event_id": {"type": "string"},
                "type": {"type": "string"},
                "member_id": {"type": "string"},
                "order_id": {"type": "string"},
                "credited": {"type": "array", "items": {"type": "object"}},
                "level_changes": {"type": "array", "items": {"type": "object"}},
                "review": {"const": "not_earned"},
            },
            "additionalProperties": True,
            "description": "What the event did (first answer; a repeat says `duplicate`). "
            "Further fields depend on the type: `created`, `order_status`, `taken_back`, ... "
            'A review of an order that was returned, not delivered or cancelled is `"review": '
            '"not_earned"` with `points` 0: a final answer (200), not a refusal.',
        },
        "Perk": _obj(
            ["code", "text"],
            {"code": {"type": "string"}, "text": {"type": "string", "description": "English"}},
        ),
        "Level": _obj(
            ["code", "name", "perks"],
            {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "perks": {"type": "array", "items": ref("Perk")},
            },
        ),
        "NextLevel": {
            "description": "null at the top level; points programmes say `points_needed`, "
            "spend programmes `spend_needed_cents`.",
            "oneOf": [
                {"type": "null"},
                _obj(
                    ["code", "points_needed"],
                    {
                        "code": {"type": "string"},
                        "points_needed": {"type": "integer", "minimum": 0},
                    },
                ),
                _obj(
                    ["code", "spend_needed_cents"],
                    {
                        "code": {"type": "string"},
                        "spend_needed_cents": {"type": "integer", "minimum": 0},
                    },
                ),
            ],
        },
        "MemberCoupon": _obj(
            ["code", "value_cents", "status", "expires_at"],
            {
                "code": {"type": "string"},
                "value_cents": {"type": "integer", "minimum": 1},
                "status": COUPON_STATUS,
                "expires_at": INSTANT,
            },
        ),
        "Member": _obj(
            [
                "member_id",
                "telegram_linked",
                "points",
                "points_held",
                "coins",
                "level",
                "next_level",
                "coupons",
            ],
            {
                "member_id": {"type": "string"},
                "telegram_linked": {"type": "boolean"},
                "points": {"type": "integer", "minimum": 0, "description": "spendable now"},
                "points_held": {"type": "integer", "minimum": 0, "description": "at checkout"},
                "coins": {"type": "integer", "minimum": 0},
                "level": ref("Level"),
                "next_level": ref("NextLevel"),
                "coupons": {
                    "type": "array",
                    "items": ref("MemberCoupon"),
                    "description": "active coupons, soonest expiry first",
                },
            },
        ),
        "Coupon": _obj(
            ["code", "value_cents", "status", "expires_at", "member_id"],
            {
                "code": {"type": "string"},
                "value_cents": {"type": "integer", "minimum": 1},
                "status": COUPON_STATUS,
                "expires_at": INSTANT,
                "member_id": {"type": "string"},
            },
        ),
        "RedeemedCoupon": _obj(
            ["code", "value_cents", "status", "expires_at", "member_id", "order_id", "used_at"],
            {
                "code": {"type": "string"},
                "value_cents": {"type": "integer", "minimum": 1},
                "status": {"const": "used"},
                "expires_at": INSTANT,
                "member_id": {"type": "string"},
                "order_id": {"type": "string"},
                "used_at": INSTANT,
            },
        ),
        "RedeemRequest": _obj(
            ["member_id", "order_id"],
            {
                "member_id": _id("the member paying", addressable=True),
                "order_id": _id("the order it pays"),
            },
        ),
        "LinkToken": _obj(
            ["token", "url", "expires_at"],
            {
                "token": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
                "url": {"type": "string", "format": "uri"},
                "expires_at": INSTANT,
            },
        ),
        "QuoteRequest": _obj(
            ["member_id", "amount_cents"],
            {
                "member_id": _id("the member", addressable=True),
                "amount_cents": {"type": "integer", "minimum": 1, "maximum": MAX_ORDER_CENTS},
            },
        ),
        "Quote": _obj(
            ["member_id", "amount_cents", "max_points", "value_cents"],
            {
                "member_id": {"type": "string"},
                "amount_cents": {"type": "integer"},
                "max_points": {"type": "integer", "minimum": 0},
                "value_cents": {"type": "integer", "minimum": 0},
            },
        ),
        "HoldRequest": _obj(
            ["hold_id", "member_id", "order_id", "points"],
            {
                "hold_id": _id(
                    "the shop's id for this hold: the idempotency key", addressable=True
                ),
                "member_id": _id("the member", addressable=True),
                "order_id": _id("the order being paid"),
                "points": {"type": "integer", "minimum": 1, "maximum": MAX_HOLD_POINTS},
                "amount_cents": {
                    "type": ["integer", "null"],
                    "minimum": 1,
                    "maximum": MAX_ORDER_CENTS,
                    "description": "the order's amount, when the order.placed event has not "
                    "arrived yet: the hold is then checked against the level's cap",
                },
            },
        ),
        "Hold": _obj(
            ["hold_id", "member_id", "order_id", "points", "status"],
            {
                "hold_id": {"type": "string"},
                "member_id": {"type": "string"},
                "order_id": {"type": "string"},
                "points": {"type": "integer", "minimum": 1},
                "status": {"type": "string", "enum": ["held", "captured", "released"]},
            },
        ),
        "Health": _obj(
            ["status", "database"],
            {
                "status": {"enum": ["ok", "degraded"]},
                "database": {"const": "ok"},
                "telegram": {"enum": ["ok", "unreachable", "unauthorized"]},
            },
        ),
        "TelegramUpdate": {
            "type": "object",
            "description": "an Update object of the Telegram Bot API",
            "properties": {"update_id": {"type": "integer"}},
        },
        "Delivery": _obj(
            ["outcome", "reason", "events", "problems", "codes_redeemed"],
            {
                "outcome": {
                    "type": "string",
                    "enum": ["processed", "ignored", "duplicate", "ping"],
                },
                "reason": {"type": ["string", "null"]},
                "events": {"type": "object", "additionalProperties": {"type": "integer"}},
                "problems": {"type": "array", "items": {"type": "string"}},
                "codes_redeemed": {"type": "integer", "minimum": 0},
            },
            description="what one webhook delivery did",
        ),
    }


# --- Examples (validated against their schemas by the tests) ------------------------------

T0 = "2026-06-20T10:00:00+08:00"
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    "member": {
        "summary": "Register a member (referred by another)",
        "value": {
            "id": "evt-1001",
            "type": "member.upserted",
            "occurred_at": T0,
            "data": {"member_id": "m-1002", "language": "en", "referred_by": "m-1001"},
        },
    },
    "placed": {
        "summary": "An order is placed",
        "value": {
            "id": "evt-1002",
            "type": "order.placed",
            "occurred_at": T0,
            "data": {"order_id": "o-5001", "member_id": "m-1002", "amount_cents": 12999},
        },
    },
    "delivered": {
        "summary": "The order is delivered (this earns the points)",
        "value": {
            "id": "evt-1003",
            "type": "order.delivered",
            "occurred_at": T0,
            "data": {"order_id": "o-5001"},
        },
    },
}
MEMBER_EXAMPLE: dict[str, Any] = {
    "member_id": "m-1001",
    "telegram_linked": True,
    "points": 1240,
    "points_held": 0,
    "coins": 35,
    "level": {
        "code": "A3",
        "name": "A3",
        "perks": [{"code": "fast_refund_25", "text": "Fast refund for orders up to $25"}],
    },
    "next_level": {"code": "A4", "points_needed": 760},
    "coupons": [
        {
            "code": "K7PX-3MWQ-ZT9D",
            "value_cents": 500,
            "status": "active",
            "expires_at": "2027-06-30T23:59:59+08:00",
        }
    ],
}
COUPON_EXAMPLE = {**MEMBER_EXAMPLE["coupons"][0], "member_id": "m-1001"}
HOLD_EXAMPLE = {"hold_id": "h-5001", "member_id": "m-1001", "order_id": "o-5001", "points": 5}

# --- Operations -----------------------------------------------------------------------------

ERROR_TEXT = {
    400: "The body is not strict JSON (UTF-8), or the request is malformed.",
    401: "No or wrong `Authorization: Bearer <key>`.",
    403: "Wrong or missing `X-Telegram-Bot-Api-Secret-Token`.",
    404: "Not found.",
    408: "The body did not arrive in time; the connection is closed.",
    409: "Conflict; `error.code` says which.",
    413: "The body is larger than `server.max_body_bytes`; the connection is closed.",
    422: "The request is invalid; `error.details` lists every problem. A JSON object that "
    "names a key twice is 422 too (`duplicate_key`).",
    429: "Too many; `Retry-After` says in how many seconds to try again.",
    503: "Unavailable.",
}


def _json(schema: Schema, example: Any = None, examples: dict[str, Any] | None = None) -> Schema:
    media: Schema = {"schema": schema}
    if example is not None:
        media["example"] = example
    if examples:
        media["examples"] = examples
    return {"application/json": media}


def _responses(ok: dict[int, Schema], errors: dict[int, str], *, body: bool) -> Schema:
    out: Schema = {}
    for status, answer in ok.items():
        out[str(status)] = answer
    limits = {408: ERROR_TEXT[408], 413: ERROR_TEXT[413]}
    if body:
        limits[400] = ERROR_TEXT[400]
    for status, text in sorted({**errors, **limits}.items()):
        response: Schema = {"description": text, "content": _json(ref("Error"))}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if status == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[str(status)] = response
    return out


def _path_param(name: str, description: str, *, addressable: bool = True) -> Schema:
    pattern = {"pattern": ADDRESSABLE_ID_PATTERN} if addressable else {}
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, **pattern},
    }


def _op(
    op_id: str,
    summary: str,
    description: str,
    ok: dict[int, Schema],
    errors: dict[int, str],
    *,
    tag: str,
    request: Schema | None = None,
    params: list[Schema] | None = None,
    security: list[Schema] | None = None,
) -> Schema:
    operation: Schema = {
        "operationId": op_id,
        "tags": [tag],
        "summary": summary,
        "description": description,
        "responses": _responses(ok, errors, body=request is not None),
    }
    if params:
        operation["parameters"] = params
    if request is not None:
        operation["requestBody"] = {"required": True, "content": request}
    if security is not None:
        operation["security"] = security
    return operation


def _ok(description: str, schema: Schema, example: Any = None) -> Schema:
    return {"description": description, "content": _json(schema, example)}


MEMBER_ID = _path_param("member_id", "the shop's member id")
HOLD_ID = _path_param("hold_id", "the hold's id (given when it was created)")
CODE = _path_param("code", "the coupon code, e.g. K7PX-3MWQ-ZT9D", addressable=False)
AUTH = {401: ERROR_TEXT[401]}


def _paths() -> dict[str, Schema]:
    return {
        "/api/v1/events": {
            "post": _op(
                "postEvent",
                "Deliver a shop event",
                "Applied once per event `id`: the same id and body again answers `duplicate` "
                "and changes nothing; the same id with another body is 409 "
                "(`idempotency_conflict`). An event naming an unknown member or order is 422 "
                "(`unknown_reference`); an event the order's state cannot follow (a return of "
                "an order never delivered) is 409 (`conflict`).",
                {
                    200: _ok(
                        "Processed now, or a duplicate of an earlier delivery.", ref("EventResult")
                    )
                },
                {**AUTH, 409: ERROR_TEXT[409], 422: ERROR_TEXT[422]},
                tag="events",
                request=_json(ref("Event"), examples=EVENT_EXAMPLES),
            )
        },
        "/api/v1/members/{member_id}": {
            "get": _op(
                "getMember",
                "A member's balances, level, progress and coupons",
                "`points` is spendable now; points held at checkout are in `points_held`.",
                {200: _ok("The member.", ref("Member"), MEMBER_EXAMPLE)},
                {**AUTH, 404: "Unknown member."},
                tag="members",
                params=[MEMBER_ID],
            )
        },
        "/api/v1/members/{member_id}/link-token": {
            "post": _op(
                "createLinkToken",
                "A single-use Telegram deep link for the member",
                'For the shop\'s "Connect Telegram" button. Each call makes a new token; each '
                "token links once and expires after `server.link_token_minutes`; a new token "
                "revokes the member's earlier unused ones (so does `/unlink` in the bot). At "
                "most `server.link_tokens_per_hour` tokens per member per hour: then 429 "
                "(`too_many_tokens`).",
                {
                    200: _ok(
                        "The token and its t.me link.",
                        ref("LinkToken"),
                        {
                            "token": "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4",
                            "expires_at": T0,
                            "url": "https://t.me/shop_loyalty_bot?start=Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4",
                        },
                    )
                },
                {
                    **AUTH,
                    404: "Unknown member.",
                    429: ERROR_TEXT[429],
                    503: "The bot's username is unknown (`bot_username_unknown`).",
                },
                tag="members",
                params=[MEMBER_ID],
            )
        },
        "/api/v1/checkout/quote": {
            "post": _op(
                "quoteCheckout",
                "How many points may pay an order",
                "`min(balance, floor(cap% * amount / point value))` by the programme's rules; "
                "0 where the member's level may not pay with points.",
                {
                    200: _ok(
                        "The quote.",
                        ref("Quote"),
                        {
                            "member_id": "m-1001",
                            "amount_cents": 12999,
                            "max_points": 5,
                            "value_cents": 500,
                        },
                    )
                },
                {**AUTH, 422: ERROR_TEXT[422] + " An unknown member is 422 too."},
                tag="checkout",
                request=_json(ref("QuoteRequest"), {"member_id": "m-1001", "amount_cents": 12999}),
            )
        },
        "/api/v1/checkout/holds": {
            "post": _op(
                "createHold",
                "Hold points for an order",
                "The points leave the spendable balance (`points`) for `points_held`. "
                "Idempotent by `hold_id`: 201 the first time; the same body again answers 200 "
                "with the same hold and changes nothing; another body is 409 "
                "(`idempotency_conflict`). 409 also when the rules say no "
                "(`insufficient_points`, `over_cap`, `disabled`). A hold neither captured nor "
                "released within `server.hold_minutes` (default a day) is released.",
                {
                    201: _ok("Held.", ref("Hold"), {**HOLD_EXAMPLE, "status": "held"}),
                    200: _ok("A repeat: the hold as it is.", ref("Hold")),
                },
                {
                    **AUTH,
                    409: ERROR_TEXT[409],
                    422: ERROR_TEXT[422] + " An unknown member is 422 too.",
                },
                tag="checkout",
                request=_json(ref("HoldRequest"), HOLD_EXAMPLE),
            )
        },
        "/api/v1/checkout/holds/{hold_id}/capture": {
            "post": _op(
                "captureHold",
                "Spend the held points (the order is paid)",
                "Repeating it is harmless. A released hold cannot be captured (409). A hold "
                "older than `server.hold_minutes` (default a day) cannot either (409 "
                "`hold_expired`): the scheduler releases it within a minute.",
                {200: _ok("Captured.", ref("Hold"), {**HOLD_EXAMPLE, "status": "captured"})},
                {
                    **AUTH,
                    404: "Unknown hold.",
                    409: "The hold was released (`conflict`), or is past its lifetime "
                    "(`hold_expired`).",
                },
                tag="checkout",
                params=[HOLD_ID],
            )
        },
        "/api/v1/checkout/holds/{hold_id}/release": {
            "post": _op(
                "releaseHold",
                "Give the held points back (the order was dropped)",
                "The points come back exactly once, however often this is repeated. A captured "
                "hold cannot be released (409).",
                {200: _ok("Released.", ref("Hold"), {**HOLD_EXAMPLE, "status": "released"})},
                {**AUTH, 404: "Unknown hold.", 409: "The hold was captured."},
                tag="checkout",
                params=[HOLD_ID],
            )
        },
        "/api/v1/coupons/{code}": {
            "get": _op(
                "getCoupon",
                "A coupon by code",
                "Its value, owner, status and expiry (in the programme's time zone). A coupon "
                "past its expiry shows `expired` (or `burned`) at once. Codes match in any "
                "case (`pgbe-kquq-mkuk` finds `PGBE-KQUQ-MKUK`).",
                {200: _ok("The coupon.", ref("Coupon"), COUPON_EXAMPLE)},
                {**AUTH, 404: "Unknown coupon."},
                tag="coupons",
                params=[CODE],
            )
        },
        "/api/v1/coupons/{code}/redeem": {
            "post": _op(
                "redeemCoupon",
                "Use a coupon on an order",
                "409 when the coupon is not active (`coupon_used`, `coupon_expired`, "
                "`coupon_burned`) or belongs to another member (`not_owner`). Redeeming it again "
                "for the same order answers 200 again.",
                {
                    200: _ok(
                        "Redeemed.",
                        ref("RedeemedCoupon"),
                        {**COUPON_EXAMPLE, "status": "used", "order_id": "o-5001", "used_at": T0},
                    )
                },
                {**AUTH, 404: "Unknown coupon.", 409: ERROR_TEXT[409], 422: ERROR_TEXT[422]},
                tag="coupons",
                params=[CODE],
                request=_json(ref("RedeemRequest"), {"member_id": "m-1001", "order_id": "o-5001"}),
            )
        },
        "/api/v1/openapi.json": {
            "get": _op(
                "getOpenApi",
                "This document",
                "The OpenAPI 3.1 document of this API.",
                {
                    200: {
                        "description": "The document.",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
                AUTH,
                tag="system",
            )
        },
        "/healthz": {
            "get": _op(
                "getHealth",
                "Health",
                "200 while the database answers a query; `degraded` when Telegram does not "
                "answer the bot (the shop API works on). `telegram` is left out by a process "
                "that runs no bot. No key needed.",
                {
                    200: _ok(
                        "Healthy, or degraded.",
                        ref("Health"),
                        {"status": "ok", "database": "ok", "telegram": "ok"},
                    )
                },
                {503: "The database does not answer."},
                tag="system",
                security=[],
            )
        },
        "/metrics": {
            "get": _op(
                "getMetrics",
                "Prometheus metrics",
                "Requests by route and status, shop events by type and outcome, latency "
                "histograms. No key needed: keep the port private (or filter /metrics).",
                {
                    200: {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                {},
                tag="system",
                security=[],
            )
        },
        "/telegram/webhook": {
            "post": _op(
                "telegramWebhook",
                "Telegram updates (webhook mode)",
                "Called by Telegram, not by the shop. 404 while the service is not in webhook "
                "mode. 400 (`malformed_update`, logged) for JSON that is not an update: no "
                "integer `update_id`, or fields of the wrong type.",
                {200: {"description": "Accepted."}},
                {403: ERROR_TEXT[403], 404: "Not in webhook mode.", 422: "Not a JSON object."},
                tag="telegram",
                request=_json(ref("TelegramUpdate"), {"update_id": 1}),
                security=[{"telegramSecret": []}],
            )
        },
        **{
            f"/connectors/{platform}": {
                "post": _op(
                    f"{platform}Webhook",
                    f"{name} webhooks",
                    f"Called by {name}, not by the shop's own code: the platform's order, "
                    f"refund and customer webhooks, signed with `{header}` (base64 HMAC-SHA256 "
                    "of the raw body). 404 while the connector is off. A delivery the programme "
                    "cannot use is 200 with outcome `ignored` and the reason.",
                    {200: _ok("Received (processed, ignored or a duplicate).", ref("Delivery"))},
                    {
                        401: "Missing or wrong signature.",
                        404: "The connector is off.",
                        503: "The connector's secret is not set.",
                    },
                    tag="connectors",
                    request=_json({"type": "object"}, {"id": 723}),
                    security=[{f"{platform}Signature": []}],
                )
            }
            for platform, name, header in (
                ("woocommerce", "WooCommerce", "X-WC-Webhook-Signature"),
                ("shopify", "Shopify", "X-Shopify-Hmac-Sha256"),
            )
        },
    }


@cache
def _document() -> Schema:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Loyalty programme shop API",
            "version": VERSION,
            "description": "How a shop feeds the loyalty programme and asks it questions. "
            "Money is integer cents; times are ISO 8601 with an offset. Errors are "
            '`{"error": {"code", "message", "details": [...]}}`.',
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "security": [{"bearer": []}],
        "tags": [
            {"name": n}
            for n in (
                "events",
                "members",
                "checkout",
                "coupons",
                "system",
                "telegram",
                "connectors",
            )
        ],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "the key in the variable named by server.api_key_env",
                },
                "telegramSecret": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Telegram-Bot-Api-Secret-Token",
                },
                "woocommerceSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-WC-Webhook-Signature",
                },
                "shopifySignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Shopify-Hmac-Sha256",
                },
            },
        },
    }


def document() -> Schema:
    """Return the OpenAPI document (a copy: callers may change it freely)."""
    return copy.deepcopy(_document())
