"""/history: the ledger in words, in pages; dates in the programme zone; forged cursors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from loyalty.clock import ManualClock
from storage import checkout, coupons, daily, grants, ledger
from storage.events import apply_event
from storage.store import Store
from telegram_emulator import Person, TelegramEmulator
from tests.bot.conftest import linked, make_config
from tests.bot.programmes import running
from tests.conftest import delivered_order, member, send


async def _grants(store: Store, member_id: str, count: int, clock: ManualClock) -> None:
    for i in range(1, count + 1):
        await grants.grant(store, member_id, i, reason=f"gift {i}", actor="t")
        clock.advance(minutes=1)


async def test_unlinked_users_are_asked_to_link(ann: Person, boris: Person) -> None:
    await ann.send("/history")
    assert "not connected" in ann.last_reply().text
    await boris.send("/history")
    await boris.press_data("hist:b:5")
    assert "не подключён" in boris.last_reply().text


async def test_empty_history_says_so(ann: Person, boris: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await linked(bot_store, boris, "m-2")
    await ann.send("/history")
    assert "Nothing here yet" in ann.last_reply().text
    await boris.send("/history")
    assert "Здесь пока пусто" in boris.last_reply().text


async def test_every_marketplace_row_in_words(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await grants.grant(bot_store, "m-1", 600, reason="birthday", actor="agent")
    await delivered_order(bot_store, "m-1", 12_345, "o-77")  # 123 + 5
    await send(bot_store, "review.submitted", order_id="o-77")  # 1
    await daily.claim(bot_store, "m-1")  # 20 points, 10 coins
    bought = await coupons.exchange(bot_store, "m-1", 500, "points", "k")
    await coupons.issue_goodwill(bot_store, "m-1", 1000, reason="late parcel", actor="a", key="g")
    await member(bot_store, "m-friend-42", referred_by="m-1")  # 50
    await grants.grant(bot_store, "m-1", -269, reason="correction", actor="agent")  # 30 left
    await send(bot_store, "order.returned", order_id="o-77")  # 129 earned, 30 left to take
    await ann.send("/history")
    first = ann.last_reply()
    first_text = first.text  # the view follows the message, which the next press edits
    assert first.button_labels == ["Older »", "« Back"]
    await ann.press("Older »")
    older = ann.last_reply()
    assert older.message_id == first.message_id  # the page was edited in place
    text = first_text + "\n" + older.text
    for line in (
        "+600 points: adjustment (birthday)",
        "+123 points earned for order o-77",
        "+5 points: bonus for a day with a delivered order (o-77)",
        "+1 point for a review of order o-77",
        "+20 points for the daily check-in",
        "+10 coins for the daily check-in",
        "−500 points spent on a $5.00 coupon",
        "a $10.00 coupon from us (late parcel)",
        "+50 points for inviting a friend",
        "−269 points: adjustment (correction)",
        "−30 points taken back for order o-77 (returned or not delivered); "
        "93 points could not be taken back, they had already been spent",
        "· 0 points taken back for order o-77 (returned or not delivered); "
        "5 points could not be taken back",
    ):
        assert line in text, line
    assert "10 Mar 2026, 09:00 · " in text
    assert bought.coupon.code not in text  # codes only ever go out in protected messages
    assert "m-friend-42" not in text  # nor another member's id


async def test_pages_older_and_newer_land_on_the_same_pages(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await _grants(bot_store, "m-1", 25, clock)
    await ann.send("/history")
    top = ann.last_reply().text
    assert "gift 25" in top and "gift 16" in top and "gift 15" not in top
    await ann.press("Older »")
    middle = ann.last_reply().text
    assert "gift 15" in middle and "gift 6)" in middle
    assert ann.last_reply().button_labels == ["« Newer", "Older »", "« Back"]
    await ann.press("Older »")
    assert ann.last_reply().button_labels == ["« Newer", "« Back"]
    assert "gift 1)" in ann.last_reply().text
    await ann.press("« Newer")
    assert ann.last_reply().text == middle
    await ann.press("« Newer")
    assert ann.last_reply().text == top
    assert ann.last_reply().button_labels == ["Older »", "« Back"]


async def test_forged_cursors_never_show_another_members_rows(
    ann: Person, boris: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    await linked(bot_store, boris, "m-2")
    for i in range(12):
        await grants.grant(bot_store, "m-1", 1, reason=f"ann {i}", actor="t")
        await grants.grant(bot_store, "m-2", 1, reason=f"boris-secret {i}", actor="t")
    theirs = (await ledger.history(bot_store, "m-2", limit=50)).entries
    await ann.send("/history")
    page = ann.last_reply()
    for data in (f"hist:b:{theirs[0].id + 1}", f"hist:b:{theirs[3].id}", f"hist:a:{theirs[-1].id}",
                 "hist:a:0", "hist:b:999999999999999999"):  # fmt: skip
        answer = await ann.press_data(data, message=page)
        assert answer is not None
        text = ann.last_reply().text
        assert "boris-secret" not in text and "ann " in text, data


async def test_garbage_callback_data_changes_nothing(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    await grants.grant(bot_store, "m-1", 5, reason="gift", actor="t")
    await ann.send("/history")
    page = ann.last_reply()
    for data in ("hist:", "hist:b:abc", "hist:x:1", "hist:b:" + "9" * 30, "hist:b:-1",
                 "hist:b:1;DROP TABLE ledger", "hist:b:1:2"):  # fmt: skip
        answer = await ann.press_data(data, message=page)
        assert answer is not None and "no longer active" in answer.text, data
    assert ann.last_reply().text == page.text
    # A well-formed cursor past the end says so and offers the newest page.
    await ann.press_data("hist:b:0", message=page)
    assert "no more entries" in ann.last_reply().text
    await ann.press("📜 Latest entries")
    assert "+5 points: adjustment (gift)" in ann.last_reply().text


async def test_text_instead_of_a_button(ann: Person, bot_store: Store, clock: ManualClock) -> None:
    await linked(bot_store, ann)
    await _grants(bot_store, "m-1", 12, clock)
    await ann.send("/history")
    page = ann.last_reply()
    await ann.send("older")
    assert "not sure I understood" in ann.last_reply().text
    assert ann.bot_messages()[-2].text == page.text  # the page is untouched


async def test_long_notes_are_shortened(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann)
    for _ in range(10):
        await grants.grant(bot_store, "m-1", 1, reason="x" * 500, actor="t")
    await ann.send("/history")
    text = ann.last_reply().text
    assert "x" * 119 + "…" in text and "x" * 121 not in text
    assert len(text) < 4096


async def test_russian_dates_in_the_programme_zone(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config(timezone="Asia/Shanghai"), tmp_path, clock, emu) as store:
        boris = emu.user(1002, "Борис", language_code="ru")
        await linked(store, boris, "m-2")
        clock.set(datetime(2026, 3, 10, 20, 0, tzinfo=UTC))  # 04:00 on 11 March in Shanghai
        await delivered_order(store, "m-2", 4_100, "A-1")
        await daily.claim(store, "m-2")
        await boris.send("/history")
        text = boris.last_reply().text
        assert "11 мар. 2026, 04:00 · +41 балл за заказ A-1" in text
        assert "+5 баллов: бонус за день с доставленным заказом (A-1)" in text
        assert "+10 монет за ежедневную отметку" in text


async def test_vip_shop_rows_holds_and_bonuses(
    tmp_path: Path, clock: ManualClock, emu: TelegramEmulator
) -> None:
    async with running(make_config("vip-shop"), tmp_path, clock, emu) as store:
        vera = emu.user(2001, "Vera", language_code="en")
        vlad = emu.user(2002, "Влад", language_code="ru")
        await linked(store, vera, "v-1")
        await member(store, "v-2", referred_by="v-1")
        await linked(store, vlad, "v-2")
        await send(store, "member.email_verified", member_id="v-2")  # 5 + 5 welcome
        await send(store, "order.placed", order_id="P-1", member_id="v-2", amount_cents=20_000)
        await checkout.hold(store, "h-1", "v-2", "P-1", 4)
        await send(store, "order.cancelled", order_id="P-1")
        await delivered_order(store, "v-2", 30_000, "P-2")  # the referrer's 5
        await send(store, "review.submitted", order_id="P-2")  # 1% of $300: 3
        await vlad.send("/history")
        text = vlad.last_reply().text
        for line in (
            "+5 баллов за подтверждение e-mail",
            "+5 баллов: приветственный бонус за регистрацию по приглашению",
            "−4 балла зарезервировано для неоплаченного заказа P-1",
            "+4 балла возвращено: заказ P-1 не был оплачен",
            "+3 балла за отзыв о заказе P-2",
        ):
            assert line in text, line
        assert "монет" not in text and "купон" not in text
        await vera.send("/history")
        assert "+5 points for inviting a friend" in vera.last_reply().text


async def test_rows_show_when_the_shop_says_it_happened_not_when_imported(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await linked(bot_store, ann)
    day = 86_400

    async def event(type_: str, days_ago: int, **data: object) -> None:
        when = datetime.fromtimestamp(clock().timestamp() - days_ago * day, UTC).isoformat()
        body = {"id": f"late-{type_}-{days_ago}", "type": type_, "occurred_at": when, "data": data}
        await apply_event(bot_store, body)

    for order, days_ago in (("o-20", 20), ("o-9", 9), ("o-2", 2)):
        await event(
            "order.placed", days_ago + 1, order_id=order, member_id="m-1", amount_cents=5_000
        )
        await event("order.delivered", days_ago, order_id=order)
    await event("order.returned", 1, order_id="o-2")
    await grants.grant(bot_store, "m-1", 7, reason="today", actor="t")
    await ann.send("/history")
    lines = ann.last_reply().text.splitlines()

    def when(fragment: str) -> str:
        return next(line for line in lines if fragment in line).split(" · ")[0].strip("• ")

    assert when("earned for order o-20") == "18 Feb 2026, 09:00"  # START is 10 Mar 09:00
    assert when("earned for order o-9") == "1 Mar 2026, 09:00"
    assert when("earned for order o-2") == "8 Mar 2026, 09:00"
    assert when("taken back for order o-2") == "9 Mar 2026, 09:00"
    assert when("adjustment (today)") == "10 Mar 2026, 09:00"
