"""Bot API errors: the status codes and description strings real Telegram answers with."""

from __future__ import annotations

from typing import Any

# Descriptions copied from what api.telegram.org returns, so product code that matches on them
# (or on PTB's exception text) behaves the same against the emulator as in production.
CHAT_NOT_FOUND = "Bad Request: chat not found"
CHAT_ID_EMPTY = "Bad Request: chat_id is empty"
TEXT_EMPTY = "Bad Request: message text is empty"
TEXT_TOO_LONG = "Bad Request: message is too long"
CAPTION_TOO_LONG = "Bad Request: message caption is too long"
CANT_PARSE_ENTITIES = "Bad Request: can't parse entities: {}"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
BUTTON_URL_INVALID = "Bad Request: BUTTON_URL_INVALID"
REPLY_MARKUP_TOO_LONG = "Bad Request: REPLY_MARKUP_TOO_LONG"
INLINE_KEYBOARD_NOT_ARRAYS = (
    'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
)
REPLY_KEYBOARD_NOT_ARRAYS = (
    'Bad Request: field "keyboard" of the ReplyKeyboardMarkup must be an Array of Arrays'
)
CANT_PARSE_BUTTON = "Bad Request: can't parse inline keyboard button: {}"
CANT_PARSE_MARKUP = "Bad Request: can't parse reply keyboard markup JSON object"
INLINE_KEYBOARD_EXPECTED = "Bad Request: inline keyboard expected"
MESSAGE_TO_EDIT_NOT_FOUND = "Bad Request: message to edit not found"
MESSAGE_CANT_BE_EDITED = "Bad Request: message can't be edited"
NO_TEXT_TO_EDIT = "Bad Request: there is no text in the message to edit"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
MESSAGE_TO_DELETE_NOT_FOUND = "Bad Request: message to delete not found"
MESSAGE_CANT_BE_DELETED = "Bad Request: message can't be deleted for everyone"
MESSAGE_TO_COPY_NOT_FOUND = "Bad Request: message to copy not found"
MESSAGE_CANT_BE_COPIED = "Bad Request: message can't be copied"
MESSAGE_TO_PIN_NOT_FOUND = "Bad Request: message to pin not found"
MESSAGE_TO_UNPIN_NOT_FOUND = "Bad Request: message to unpin not found"
REPLIED_NOT_FOUND = "Bad Request: message to be replied not found"
THREAD_NOT_FOUND = "Bad Request: message thread not found"
TOPIC_CLOSED = "Bad Request: TOPIC_CLOSED"
TOPIC_ID_INVALID = "Bad Request: TOPIC_ID_INVALID"
TOPIC_NOT_MODIFIED = "Bad Request: TOPIC_NOT_MODIFIED"
NOT_A_FORUM = "Bad Request: the chat is not a forum"
GROUP_UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"
NO_RIGHTS_TOPIC = "Bad Request: not enough rights to create a topic"
NOT_ENOUGH_RIGHTS_TOPIC = "Bad Request: not enough rights to manage the topic"
WRONG_FILE_ID = "Bad Request: wrong file identifier/HTTP URL specified"
WRONG_FILE_TYPE = "Bad Request: can't use file of type {} as {}"
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
ANSWER_TOO_LONG = "Bad Request: MESSAGE_TOO_LONG"
WRONG_ACTION = "Bad Request: wrong parameter action in request"
COMMAND_INVALID = "Bad Request: BOT_COMMAND_INVALID"
COMMAND_DESCRIPTION_INVALID = "Bad Request: command description must be non-empty"
COMMANDS_TOO_MUCH = "Bad Request: BOT_COMMANDS_TOO_MUCH"
PARAMETER_REQUIRED = 'Bad Request: parameter "{}" is required'
BAD_WEBHOOK = "Bad Request: bad webhook: {}"
# An error text, not a secret.
SECRET_TOKEN_INVALID = "Bad Request: secret token contains unallowed characters"  # noqa: S105
BLOCKED = "Forbidden: bot was blocked by the user"
CANT_INITIATE = "Forbidden: bot can't initiate conversation with a user"
NOT_A_MEMBER = "Forbidden: bot is not a member of the supergroup chat"
TOO_MANY_REQUESTS = "Too Many Requests: retry after {}"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
TERMINATED_BY_OTHER = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
NOT_FOUND = "Not Found"
UNAUTHORIZED = "Unauthorized"


class ApiError(Exception):
    """A Bot API call failed; carries the HTTP status and Telegram's description."""

    def __init__(
        self,
        code: int,
        description: str,
        retry_after: int | None = None,
        *,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> dict[str, Any]:
        """Return the JSON body Telegram sends for this error."""
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        if self.migrate_to_chat_id is not None:
            body["parameters"] = {"migrate_to_chat_id": self.migrate_to_chat_id}
        return body


def bad_request(description: str) -> ApiError:
    """Return a 400 error with the given full description."""
    return ApiError(400, description)


def forbidden(description: str) -> ApiError:
    """Return a 403 error with the given full description."""
    return ApiError(403, description)


def too_many_requests(retry_after: int) -> ApiError:
    """Return a 429 error asking the caller to wait ``retry_after`` seconds."""
    return ApiError(429, TOO_MANY_REQUESTS.format(retry_after), retry_after=retry_after)
