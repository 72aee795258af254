"""How many points a member may use to pay part of an order."""

from __future__ import annotations

from loyalty.program import Program, Tier


def cap_bp(program: Program, amount_cents: int) -> int:
    """Return the share of an order (basis points) points may pay, by the order's amount."""
    share = 0
    for cap in program.checkout.caps:
        if amount_cents >= cap.from_cents:
            share = cap.percent_bp
    return share


def max_points(program: Program, tier: Tier, balance: int, amount_cents: int) -> int:
    """Return min(balance, floor(cap% * amount / point value)); 0 where the level may not pay."""
    if not program.checkout.enabled or not tier.checkout or amount_cents <= 0:
        return 0
    cap = amount_cents * cap_bp(program, amount_cents) // (10_000 * program.point_value_cents)
    return max(0, min(balance, cap))
