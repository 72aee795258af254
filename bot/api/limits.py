"""What protects the server from clients: the bearer key, body size and body read time.

Both are pure ASGI middleware (no per-request task or copy of the scope), so the cost on the
hot path is a few attribute reads.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.api.errors import error_response

API_PREFIX = "/api/v1/"
# Seconds a client may take to send a request's body (408 after), and its headers (the
# connection is closed after): slow or stuck clients hold nothing for long. A shop's backend
# sends a few KiB at once, so this is generous.
DEFAULT_READ_TIMEOUT = 10.0
# A platform's webhook carries a whole order (every line item, address, tax line): Shopify
# and WooCommerce orders pass the shop API's 64 KiB, so the connectors take up to 1 MiB.
CONNECTOR_MAX_BODY = 1_048_576
CONNECTOR_PREFIX = "/connectors/"
# Where RequestLimits leaves the whole body it read, for routes to take without reading again.
BODY = "loyalty.body"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class BearerAuth:
    """Require `Authorization: Bearer <key>` on every /api/v1/ request (401 otherwise).

    The key is compared with `hmac.compare_digest`, so the answer time does not tell how much
    of a guessed key was right. Checked before the body is read: a stranger costs nothing.
    """

    def __init__(self, app: ASGIApp, api_key: str, prefix: str = API_PREFIX) -> None:
        if not api_key:
            raise ValueError("the API key must not be empty")
        self.app = app
        self.expected = api_key.encode()
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            scheme, _, token = (_header(scope, b"authorization") or b"").partition(b" ")
            # The scheme is case-insensitive (RFC 9110); the key is compared in constant time.
            valid = hmac.compare_digest(token.strip(), self.expected)
            if not (valid and scheme.lower() == b"bearer"):
                message = "missing or wrong API key; send Authorization: Bearer <key>"
                response = error_response(
                    401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class RequestLimits:
    """Read each request body up front, within `max_body_bytes` and `body_timeout` seconds.

    A declared Content-Length over the limit is refused before anything is read; a body sent
    without one (chunked) is counted as it streams and refused once it passes the limit (413).
    A client that stops sending mid-body gets 408 after `body_timeout`. Both answers close the
    connection, so a half-sent body is never read as the next request. The app then receives
    the whole body in one message.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_timeout: float,
        larger: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        # Path prefixes allowed a larger body (a platform's order webhook can pass 64 KiB).
        self.larger = dict(larger or {})

    def _limit(self, scope: Scope) -> int:
        for prefix, limit in self.larger.items():
            if scope["path"].startswith(prefix):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = _header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit():  # uvicorn (h11) refuses these first; other servers may not
                await self._refuse(scope, receive, send, 400)
                return
            if int(declared) > limit:
                await self._refuse(scope, receive, send, 413, limit)
                return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return  # the client left: nobody to answer
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        await self._refuse(scope, receive, send, 413, limit)
                        return
                    if chunk:
                        chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await self._refuse(scope, receive, send, 408)
            return
        body = b"".join(chunks)
        scope[BODY] = body
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: wait for the disconnect, as usual
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, status: int, limit: int = 0
    ) -> None:
        if status == 400:
            message, code = "the Content-Length header is not a number", "bad_request"
        elif status == 413:
            message = f"the body is larger than {limit or self.max_body_bytes} bytes"
            code = "body_too_large"
        else:
            message = f"the body did not arrive within {self.body_timeout:g} s"
            code = "request_timeout"
        response = error_response(status, code, message, headers={"Connection": "close"})
        await response(scope, receive, send)
