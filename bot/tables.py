"""The programme printed as readable tables for `loyaltybot config check`."""

from __future__ import annotations

from rich.table import Table

from handlers.formatting import money
from loyalty.program import Program, Requirement


def requirement_words(requirement: Requirement, currency: str) -> str:
    """Say a level requirement in words: "a verified e-mail", "a delivered order over $2.00"."""
    if requirement.kind == "email_verified":
        return "a verified e-mail"
    return f"a delivered order over {money(requirement.cents, currency, 'en')}"


def _percent(bp: int) -> str:
    return f"{bp / 100:g}%"


def program_tables(program: Program) -> list[Table]:
    """Return tables of the programme: summary, levels, perks, earning, coupons, coins, checkout."""
    cur = program.currency

    def cash(cents: int) -> str:
        return money(cents, cur, "en")

    summary = Table(title=f"Programme: {program.name}", show_header=False)
    summary.add_row("preset", program.preset)
    summary.add_row("time zone", str(program.timezone))
    summary.add_row("currency", cur)
    summary.add_row("one point is worth", cash(program.point_value_cents))
    window = (
        f"rolling {program.levels.window_days} days" if program.levels.window_days else "lifetime"
    )
    summary.add_row("levels by", f"{program.levels.basis} ({window})")

    levels = Table(title="Levels")
    for column in ("code", "name", "from", "also needs", "discount", "points at checkout", "perks"):
        levels.add_column(column)
    for tier in program.levels.tiers:
        start = (
            f"{tier.min_points} point{'s' if tier.min_points != 1 else ''}"
            if program.levels.basis == "points"
            else f"{cash(tier.min_spend_cents)} spent"
        )
        levels.add_row(
            tier.code,
            tier.name,
            start,
            ", ".join(requirement_words(r, cur) for r in tier.requires) or "-",
            _percent(tier.discount_bp),
            "yes" if tier.checkout else "no",
            ", ".join(p.code for p in tier.perks) or "-",
        )
    perks = Table(title="Perks")
    perks.add_column("code")
    perks.add_column("text (en)")
    seen = {(p.code, p.text_for("en")) for tier in program.levels.tiers for p in tier.perks}
    for code, text in sorted(seen):
        perks.add_row(code, text)

    e = program.earning
    earning = Table(title="Earning (points)")
    earning.add_column("activity")
    earning.add_column("earns")
    earning.add_row(
        "delivered order",
        f"{e.order_points_per_dollar} per whole dollar, orders over {cash(e.order_min_cents)}"
        if e.order_points_per_dollar
        else "-",
    )
    review = [f"{e.review_points}"] if e.review_points else []
    if e.review_percent_bp:
        review.append(f"{_percent(e.review_percent_bp)} of the order, rounded down")
    earning.add_row("review of a delivered order", " + ".join(review) or "-")
    earning.add_row("a day with a delivered order", str(e.daily_purchase_points or "-"))
    earning.add_row("daily check-in in the bot", str(e.daily_checkin_points or "-"))
    earning.add_row("verified e-mail", str(e.email_verified_points or "-"))
    earning.add_row("referrer", f"{e.referrer_points} when the friend {e.referrer_on}".replace(
        "first_delivery", "gets a first delivery") if e.referrer_points else "-")  # fmt: skip
    earning.add_row("referred member", f"{e.referee_points} on {e.referee_on}"
                    if e.referee_points else "-")  # fmt: skip
    tables = [summary, levels, perks, earning] if seen else [summary, levels, earning]

    c = program.coupons
    if c.enabled:
        burn = f"{c.burn_month_day[1]:02d}/{c.burn_month_day[0]:02d}" if c.burn_month_day else ""
        summary.add_row("coupons a day", str(c.daily_limit))
        summary.add_row("coupons valid for", f"{c.validity_days} days")
        summary.add_row("yearly burn", f"end of {burn} (dd/mm)" if burn else "none")
        coupons = Table(title="Coupons")
        for column in ("value", "points", "coins"):
            coupons.add_column(column)
        for o in c.options:
            coupons.add_row(cash(o.value_cents), str(o.points or "-"), str(o.coins or "-"))
        tables.append(coupons)
    if program.coins.enabled:
        coins = Table(title="Daily coins by streak day (the last repeats)")
        for day in range(1, len(program.coins.streak) + 1):
            coins.add_column(f"day {day}")
        coins.add_row(*(str(n) for n in program.coins.streak))
        tables.append(coins)
    if program.checkout.enabled:
        checkout = Table(title="Points at checkout (share of the order)")
        checkout.add_column("order from")
        checkout.add_column("points may pay")
        for cap in program.checkout.caps:
            checkout.add_row(cash(cap.from_cents), _percent(cap.percent_bp))
        tables.append(checkout)
    return tables
