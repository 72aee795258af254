"""getMe, logOut and close."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator.methods import api_method
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator


@api_method("getMe")
def get_me(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Return the bot's own User object with its capabilities."""
    return {
        **emu.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("logOut")
def log_out(emu: TelegramEmulator, params: Params) -> bool:
    """Log out from the cloud Bot API (recorded; the emulator keeps answering)."""
    emu.logged_out = True
    return True


@api_method("close")
def close(emu: TelegramEmulator, params: Params) -> bool:
    """Close the bot instance before moving it (a no-op here)."""
    return True
