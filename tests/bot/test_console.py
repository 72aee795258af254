"""/console for admins (a one-time link, a Mini App button behind https), the card's buttons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from telegram.ext import Application

from bot.api.app import build_api
from bot.config import Config
from storage.store import Store
from telegram_emulator import Person, TelegramEmulator
from tests.bot.conftest import linked, make_config

ADMIN = 1001  # Ann


@pytest.fixture
def config() -> Config:
    return make_config(support={"admin_ids": [ADMIN]}, web={"public_url": "https://loyal.example"})


def _web_apps(message: Any) -> list[str]:
    rows = (message.record.reply_markup or {}).get("inline_keyboard", [])
    return [b["web_app"]["url"] for row in rows for b in row if "web_app" in b]


async def test_an_admin_gets_a_one_time_link_that_signs_in_once(
    ann: Person, bot_store: Store, config: Config
) -> None:
    await ann.send("/console")
    reply = ann.last_reply()
    assert reply.protect_content
    assert _web_apps(reply) == ["https://loyal.example/console/"]
    link = next(w for w in reply.text.split() if "/console/#login=" in w)
    assert link.startswith("https://loyal.example/console/#login=")
    token = link.split("#login=", 1)[1]
    app = build_api(config, bot_store, api_key="k", bot_username="b", session_secret=b"x" * 32)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://loyal.example") as web:
        first = await web.post("/console/api/login", json={"token": token})
        assert first.status_code == 200 and first.json() == {"admin_id": ADMIN}
        cookie = first.headers["set-cookie"].lower()
        for flag in ("httponly", "samesite=strict", "secure", "max-age=43200", "path=/console"):
            assert flag in cookie, flag
        again = await web.post("/console/api/login", json={"token": token})
        assert again.status_code == 401 and again.json()["error"]["code"] == "used"


async def test_a_member_who_is_not_an_admin_gets_no_link(boris: Person, bot_store: Store) -> None:
    await boris.send("/console")
    assert "/console/#login=" not in boris.last_reply().text
    assert "администратор" in boris.last_reply().text
    rows = await bot_store.db.read("SELECT COUNT(*) FROM console_logins")
    assert next(iter(rows))[0] == 0


async def test_me_has_the_card_button_and_the_menu_button_is_the_card(
    ann: Person,
    bot_store: Store,
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
) -> None:
    await linked(bot_store, ann)
    await ann.send("/me")
    assert _web_apps(ann.last_reply()) == ["https://loyal.example/app/"]
    assert emu.menu_buttons[None]["web_app"]["url"] == "https://loyal.example/app/"


class TestWithoutPublicUrl:
    @pytest.fixture
    def config(self) -> Config:
        return make_config(support={"admin_ids": [ADMIN]})

    async def test_no_mini_app_buttons_and_a_local_link(
        self, ann: Person, bot_store: Store, emu: TelegramEmulator
    ) -> None:
        await linked(bot_store, ann)
        await ann.send("/me")
        assert _web_apps(ann.last_reply()) == []
        assert None not in emu.menu_buttons
        await ann.send("/console")
        assert "http://127.0.0.1:8080/console/#login=" in ann.last_reply().text
        assert _web_apps(ann.last_reply()) == []


async def test_setting_the_menu_button_needs_https(emu: TelegramEmulator) -> None:
    from telegram_emulator.errors import ApiError
    from telegram_emulator.methods.commands import set_chat_menu_button
    from telegram_emulator.params import Params

    button = {"type": "web_app", "text": "Card", "web_app": {"url": "http://x.example/app/"}}
    with pytest.raises(ApiError):
        set_chat_menu_button(emu, Params({"menu_button": button}))


async def test_the_gate_keeps_the_telegram_username_for_the_console_search(
    emu: TelegramEmulator,
    app: Application,
    bot_store: Store,  # type: ignore[type-arg]
) -> None:
    from storage import console, telegram_users

    cara = emu.user(1003, "Cara", username="CaraShops")
    await linked(bot_store, cara, "m-cara")
    assert (await telegram_users.profile(bot_store, 1003)).username == "carashops"
    assert [f.member_id for f in await console.search(bot_store, "@CaraShops")] == ["m-cara"]


async def test_admins_see_console_in_their_own_command_menu(
    ann: Person,
    boris: Person,
    emu: TelegramEmulator,
    app: Application,  # type: ignore[type-arg]
) -> None:
    from bot.application import start_up

    await ann.send("/start")
    await start_up(app)  # at the next start the admin has a chat with the bot
    own = emu.commands[(("chat", ADMIN, None), "")]
    assert "console" in [c["command"] for c in own]
    assert all(c["command"] != "console" for key, cs in emu.commands.items() for c in cs
               if key[0][0] != "chat")  # fmt: skip
