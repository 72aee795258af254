"""The emulator over HTTP: a polling bot, a webhook bot, raw Bot API requests, control API."""

from __future__ import annotations

import datetime as dtm
import json
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from telegram_emulator import Person, TelegramEmulator, serve, serve_asgi
from telegram_emulator.webhook import SECRET_HEADER
from tests.emulator.conftest import AGENTS
from tests.emulator.sample_bot import add_handlers, builder

App = Application[Any, Any, Any, Any, Any, Any]


async def test_polling_bot_over_http(emu: TelegramEmulator, ann: Person) -> None:
    async with serve(emu) as base_url:
        application = Application.builder().token(emu.token).base_url(base_url).build()
        add_handlers(application)
        async with application:
            await application.updater.start_polling(
                poll_interval=0, timeout=dtm.timedelta(seconds=10)
            )
            await application.start()
            try:
                assert emu.delivery == "queue"
                await ann.send("hello over http")
                assert (await ann.wait_reply()).text == "hello over http"
                await ann.send("/menu")
                await ann.wait_reply()
                answer = await ann.press("Coupons")  # waits for answerCallbackQuery
                assert answer is not None and answer.text == "No coupons yet"
            finally:
                await application.updater.stop()
                await application.stop()
    assert emu.updates.pending == []  # the updater confirmed everything on its way out


async def test_webhook_delivers_with_the_secret_header(emu: TelegramEmulator, ann: Person) -> None:
    application = builder(emu).updater(None).build()
    add_handlers(application)
    secrets: list[str | None] = []

    async def webhook(request: Request) -> Response:
        # The product's check: refuse anything without the configured secret.
        secrets.append(request.headers.get(SECRET_HEADER))
        if request.headers.get(SECRET_HEADER) != "s3cret":
            return Response(status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response()

    bot_server = Starlette(routes=[Route("/telegram/webhook", webhook, methods=["POST"])])
    async with serve_asgi(bot_server) as root, application:
        url = f"{root}/telegram/webhook"
        await application.start()
        try:
            await application.bot.set_webhook(url, secret_token="s3cret")
            assert emu.delivery == "webhook"
            await ann.send("via webhook")
            assert (await ann.wait_reply()).text == "via webhook"
            assert secrets == ["s3cret"]

            await application.bot.set_webhook(url, secret_token="rotated")
            await ann.send("refused")
            await emu.webhook_sender.wait_attempts(2)
            info = await application.bot.get_webhook_info()
            assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
            assert info.pending_update_count == 1 and info.url == url

            await application.bot.set_webhook(url, secret_token="s3cret")
            assert (await ann.wait_reply()).text == "refused"  # redelivered, nothing lost
        finally:
            await application.stop()


async def test_raw_bot_api_requests(emu: TelegramEmulator, ann: Person) -> None:
    await ann.send("hi")  # so the bot may write to Ann
    async with serve(emu) as base_url, httpx.AsyncClient() as client:
        api = f"{base_url}{emu.token}"
        me = (await client.get(f"{api}/getMe")).json()
        assert me["ok"] and me["result"]["username"] == "loyalty_test_bot"

        sent = await client.post(f"{api}/sendMessage", json={"chat_id": ann.id, "text": "json"})
        assert sent.json()["result"]["text"] == "json"
        markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
        form = {"chat_id": str(ann.id), "text": "form", "reply_markup": json.dumps(markup)}
        assert (await client.post(f"{api}/sendmessage", data=form)).status_code == 200
        assert ann.last_reply().buttons[0][0].callback_data == "go"
        query = await client.get(f"{api}/sendMessage", params={"chat_id": ann.id, "text": "query"})
        assert query.json()["result"]["text"] == "query"

        upload = await client.post(
            f"{api}/sendDocument",
            data={"chat_id": str(ann.id), "caption": "<b>statement</b>", "parse_mode": "HTML"},
            files={"document": ("statement.txt", b"\x00\xffbinary", "text/plain")},
        )
        document = upload.json()["result"]["document"]
        assert (document["file_name"], document["file_size"]) == ("statement.txt", 8)
        assert ann.last_reply().text == "statement"

        empty = await client.post(f"{api}/sendMessage", json={"chat_id": ann.id, "text": ""})
        assert (empty.status_code, empty.json()["description"]) == (
            400,
            "Bad Request: message text is empty",
        )
        unknown = await client.post(f"{api}/launchRockets")
        assert (unknown.status_code, unknown.json()["description"]) == (404, "Not Found")
        wrong = await client.post(f"{base_url}999:WRONG/getMe")
        assert (wrong.status_code, wrong.json()["description"]) == (401, "Unauthorized")


async def test_control_api(emu: TelegramEmulator, app: App) -> None:
    async with serve(emu) as base_url:
        root = base_url.removesuffix("/bot")
        async with httpx.AsyncClient(base_url=f"{root}/_emulator") as client:
            user = await client.post("/users", json={"user_id": 3003, "first_name": "Cleo"})
            assert user.json()["first_name"] == "Cleo"
            sent = await client.post("/users/3003/send", json={"text": "/menu"})
            assert sent.json()["text"] == "/menu"
            (menu,) = (await client.get("/users/3003/replies")).json()
            assert menu["text"] == "Your account\nPick one:" and menu["protect_content"]
            assert [b["label"] for b in menu["buttons"][0]] == ["Balance", "Coupons"]

            answer = await client.post("/users/3003/press", json={"label": "Coupons"})
            assert answer.json() == {
                "text": "No coupons yet",
                "show_alert": True,
                "url": None,
                "cache_time": 0,
            }
            missing = await client.post("/users/3003/press", json={"label": "Nope"})
            assert missing.status_code == 404 and "Nope" in missing.json()["error"]

            group = {"chat_id": AGENTS, "title": "Agents", "forum": True, "members": [3003]}
            assert (await client.post("/groups", json=group)).json()["is_forum"]
            await client.post("/users/3003/send", json={"text": "/support help"})
            (topic,) = (await client.get(f"/groups/{AGENTS}/topics")).json()
            assert topic["name"] == "Cleo (3003)"
            in_topic = await client.get(
                f"/chats/{AGENTS}/messages", params={"thread_id": topic["thread_id"]}
            )
            assert [m["text"] for m in in_topic.json()] == ["/support help"]
            deleted = await client.delete(f"/groups/{AGENTS}/topics/{topic['thread_id']}")
            assert deleted.status_code == 200
            assert (await client.get(f"/groups/{AGENTS}/topics")).json()[0]["deleted"]

            await client.post("/users/3003/block")
            refused = await client.post("/users/3003/send", json={"text": "hi"})
            assert refused.status_code == 400 and "unblock" in refused.json()["error"]
            nobody = await client.post("/users/42/send", json={"text": "hi"})
            assert nobody.status_code == 404
            state = (await client.get("/state")).json()
            assert state["delivery"] == "direct" and state["users"] == [3003]
