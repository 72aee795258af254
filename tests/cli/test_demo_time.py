"""The demo's clock: `:time` runs the scheduler through the hours it passes, so the burn, its
digests, SLA flags and the out-of-hours answer can all be seen in a session."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.cli.test_demo import run_demo_in_process

SUNDAY_NOON = datetime(2027, 6, 20, 12, 0, tzinfo=UTC)  # support works Mon-Fri 09:00-18:00


def test_a_week_to_the_burn_with_a_ticket_on_the_way() -> None:
    out = run_demo_in_process(
        [
            "/coupons", "#1", "Confirm",  # a $5.00 coupon, cut short by the burn on 30 June
            "/support", "#1", "where are my points?",  # on a Sunday: out of hours
            ":time 2027-06-21 10:00",  # Monday: the SLA runs from 09:00, 30 minutes
            ":time 2027-06-29 19:00",
            ":time 2027-07-01 09:00",
            "/coupons", "My coupons",
        ],
        clock=lambda: SUNDAY_NOON,
    )  # fmt: skip
    assert "Our team is offline right now and back" in out
    flag = out.index("desk general> ⏰ Ticket #1 (Alex) has waited")  # in the General topic
    assert out.index("you> :time 2027-06-21 10:00") < flag  # not on Sunday: outside hours
    assert out[:flag].endswith("(demo time: 21 Jun 2027, 10:00)\n")  # 30 min after 09:00
    week, day = out.index("will burn"), out.rindex("will burn")
    assert week < day  # 7 days and 1 day before the burn, each once
    assert out.count("will burn") == 2
    assert "(demo time: 23 Jun 2027, 19:00)" in out[:week][-400:]
    mine = out[out.rindex("📋 Your coupons") :]
    assert "valid until" not in mine and "30 Jun 2027, 23:59" in mine  # burned at its end
