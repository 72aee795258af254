"""The demo at a real terminal (a pty): a newcomer's first session, start to Ctrl-C."""

from __future__ import annotations

import sys

import pytest

from tests.cli.conftest import ROOT
from tests.cli.pty_kit import PtySession


@pytest.fixture
def terminal() -> PtySession:
    session = PtySession(
        [sys.executable, "-m", "bot", "demo", "-c", str(ROOT / "config.example.toml")],
        ROOT,
        timeout=30,
    )
    yield session
    session.kill()


def test_ctrl_c_at_the_prompt_ends_the_demo_cleanly(terminal: PtySession) -> None:
    terminal.expect("Settings")
    terminal.interrupt()
    assert terminal.wait() == 0
    assert "Traceback" not in terminal.text and "Event loop is closed" not in terminal.text


def test_a_whole_demo_session_at_a_terminal(terminal: PtySession) -> None:
    terminal.expect("you> ")  # a prompt, after the welcome
    assert "Welcome back to Our shop" in terminal.text
    # link again: unlink, then the shop's one-time link
    assert "Yes, disconnect" in terminal.type("/unlink")
    assert "Disconnected." in terminal.type("#1")
    # the shop's name reads in the sentence ("Your Our shop account" it said before)
    assert "Your account at Our shop is connected. Your level: A3" in terminal.type(":link")
    # exchange: the coupon list, the $5.00 coupon, confirm
    assert "[#1] $5.00 · 500 points" in terminal.type("/coupons")
    assert "Exchange 500 points for a $5.00 coupon?" in terminal.type("#1")
    issued = terminal.type("Confirm")  # a button by its label
    assert "bot (pop-up)> Coupon issued!" in issued and "(protected" in issued
    # check-in
    assert "Checked in! Today you get 10 coins and 20 points." in terminal.type("/daily")
    # a ticket, rated, and the stale rating pressed again
    assert "Points missing" in terminal.type("/support")
    assert "Topic: 💰 Points missing." in terminal.type("#1")
    assert "desk #1> 10023 is my order" in terminal.type("10023 is my order")
    assert "[#5] 5 ⭐" in terminal.type(":agent /close")
    assert "Thank you for your rating: 5 of 5." in terminal.type("#5")
    assert "(that button is gone" in terminal.type("#5")
    # a month later: the expiry digest first, then the coupon is expired
    month = terminal.type(":time +31d")
    digest = month.index("1 coupon expires soon")
    assert digest >= 0
    listed = terminal.type("/coupons") + terminal.type("My coupons")
    assert "· expired " in listed
    terminal.interrupt()
    assert terminal.wait() == 0
    assert "(bye)" in terminal.text
    assert "Traceback" not in terminal.text and "Error" not in terminal.text
