"""Linking: /start with a token, invite links, strangers, /unlink; in English and Russian."""

from __future__ import annotations

from datetime import timedelta

from loyalty.clock import ManualClock
from storage import links, members
from storage.store import Store
from telegram_emulator import Person
from tests.bot.conftest import linked
from tests.conftest import member


async def test_stranger_is_told_how_to_link(ann: Person) -> None:
    await ann.send("/start")
    reply = ann.last_reply()
    assert "connect your shop account" in reply.text
    assert reply.buttons[0][0].url == "https://shop.example/account"


async def test_link_with_token_then_token_reused(
    ann: Person, boris: Person, bot_store: Store
) -> None:
    await member(bot_store, "m-1")
    token = await links.create_token(bot_store, "m-1")
    await ann.send(f"/start {token.token}")
    assert "is connected" in ann.last_reply().text
    assert "nav:me" in [b.callback_data for row in ann.last_reply().buttons for b in row]
    assert (await members.view(bot_store, "m-1")).telegram_user_id == ann.id
    await ann.send(f"/start {token.token}")
    assert "already connected to you" in ann.last_reply().text
    await boris.send(f"/start {token.token}")
    assert "уже использована" in boris.last_reply().text
    assert (await members.view(bot_store, "m-1")).telegram_user_id == ann.id


async def test_expired_and_garbage_tokens(
    ann: Person, bot_store: Store, clock: ManualClock
) -> None:
    await member(bot_store, "m-1")
    token = await links.create_token(bot_store, "m-1", ttl=timedelta(minutes=5))
    clock.advance(minutes=6)
    await ann.send(f"/start {token.token}")
    assert "expired" in ann.last_reply().text
    await ann.send("/start not-a-real-token")
    assert "not valid" in ann.last_reply().text
    await ann.send("/start <b>!!</b>")
    assert "not valid" in ann.last_reply().text
    assert (await members.view(bot_store, "m-1")).telegram_user_id is None


async def test_one_account_per_telegram_user(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann, "m-1")
    await member(bot_store, "m-2")
    token = await links.create_token(bot_store, "m-2")
    await ann.send(f"/start {token.token}")
    assert "/unlink" in ann.last_reply().text
    assert (await members.view(bot_store, "m-2")).telegram_user_id is None


async def test_unlink_asks_first(ann: Person, bot_store: Store) -> None:
    await linked(bot_store, ann, "m-1")
    await ann.send("/unlink")
    assert "Disconnect this Telegram" in ann.last_reply().text
    await ann.press("Cancel")
    assert "stays connected" in ann.last_reply().text
    assert (await members.view(bot_store, "m-1")).telegram_linked
    await ann.send("/unlink")
    await ann.press("Yes, disconnect")
    assert "Disconnected" in ann.last_reply().text
    assert not (await members.view(bot_store, "m-1")).telegram_linked
    await ann.send("/unlink")
    assert "not connected" in ann.last_reply().text


async def test_invite_link_for_a_stranger(ann: Person, boris: Person, bot_store: Store) -> None:
    await linked(bot_store, ann, "m-1")
    await ann.send("/me")
    await ann.press("👥 Invite a friend")
    text = ann.last_reply().text
    url = next(word for word in text.split() if word.startswith("https://t.me/"))
    code = url.rsplit("ref_", 1)[1]
    await boris.send(f"/start ref_{code}")
    reply = boris.last_reply()
    assert "Друг пригласил" in reply.text
    assert reply.buttons[0][0].url == f"https://shop.example/signup?ref={code}"
    await boris.send("/start ref_nosuchcode")
    assert "недействительна" in boris.last_reply().text
    await ann.send(f"/start ref_{code}")
    assert "already a member" in ann.last_reply().text


async def test_russian_user_gets_russian(boris: Person, bot_store: Store) -> None:
    await boris.send("/start")
    assert "Здравствуйте" in boris.last_reply().text
    await linked(bot_store, boris, "m-9")
    assert "Аккаунт Demo Shop подключён" in boris.last_reply().text


async def test_command_menus_in_both_languages(ann: Person, boris: Person) -> None:
    en = {c["command"]: c["description"] for c in ann.menu_commands()}
    ru = {c["command"]: c["description"] for c in boris.menu_commands()}
    assert set(en) == set(ru) == {
        "start", "me", "coupons", "daily", "history", "support", "settings", "help", "unlink"
    }  # fmt: skip
    assert en["coupons"].startswith("Exchange") and ru["coupons"].startswith("Обмен")


async def test_unknown_command_and_forged_button(ann: Person, bot_store: Store) -> None:
    await ann.send("/frobnicate")
    assert "don't know that command" in ann.last_reply().text
    await linked(bot_store, ann)
    answer = await ann.press_data("unl:maybe")
    assert answer is not None and "no longer active" in answer.text
    assert (await members.view(bot_store, "m-1")).telegram_linked


async def test_a_link_issued_before_unlink_or_replaced_no_longer_links(
    ann: Person, boris: Person, bot_store: Store
) -> None:
    """An older unused token linked a different Telegram user (issue 17)."""
    await member(bot_store, "m-1")
    spare = await links.create_token(bot_store, "m-1")  # say, left in an old e-mail
    latest = await links.create_token(bot_store, "m-1")
    await boris.send(f"/start {spare.token}")
    assert "заменила более новая" in boris.last_reply().text  # Boris reads Russian
    await ann.send(f"/start {latest.token}")
    assert "is connected" in ann.last_reply().text
    before_unlink = await links.create_token(bot_store, "m-1")
    await ann.send("/unlink")
    await ann.press("Yes, disconnect")
    await boris.send(f"/start {before_unlink.token}")
    assert "заменила более новая" in boris.last_reply().text  # Boris reads Russian
    assert (await members.view(bot_store, "m-1")).telegram_user_id is None
