"""setMyCommands, getMyCommands and deleteMyCommands, per scope and language."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

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
