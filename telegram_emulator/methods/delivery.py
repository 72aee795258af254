"""getUpdates and the webhook methods."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.errors import ApiError, bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.params import Params

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator

MAX_POLL_TIMEOUT = 50.0  # Telegram caps long polling; a longer timeout is cut to this
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _allowed_updates(params: Params) -> list[str] | None:
    allowed = params.json_value("allowed_updates", what="allowed_updates")
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise bad_request('Bad Request: field "allowed_updates" must be an Array of Strings')
    return allowed


@api_method("getUpdates")
async def get_updates(emu: TelegramEmulator, params: Params) -> list[dict[str, Any]]:
    """Return pending updates, long-polling up to ``timeout`` seconds when there are none."""
    if emu.webhook.url:
        raise ApiError(409, errors.WEBHOOK_ACTIVE)
    emu.updates.set_allowed(_allowed_updates(params))
    limit = min(max(params.integer("limit") or 100, 1), 100)
    timeout = min(max(params.number("timeout") or 0.0, 0.0), MAX_POLL_TIMEOUT)
    return await emu.updates.get(params.integer("offset"), limit, timeout)


@api_method("setWebhook")
async def set_webhook(emu: TelegramEmulator, params: Params) -> bool:
    """Register the URL the emulator POSTs updates to; an empty URL removes the webhook."""
    url = params.string("url", required=True) or ""
    secret = params.string("secret_token")
    if secret is not None and not _SECRET.match(secret):
        raise bad_request(errors.SECRET_TOKEN_INVALID)
    if url and not url.startswith(("http://", "https://")):
        # Telegram wants HTTPS; plain HTTP is accepted here since everything is on loopback.
        raise bad_request(
            errors.BAD_WEBHOOK.format("Failed to resolve host: Name or service not known")
        )
    if params.flag("drop_pending_updates"):
        emu.updates.drop_all()
    emu.updates.set_allowed(_allowed_updates(params))
    hook = emu.webhook
    hook.url, hook.secret_token = url, secret
    hook.max_connections = params.integer("max_connections") or 40
    hook.ip_address = params.string("ip_address")
    hook.last_error_date = hook.last_error_message = None
    if url:
        emu.webhook_sender.start()
    else:
        await emu.webhook_sender.stop()
    return True


@api_method("deleteWebhook")
async def delete_webhook(emu: TelegramEmulator, params: Params) -> bool:
    """Remove the webhook so getUpdates works again."""
    if params.flag("drop_pending_updates"):
        emu.updates.drop_all()
    emu.webhook.url = ""
    emu.webhook.secret_token = None
    await emu.webhook_sender.stop()
    return True


@api_method("getWebhookInfo")
def get_webhook_info(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Describe the webhook: URL, pending updates and the last delivery error."""
    hook = emu.webhook
    info: dict[str, Any] = {
        "url": hook.url,
        "has_custom_certificate": False,
        "pending_update_count": len(emu.updates.pending),
    }
    if hook.url:
        info["max_connections"] = hook.max_connections
        if hook.ip_address:
            info["ip_address"] = hook.ip_address
        if emu.updates.allowed_updates:
            info["allowed_updates"] = list(emu.updates.allowed_updates)
    if hook.last_error_date is not None:
        info["last_error_date"] = hook.last_error_date
        info["last_error_message"] = hook.last_error_message
    return info
