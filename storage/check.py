"""The consistency check: cached balances equal their ledger sums, every coupon has its debit."""

from __future__ import annotations

from storage.store import Store

_CHECKS = (
    (
        "points balance differs from the ledger",
        """SELECT m.member_id, m.points, COALESCE(SUM(l.amount), 0) FROM members m
           LEFT JOIN ledger l ON l.member_id = m.member_id AND l.currency = 'points'
           GROUP BY m.member_id HAVING m.points != COALESCE(SUM(l.amount), 0)""",
    ),
    (
        "coins balance differs from the ledger",
        """SELECT m.member_id, m.coins, COALESCE(SUM(l.amount), 0) FROM members m
           LEFT JOIN ledger l ON l.member_id = m.member_id AND l.currency = 'coins'
           GROUP BY m.member_id HAVING m.coins != COALESCE(SUM(l.amount), 0)""",
    ),
    (
        "held points differ from the open holds",
        """SELECT m.member_id, m.points_held, COALESCE(SUM(h.points), 0) FROM members m
           LEFT JOIN holds h ON h.member_id = m.member_id AND h.status = 'held'
           GROUP BY m.member_id HAVING m.points_held != COALESCE(SUM(h.points), 0)""",
    ),
    (
        "coupon without the ledger row that paid for it",
        """SELECT c.code, c.cost, l.amount FROM coupons c
           LEFT JOIN ledger l ON l.id = c.ledger_id
           WHERE l.id IS NULL OR l.member_id != c.member_id OR l.ref != c.code
              OR l.amount != -c.cost
              OR l.currency != CASE c.paid_with WHEN 'goodwill' THEN 'points' ELSE c.paid_with END
              OR l.reason != CASE c.paid_with WHEN 'goodwill' THEN 'coupon_goodwill'
                                             ELSE 'coupon' END""",
    ),
    (
        "ledger row whose balance_after breaks the running sum",
        """SELECT id, balance_after, running FROM (
             SELECT id, balance_after, SUM(amount) OVER (
               PARTITION BY member_id, currency ORDER BY id) AS running FROM ledger) AS rows
           WHERE balance_after != running""",
    ),
)


async def check(store: Store) -> list[str]:
    """Return one line per inconsistency found; an empty list means the store is consistent."""
    problems = []
    for title, sql in _CHECKS:
        for row in await store.db.read(sql):
            problems.append(f"{title}: {row[0]} (stored {row[1]}, expected {row[2]})")
    return problems
