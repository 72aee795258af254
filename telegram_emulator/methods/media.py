"""sendPhoto, sendDocument and sendVoice, by file_id, URL or upload."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from telegram_emulator import errors
from telegram_emulator.compose import compose
from telegram_emulator.errors import bad_request
from telegram_emulator.methods import api_method
from telegram_emulator.methods._common import send_bot_message
from telegram_emulator.params import Params, Upload
from telegram_emulator.state import FileRecord

if TYPE_CHECKING:
    from telegram_emulator.core import TelegramEmulator


def resolve_file(emu: TelegramEmulator, params: Params, kind: str) -> FileRecord:
    """Return the file a send method names: a known file_id, a URL or an uploaded part."""
    value = params.string(kind)
    if value is None:
        upload = params.files.get(kind)
        if upload is None:
            raise bad_request(errors.PARAMETER_REQUIRED.format(kind))
        return emu.new_upload(kind, upload)
    if value.startswith("attach://"):
        upload = params.files.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request(errors.WRONG_FILE_ID)
        return emu.new_upload(kind, upload)
    if value.startswith(("http://", "https://")):
        # Telegram downloads the URL; the emulator has no network, so it invents the file.
        name = value.rstrip("/").rsplit("/", 1)[-1] or "file"
        return emu.new_upload(kind, Upload(filename=name, content=b""))
    record = emu.files.get(value)
    if record is None:
        raise bad_request(errors.WRONG_FILE_ID)
    if record.kind != kind:
        raise bad_request(errors.WRONG_FILE_TYPE.format(record.kind.title(), kind.title()))
    return record


def _send_file(emu: TelegramEmulator, params: Params, kind: str) -> dict[str, Any]:
    chat = emu.writable_chat(params.chat_id())
    file = resolve_file(emu, params, kind)
    content = compose(params, text_field="caption", entities_field="caption_entities", caption=True)
    message = send_bot_message(emu, params, chat, kind=kind, content=content, file=file)
    return message.to_dict()


@api_method("sendPhoto")
def send_photo(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Send a photo."""
    return _send_file(emu, params, "photo")


@api_method("sendDocument")
def send_document(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Send a document."""
    return _send_file(emu, params, "document")


@api_method("sendVoice")
def send_voice(emu: TelegramEmulator, params: Params) -> dict[str, Any]:
    """Send a voice note."""
    return _send_file(emu, params, "voice")
