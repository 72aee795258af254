"""What a platform's webhook means for the programme: our events, codes used, or why nothing.

Each platform module turns one delivery (topic + payload) into a `Mapped`: the shop events of
INTERFACES.md section 3 that the delivery implies, with ids that name the fact ("order 723 was
delivered"), so that a snapshot delivered twice, late or out of order implies the same events
and the first one applied wins.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.api.body import BadJson
from bot.api.body import parse_json as strict_json
from storage.connectors import CodeUse, Customer

MAX_CENTS = 100_000_000  # storage.checkout.MAX_ORDER_CENTS: larger is not an order of ours


class Unusable(Exception):
    """The delivery is well signed but the programme cannot use it; the message says why.

    `kind` is a short, bounded label for the metrics (guest, currency, topic, payload).
    """

    def __init__(self, message: str, kind: str = "payload") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


@dataclass
class Mapped:
    """The events a delivery implies, the codes it used, and the customer it names."""

    events: list[dict[str, Any]] = field(default_factory=list)
    codes: list[CodeUse] = field(default_factory=list)
    customer: Customer | None = None

    def add(self, event_id: str, type_: str, at: datetime, **data: Any) -> None:
        """Append one event of our API (the id names the fact it records)."""
        self.events.append(
            {"id": event_id, "type": type_, "occurred_at": at.isoformat(), "data": data}
        )


def signed(secret: str, body: bytes, signature: str | None) -> bool:
    """Tell whether `signature` is the base64 HMAC-SHA256 of `body` with `secret`.

    Both platforms sign this way. Compared in constant time; a missing secret never matches.
    """
    if not secret or not signature:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.strip().encode())


def sign(secret: str, body: bytes) -> str:
    """Return the signature a platform would send for `body` (tests and benchmarks use it)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def digest(body: bytes) -> str:
    """Return a hash of a delivery's body: the same content under a new delivery id is a repeat."""
    return hashlib.sha256(body).hexdigest()


def parse_json(body: bytes) -> Mapping[str, Any]:
    """Return the JSON object of a delivery, or raise Unusable.

    Parsed as the shop API parses bodies (`bot.api.body.parse_json`): strict JSON, and a key
    given twice in one object is refused, since which value was meant cannot be known.
    """
    try:
        payload = strict_json(body)
    except BadJson as exc:
        raise Unusable(f"the body is not JSON ({exc.reason})") from None
    if not isinstance(payload, Mapping):
        raise Unusable("the body is not a JSON object")
    return payload


def cents(value: object, what: str) -> int:
    """Return a platform's decimal amount ("12.50", 12.5) as integer cents, or raise Unusable."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Unusable(f"{what} is not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Unusable(f"{what} is not an amount") from None
    if not amount.is_finite():
        raise Unusable(f"{what} is not an amount")
    result = int((amount * 100).to_integral_value())
    if abs(result) > MAX_CENTS:
        raise Unusable(f"{what} is larger than any order")
    return result


def instant(value: object, *, naive_is_utc: bool = True) -> datetime | None:
    """Return an ISO 8601 time as an aware datetime (WooCommerce's *_gmt fields have no offset)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        if not naive_is_utc:
            return None
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def identifier(value: object, what: str) -> str:
    """Return a platform id (an integer, or a string of one) as text, or raise Unusable."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip():
        raise Unusable(f"{what} is missing")
    text = str(value).strip()
    if len(text) > 64:
        raise Unusable(f"{what} is too long")
    return text


def member_id(template: str, customer_id: str) -> str:
    """Return the member id for a platform customer (the configured template)."""
    return template.replace("{customer_id}", customer_id)


def profile_key(*parts: object) -> str:
    """Return a short stable key of profile fields: a changed profile is a new fact."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def text(value: object, limit: int) -> str | None:
    """Return a non-empty string cut to `limit` characters, else None."""
    if isinstance(value, str) and value.strip():
        return value.strip()[:limit]
    return None


def email(value: object) -> str | None:
    """Return a plausible e-mail address, else None (a guest's may be anything)."""
    found = text(value, 254)
    return found if found and "@" in found else None


def upsert_member(
    out: Mapped,
    prefix: str,
    member: str,
    customer_id: str,
    at: datetime,
    *,
    found_email: str | None,
    first: object,
    last: object,
    language: str | None = None,
) -> None:
    """Add a platform customer's `member.upserted`, keyed by the profile it carries (a changed
    profile is a new fact, the same one again is a duplicate)."""
    name = " ".join(p for p in (text(first, 100), text(last, 100)) if p)
    data: dict[str, Any] = {"member_id": member}
    if found_email:
        data["email"] = found_email
    if name:
        data["name"] = name[:200]
    if language:
        data["language"] = language
    out.add(f"{prefix}:customer:{customer_id}:{profile_key(data)}", "member.upserted", at, **data)
