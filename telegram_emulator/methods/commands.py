"""setMyCommands, getMyCommands and deleteMyCommands, per scope and language; the chat menu
button (setChatMenuButton, getChatMenuButton)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.core import CommandScopeKey, TelegramEmulator

MAX_COMMANDS = 100
MAX_DESCRIPTION = 256
_COMMAND = re.compile(r"^[a-z0-9_]{1,32}$")
_SCOPES_WITH_CHAT = {"chat", "chat_administrators", "chat_member"}
_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}


def scope_key(emu: TelegramEmulator, params: Params) -> CommandScopeKey:
    """Return the storage key of the ``scope`` parameter (default scope if absent)."""
    scope = params.json_value("scope", what="BotCommandScope")
    if scope is None:
        return ("default", None, None)
    kind = scope.get("type") if isinstance(scope, dict) else None
    if kind in _SCOPES:
        return (kind, None, None)
    if kind not in _SCOPES_WITH_CHAT or not isinstance(scope, dict):
        raise bad_request("Bad Request: unsupported bot command scope type")
    chat = emu.find_chat(Params(scope).chat_id())
    user_id = None
    if kind == "chat_member":
        user_id = Params(scope).integer("user_id", required=True)
    return (kind, chat.id, user_id)


@api_method("setMyCommands")
def set_my_commands(emu: TelegramEmulator, params: Params) -> bool:
    """Store the command menu for one scope and language; an empty list clears it."""
    commands = params.json_value("commands", what="commands")
    if commands is None:
        raise bad_request(errors.PARAMETER_REQUIRED.format("commands"))
    if not isinstance(commands, list):
        raise bad_request('Bad Request: field "commands" must be an Array')
    if len(commands) > MAX_COMMANDS:
        raise bad_request(errors.COMMANDS_TOO_MUCH)
    stored = []
    for command in commands:
        name = command.get("command") if isinstance(command, dict) else None
        description = command.get("description") if isinstance(command, dict) else None
        if not isinstance(name, str) or not _COMMAND.match(name):
            raise bad_request(errors.COMMAND_INVALID)
        if not isinstance(description, str) or not 1 <= len(description) <= MAX_DESCRIPTION:
            raise bad_request(errors.COMMAND_DESCRIPTION_INVALID)
        stored.append({"command": name, "description": description})
    key = (scope_key(emu, params), params.string("language_code") or "")
    if stored:
        emu.commands[key] = stored
    else:
        emu.commands.pop(key, None)
    return True


@api_method("getMyCommands")
def get_my_commands(emu: TelegramEmulator, params: Params) -> list[dict[str, str]]:
    """Return the commands stored for exactly this scope and language."""
    key = (scope_key(emu, params), params.string("language_code") or "")
    return list(emu.commands.get(key, []))


@api_method("deleteMyCommands")
def delete_my_commands(emu: TelegramEmulator, params: Params) -> bool:
    """Delete the commands of one scope and language."""
    key = (scope_key(emu, params), params.string("language_code") or "")
    emu.commands.pop(key, None)
    return True


_MENU_TYPES = {"commands", "default", "web_app"}


@api_method("setChatMenuButton")
def set_chat_menu_button(emu: TelegramEmulator, params: Params) -> bool:
    """Store a private chat's menu button (without chat_id: the default for every chat)."""
    chat_id = None
    if "chat_id" in params:
        chat = emu.find_chat(params.chat_id())
        if chat.type != "private":
            raise bad_request("Bad Request: chat_id must be a private chat")
        chat_id = chat.id
    button = params.json_value("menu_button", what="MenuButton")
    if button is None:
        button = {"type": "default"}
    if not isinstance(button, dict) or button.get("type") not in _MENU_TYPES:
        raise bad_request("Bad Request: can't parse menu button")
    if button["type"] == "web_app":
        web_app = button.get("web_app")
        url = web_app.get("url") if isinstance(web_app, dict) else None
        if not isinstance(button.get("text"), str) or not button["text"]:
            raise bad_request("Bad Request: menu button text must be non-empty")
        # Telegram opens Mini Apps from https addresses only.
        if not isinstance(url, str) or not url.startswith("https://"):
            raise bad_request("Bad Request: BUTTON_URL_INVALID")
    emu.menu_buttons[chat_id] = dict(button)
    return True


@api_method("getChatMenuButton")
def get_chat_menu_button(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Return a chat's menu button, else the default one."""
    chat_id = emu.find_chat(params.chat_id()).id if "chat_id" in params else None
    found = emu.menu_buttons.get(chat_id) or emu.menu_buttons.get(None)
    return dict(found or {"type": "commands"})
