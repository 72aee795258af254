"""`loyaltybot demo`: the offline product in a terminal, driven by lines on stdin."""

from __future__ import annotations

import asyncio
import io
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot import demo
from bot.config import load_config
from bot.demo_terminal import Terminal
from tests.cli.conftest import ROOT


def run_demo(lines: list[str]) -> str:
    child = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "-c", str(ROOT / "config.example.toml")],
        input="\n".join(lines) + "\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert "Traceback" not in child.stderr
    return child.stdout


def test_demo_member_checks_balance_and_exchanges_a_coupon() -> None:
    out = run_demo(["#1", "#1", "#1", "#1", "/me", ":quit"])
    assert "You are Alex (demo-alex)" in out
    assert "Welcome back to Our shop" in out
    assert "[#1] 💰 My balance" in out
    assert "Level: A3" in out
    assert "Exchange 500 points for a $5.00 coupon?" in out
    assert "bot (pop-up)> Coupon issued!" in out
    assert "Coupon $5.00:" in out and "(protected" in out
    assert "Coupon exchanges left today: 2 of 3" in out


def test_demo_answers_wrong_input_and_ends_at_end_of_input() -> None:
    out = run_demo(["#42", "/nonsense"])
    assert "there is no button #42" in out
    assert "don't know that command" in out


def test_demo_plays_both_sides_of_a_support_ticket() -> None:
    out = run_demo([
        "/support", "#1", "My points for A-1003 are missing",
        ":agent Hello Alex, checking now", ":agent /grant 50 sorry for the wait",
        ":agent /close", "#5", ":desk", ":quit",
    ])  # fmt: skip
    assert "desk> new topic «#1 Alex · A3 · points missing»" in out
    assert "desk #1> 🪪 Ticket #1 · points missing (pinned)" in out
    assert "Shop id: demo-alex" in out and "desk #1> My points for A-1003 are missing" in out
    assert (
        "bot> 💬 Sam from our support team is answering you:\nbot> Hello Alex, checking now" in out
    )
    assert "bot> 🎁 Our support team added 50 points to your account." in out
    assert "Reason: sorry for the wait" in out
    assert "desk> topic is now «✅ #1 Alex · A3 · points missing» (closed)" in out
    assert "bot (edited)> Thank you for your rating: 5 of 5. ⭐" in out
    assert "desk #1> ⭐ The member rated the help 5/5." in out
    assert "desk #1> Sam: Hello Alex, checking now" in out  # :desk shows the whole topic


def run_demo_at(when: datetime, lines: list[str]) -> str:
    """Run the demo in-process with its clock fixed at `when` (what is due depends on the hour)."""
    return run_demo_in_process(lines, clock=lambda: when)


def run_demo_in_process(lines: list[str], **options: Any) -> str:
    """Run the demo in this process on `lines`; return what it printed."""
    feed = iter(lines)
    out = io.StringIO()

    async def read_line() -> str | None:
        return next(feed, None)

    async def play() -> int:
        return await demo.run_demo(config, terminal=Terminal(read_line, out, echo=True), **options)

    config = load_config(ROOT / "config.example.toml")
    code = asyncio.run(play())
    assert code == 0
    return out.getvalue()


def test_demo_shop_delivery_sends_the_points_notice() -> None:
    out = run_demo_at(datetime(2026, 11, 23, 12, 0, tzinfo=UTC), [":ship", ":ship", ":tick"])
    assert "(the shop delivered order A-1004)" in out
    assert "You earned 93 points for order A-1004." in out  # 88 + 5 for the day
    assert "quiet hours" not in out
    assert "(the open order was already delivered)" in out
    assert "(scheduler: 0 sent)" in out  # the notice went out with the delivery, nothing else due


def test_demo_delivery_in_quiet_hours_holds_the_notice_and_says_so() -> None:
    out = run_demo_at(datetime(2026, 11, 23, 23, 30, tzinfo=UTC), [":ship", ":tick"])
    assert "(the shop delivered order A-1004)" in out
    assert "its notice waits for the end of the member's quiet hours" in out
    assert "You earned 93 points" not in out  # held until 08:00, not lost
    assert "(scheduler: 0 sent)" in out


def test_a_stale_button_gets_an_answer_not_a_crash() -> None:
    out = run_demo_in_process([
        "/support", "#1", "hello", ":agent /close", "#5", "#5",  # the rating, pressed twice
        "/support", "#1", "again", "#1", "#3", "#3", "/me",  # "problem solved", then a rating
    ])  # fmt: skip
    assert out.count("(that button is gone: the message changed; press one shown now)") == 2
    assert "Thank you for your rating: 5 of 5." in out
    assert "Thank you for your rating: 3 of 5." in out
    assert "Level: A3" in out  # the session went on after both stale presses


def test_a_kept_database_continues_on_the_second_run(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    first = run_demo_in_process(["#2", ":ship", ":quit"], db_path=db)
    assert "(the shop delivered order A-1004)" in first
    second = run_demo_in_process(["/me", ":ship", ":quit"], db_path=db)
    assert f"(continuing the demo saved in {db})" in second
    assert "Level: A3" in second
    assert "(the open order was already delivered)" in second


def test_a_kept_database_keeps_its_moved_clock(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    real = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    first = run_demo_in_process([":time +3d", "/daily"], db_path=str(db), clock=lambda: real)
    assert "(demo time: 26 Nov 2026, 12:00)" in first
    # The next start, at the same real time: the demo's clock is where :time left it, so the
    # check-in made on the 26th is still today's, not one in the future.
    second = run_demo_in_process([":time", "/daily"], db_path=str(db), clock=lambda: real)
    assert "(its clock is still moved on) (demo time: 26 Nov 2026, 12:00)" in second
    assert second.count("(demo time: 26 Nov 2026, 12:00)") == 2
    assert "already" in second[second.rindex("you> /daily") :], second[-600:]
    # A fresh database does not inherit a clock left beside a deleted one.
    db.unlink()
    third = run_demo_in_process([":time"], db_path=str(db), clock=lambda: real)
    assert "(demo time: 23 Nov 2026, 12:00)" in third and "moved on" not in third


def test_numbers_are_text_and_demo_commands_answer_every_line() -> None:
    out = run_demo_in_process([
        ":agent hello?",  # no ticket yet
        ":foo", ":time", ":time yesterday", ":time +0d", ":time +500d",
        "/help", "#5",  # "Points missing for an order?": the bot asks for the number
        "10023",  # a number is text: the answer, not button #10023
        "/settings", "⏰ 19:00",  # a label, with its emoji
        "23:00",  # the hour grid's label, typed without an emoji
    ])  # fmt: skip
    assert "(no ticket yet: send /support as the member, then write a message)" in out
    assert "(unknown demo command :foo; :help lists them)" in out
    assert "(demo time: " in out
    assert "(not a date: 'yesterday'; write 2027-06-29 19:00" in out
    assert "(the demo's clock only moves forward)" in out
    assert "(at most 400 days at a time)" in out
    assert "there is no button" not in out
    assert "I could not find order 10023 in your account." in out
    assert "bot (edited)> ⏰ Reminder time" in out  # an edit is marked, not a new message
    assert "23:00 is inside your quiet hours" in out


def test_demo_serves_the_card_and_a_signed_in_console_while_it_runs() -> None:
    """The addresses it prints work while the demo runs (fetched over real HTTP)."""
    import re
    from urllib.parse import parse_qs, urlsplit

    import httpx

    out = io.StringIO()
    answers: dict[str, int | str] = {}

    async def read_line() -> str | None:
        if answers:
            return None
        card = re.search(r"card, as Alex: (\S+)\)", out.getvalue())
        console = re.search(r"signed in as Sam, works once: (\S+)\)", out.getvalue())
        assert card and console, out.getvalue()
        parts = urlsplit(card.group(1))
        init_data = parse_qs(parts.fragment)["tgWebAppData"][0]
        base = f"{parts.scheme}://{parts.netloc}"
        token = urlsplit(console.group(1)).fragment.removeprefix("login=")
        async with httpx.AsyncClient(base_url=base) as client:
            page = await client.get("/app/")
            me = await client.get("/app/api/me", headers={"Authorization": f"tma {init_data}"})
            login = await client.post("/console/api/login", json={"token": token})
            overview = await client.get("/console/api/overview")
        answers.update(
            page=page.status_code,
            member=me.json()["member_id"],
            login=login.status_code,
            members=overview.json()["members"]["total"],
        )
        return ":quit"

    config = load_config(ROOT / "config.example.toml")
    terminal = Terminal(read_line, out, echo=True)
    assert asyncio.run(demo.run_demo(config, terminal=terminal)) == 0
    assert answers == {"page": 200, "member": "demo-alex", "login": 200, "members": 2}
