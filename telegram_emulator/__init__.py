"""An in-process Telegram Bot API emulator for tests, the offline demo and the benchmarks.

It keeps Telegram's state for one bot in memory (users, private chats, supergroups with forum
topics, messages, button presses, command menus, webhook settings, pending updates), answers
Bot API methods with Telegram's own status codes and error descriptions, enforces the flood
limits on an injected clock, and lets tests act as people. It imports python-telegram-bot's
public API, Starlette, uvicorn and the standard library only. See README.md.

Plug it into a real python-telegram-bot ``Application``::

    emu = TelegramEmulator(clock=ManualClock())
    app = (
        Application.builder()
        .token(emu.token)
        .request(EmulatorRequest(emu))
        .get_updates_request(EmulatorRequest(emu))
        .build()
    )
    emu.connect(app)                  # direct mode: updates go to app.process_update
    async with app:                   # initialize() calls getMe on the emulator
        ann = emu.user(1001, "Ann")
        await ann.send("/start TOKEN")
        assert "Welcome" in ann.last_reply().text
        answer = await ann.press("My coupons")

Delivery modes: ``direct`` (after ``emu.connect(app)``; an action returns once the update
was processed), ``queue`` (updates wait for getUpdates long polling, e.g. a bot running
``updater.start_polling``), and ``webhook`` (after setWebhook the emulator POSTs each update
with the ``X-Telegram-Bot-Api-Secret-Token`` header). In the last two, ``await
person.wait_reply()`` waits for the bot's next message.

Over HTTP (for a bot in another process): ``async with serve(emu) as base_url`` and build the
bot with ``base_url=base_url``; ``/_emulator/...`` is the control API (see ``http.py``).
"""

from telegram_emulator.clock import Clock, ManualClock
from telegram_emulator.core import (
    ApiCall,
    EmulatorHandlerError,
    Outage,
    TelegramAway,
    TelegramEmulator,
)
from telegram_emulator.errors import ApiError
from telegram_emulator.http import create_app, serve, serve_asgi
from telegram_emulator.limits import RateLimits
from telegram_emulator.people import Button, Group, MessageView, Person, TopicView
from telegram_emulator.request import EmulatorRequest
from telegram_emulator.state import CallbackAnswer

# Grouped by purpose in README.md's table.
__all__ = [
    "ApiCall",
    "ApiError",
    "Button",
    "CallbackAnswer",
    "Clock",
    "EmulatorHandlerError",
    "EmulatorRequest",
    "Group",
    "ManualClock",
    "MessageView",
    "Outage",
    "Person",
    "RateLimits",
    "TelegramAway",
    "TelegramEmulator",
    "TopicView",
    "create_app",
    "serve",
    "serve_asgi",
]
