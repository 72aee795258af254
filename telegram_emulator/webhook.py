"""Webhook delivery: POST each pending update to the URL the bot registered, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from telegram_emulator.updates import UpdateQueue

_LOGGER = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 -- a header name


@dataclass
class WebhookSettings:
    """What setWebhook stored, plus the last delivery error getWebhookInfo reports."""

    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    last_error_date: int | None = None
    last_error_message: str | None = None


class WebhookSender:
    """A background task that delivers the update queue to the webhook URL.

    Like Telegram it sends one update at a time and only moves on after a 2xx answer; a failed
    delivery is recorded (getWebhookInfo shows it) and retried after ``retry_delay`` seconds.
    """

    def __init__(
        self,
        queue: UpdateQueue,
        settings: WebhookSettings,
        unix_now: Callable[[], int],
        retry_delay: float = 0.5,
    ) -> None:
        self._queue = queue
        self._settings = settings
        self._unix_now = unix_now
        self._retry_delay = retry_delay
        self._task: asyncio.Task[None] | None = None
        self._wakeup = asyncio.Event()
        self._attempted = asyncio.Event()
        self.attempts: list[bool] = []  # outcome of every POST, in order

    def start(self) -> None:
        """Make sure the delivery task runs (needs a running event loop)."""
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="emulator-webhook-sender"
            )

    async def stop(self) -> None:
        """Stop delivering; pending updates stay queued."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        async with httpx.AsyncClient(timeout=10.0) as client:
            while self._settings.url:
                await self._queue.wait_for_pending()
                if not self._settings.url:
                    break
                update = self._queue.pending[0]
                delivered = await self._post(client, update)
                if delivered:
                    self._queue.confirm(update["update_id"] + 1)
                self._note_attempt(delivered)
                if not delivered:
                    await self._pause()

    async def _post(self, client: httpx.AsyncClient, update: dict[str, object]) -> bool:
        headers = {}
        if self._settings.secret_token:
            headers[SECRET_HEADER] = self._settings.secret_token
        try:
            response = await client.post(self._settings.url, json=update, headers=headers)
        except httpx.HTTPError as exc:
            self._record_error(f"Connection failed: {exc.__class__.__name__}")
            return False
        if 200 <= response.status_code < 300:
            return True
        self._record_error(
            f"Wrong response from the webhook: {response.status_code} {response.reason_phrase}"
        )
        return False

    async def wait_attempts(self, count: int) -> None:
        """Wait until ``count`` deliveries were attempted in total (successful or not)."""
        while len(self.attempts) < count:
            await self._attempted.wait()

    def _note_attempt(self, delivered: bool) -> None:
        self.attempts.append(delivered)
        event, self._attempted = self._attempted, asyncio.Event()
        event.set()

    def _record_error(self, message: str) -> None:
        _LOGGER.info("webhook delivery failed: %s", message)
        self._settings.last_error_date = self._unix_now()
        self._settings.last_error_message = message

    async def _pause(self) -> None:
        """Wait before retrying, but wake at once if the webhook settings change."""
        self._wakeup.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._retry_delay):
                await self._wakeup.wait()
