"""The emulator over HTTP: the Bot API at ``/bot<token>/<method>`` plus a control API.

A bot started as a separate process points ``base_url`` at ``http://127.0.0.1:PORT/bot`` and
talks to the emulator like to Telegram (GET or POST; query string, form, multipart or JSON).
``/_emulator/...`` lets a script act as people and read what the bot sent, and take Telegram
away (over HTTP a "timeout" holds each call until Telegram is back or 60 s pass, then answers
504; a refused connection is staged by not serving at all, since a listening socket cannot
refuse, and ``go_down("refused")`` is held like a timeout here):

=======  ==============================================  =========================================
POST     /_emulator/users                                {user_id, first_name, ...} -> the user
POST     /_emulator/users/{id}/send                      {text, chat_id?, thread_id?} -> message
POST     /_emulator/users/{id}/press                     {label, message_id?, chat_id?} -> answer
POST     /_emulator/users/{id}/press_data                {data, message_id?, chat_id?} -> answer
POST     /_emulator/users/{id}/block, .../unblock        -> {"ok": true}
POST     /_emulator/users/{id}/wait_reply                {timeout?, chat_id?} -> message
GET      /_emulator/users/{id}/replies                   ?since=MARK -> bot messages in private
POST     /_emulator/groups                               {chat_id, title, forum, members} -> group
GET      /_emulator/chats/{chat_id}/messages             ?thread_id=&since= -> live messages
GET      /_emulator/groups/{chat_id}/topics              -> topics
DELETE   /_emulator/groups/{chat_id}/topics/{thread_id}  delete a topic as an agent would
GET      /_emulator/state                                -> delivery mode, webhook, pending updates
POST     /_emulator/outage                               {outage: "timeout"|"bad_gateway"|null}
POST     /_emulator/revoke_token                         -> {"token": the new one}
=======  ==============================================  =========================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from telegram_emulator.core import TelegramAway, TelegramEmulator
from telegram_emulator.errors import ApiError
from telegram_emulator.params import Upload
from telegram_emulator.people import Group, MessageView, Person

Endpoint = Callable[[Request], Awaitable[Response]]
HTTP_TIMEOUT_HOLD = 60.0  # seconds a call is held in a "timeout" outage


def create_app(emulator: TelegramEmulator) -> Starlette:
    """Return the ASGI app serving the Bot API and the control API for ``emulator``."""
    api = _ControlApi(emulator)

    async def bot_api(request: Request) -> Response:
        """Serve one Bot API call."""
        try:
            params, files = await read_params(request)
        except ValueError as exc:
            return JSONResponse(ApiError(400, f"Bad Request: {exc}").payload(), status_code=400)
        try:
            status, body = await emulator.handle(
                request.path_params["token"], request.path_params["method"], params, files
            )
        except TelegramAway:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(emulator.back.wait(), HTTP_TIMEOUT_HOLD)
            return JSONResponse(
                {"ok": False, "error_code": 504, "description": "Gateway Timeout"}, status_code=504
            )
        return JSONResponse(body, status_code=status)

    routes = [
        Route("/bot{token}/{method}", bot_api, methods=["GET", "POST"]),
        Route("/_emulator/state", api.state, methods=["GET"]),
        Route("/_emulator/outage", api.outage, methods=["POST"]),
        Route("/_emulator/revoke_token", api.revoke_token, methods=["POST"]),
        Route("/_emulator/users", api.create_user, methods=["POST"]),
        Route("/_emulator/users/{user_id}/send", api.send, methods=["POST"]),
        Route("/_emulator/users/{user_id}/press", api.press, methods=["POST"]),
        Route("/_emulator/users/{user_id}/press_data", api.press_data, methods=["POST"]),
        Route("/_emulator/users/{user_id}/block", api.block, methods=["POST"]),
        Route("/_emulator/users/{user_id}/unblock", api.unblock, methods=["POST"]),
        Route("/_emulator/users/{user_id}/wait_reply", api.wait_reply, methods=["POST"]),
        Route("/_emulator/users/{user_id}/replies", api.replies, methods=["GET"]),
        Route("/_emulator/groups", api.create_group, methods=["POST"]),
        Route("/_emulator/groups/{chat_id}/topics", api.topics, methods=["GET"]),
        Route(
            "/_emulator/groups/{chat_id}/topics/{thread_id}", api.delete_topic, methods=["DELETE"]
        ),
        Route("/_emulator/chats/{chat_id}/messages", api.chat_messages, methods=["GET"]),
    ]
    return Starlette(routes=routes)


async def read_params(request: Request) -> tuple[dict[str, Any], dict[str, Upload]]:
    """Read Bot API parameters from the query string and a JSON, form or multipart body."""
    params: dict[str, Any] = dict(request.query_params)
    files: dict[str, Upload] = {}
    if request.method != "POST":
        return params, files
    content_type = request.headers.get("content-type", "")
    body = await request.body()
    if not body:
        return params, files
    if content_type.startswith("application/json"):
        data = json.loads(body)
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        params.update(data)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    elif content_type.startswith("multipart/form-data"):
        fields, files = parse_multipart(content_type, body)
        params.update(fields)
    return params, files


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, Upload]]:
    """Split a multipart/form-data body into fields and files with the standard library.

    Starlette's own form parser needs python-multipart; the email parser does the same job
    for what bots send and keeps the emulator free of extra dependencies.
    """
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ValueError("malformed multipart body")
    fields: dict[str, str] = {}
    files: dict[str, Upload] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = content.decode("utf-8")
        else:
            files[name] = Upload(filename, content, part.get_content_type())
    return fields, files


def view_to_json(view: MessageView) -> dict[str, Any]:
    """Return a message view as the control API shows it."""
    return {
        "message_id": view.message_id,
        "chat_id": view.chat_id,
        "kind": view.kind,
        "from_bot": view.from_bot,
        "text": view.text,
        "html": view.html,
        "buttons": [
            [{"label": b.label, "callback_data": b.callback_data, "url": b.url} for b in row]
            for row in view.buttons
        ],
        "keyboard": view.keyboard,
        "protect_content": view.protect_content,
        "edited": view.edited,
        "deleted": view.deleted,
        "thread_id": view.thread_id,
        "file_id": view.file_id,
    }


@contextlib.contextmanager
def _errors_as_json() -> Iterator[None]:
    # Control API misuse answers 4xx with the reason instead of a 500 and a traceback.
    try:
        yield
    except LookupError as exc:
        raise _Reply(404, str(exc)) from exc
    except TimeoutError as exc:
        raise _Reply(408, str(exc)) from exc
    except (ValueError, RuntimeError, TypeError) as exc:
        raise _Reply(400, str(exc)) from exc


class _Reply(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _control(
    handler: Callable[[Any, Request], Awaitable[Any]],
) -> Callable[[Any, Request], Awaitable[Response]]:
    async def endpoint(self: Any, request: Request) -> Response:
        """Run the handler; answer JSON, or a 4xx with the reason."""
        try:
            with _errors_as_json():
                return JSONResponse(await handler(self, request))
        except _Reply as reply:
            return JSONResponse({"error": str(reply)}, status_code=reply.status)

    return endpoint


class _ControlApi:
    """Handlers of ``/_emulator/...``: people's actions and what they see."""

    def __init__(self, emulator: TelegramEmulator) -> None:
        self.emu = emulator

    async def _body(self, request: Request) -> dict[str, Any]:
        body = await request.body()
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise TypeError("the body must be a JSON object")
        return data

    def _person(self, request: Request) -> Person:
        user_id = int(request.path_params["user_id"])
        if user_id not in self.emu.users:
            raise LookupError(f"no user {user_id}; POST /_emulator/users first")
        return self.emu.user(user_id)

    def _group(self, chat_id: object) -> Group | None:
        if chat_id is None:
            return None
        group = self.emu.groups.get(int(str(chat_id)))
        if group is None:
            raise LookupError(f"no group {chat_id}")
        return group

    def _message(
        self, person: Person, group: Group | None, message_id: object
    ) -> MessageView | None:
        if message_id is None:
            return None
        chat = group.record if group is not None else self.emu.chats[person.id]
        stored = chat.messages.get(int(str(message_id)))
        if stored is None:
            raise LookupError(f"no message {message_id} in chat {chat.id}")
        return MessageView(stored)

    @_control
    async def state(self, request: Request) -> Any:
        """Report the delivery mode, webhook and pending updates."""
        return {
            "delivery": self.emu.delivery,
            "webhook_url": self.emu.webhook.url,
            "pending_updates": len(self.emu.updates.pending),
            "users": sorted(self.emu.users),
            "groups": sorted(self.emu.groups),
        }

    @_control
    async def outage(self, request: Request) -> Any:
        """Take Telegram away ("timeout", "bad_gateway") or bring it back (null)."""
        wanted = (await self._body(request)).get("outage")
        if wanted is None:
            self.emu.come_back()
        elif wanted in ("timeout", "bad_gateway"):
            self.emu.go_down(wanted)
        else:
            raise ValueError(f"outage must be timeout, bad_gateway or null, not {wanted!r}")
        return {"outage": self.emu.outage}

    @_control
    async def revoke_token(self, request: Request) -> Any:
        """Revoke the bot's token: the old one is answered 401 from now on."""
        return {"token": self.emu.revoke_token()}

    @_control
    async def create_user(self, request: Request) -> Any:
        """Create a user (or return the existing one)."""
        body = await self._body(request)
        person = self.emu.user(
            int(body["user_id"]),
            first_name=body.get("first_name", "Ann"),
            last_name=body.get("last_name"),
            username=body.get("username"),
            language_code=body.get("language_code", "en"),
        )
        return person.record.to_dict()

    @_control
    async def send(self, request: Request) -> Any:
        """Send text as the user."""
        person, body = self._person(request), await self._body(request)
        view = await person.send(
            str(body["text"]),
            chat=self._group(body.get("chat_id")),
            thread_id=body.get("thread_id"),
        )
        return view_to_json(view)

    @_control
    async def press(self, request: Request) -> Any:
        """Press an inline button by label."""
        person, body = self._person(request), await self._body(request)
        group = self._group(body.get("chat_id"))
        answer = await person.press(
            str(body["label"]),
            message=self._message(person, group, body.get("message_id")),
            chat=group,
            timeout=float(body.get("timeout", 5.0)),
        )
        return None if answer is None else vars(answer)

    @_control
    async def press_data(self, request: Request) -> Any:
        """Send a callback query with arbitrary data."""
        person, body = self._person(request), await self._body(request)
        group = self._group(body.get("chat_id"))
        answer = await person.press_data(
            str(body["data"]),
            message=self._message(person, group, body.get("message_id")),
            chat=group,
            timeout=float(body.get("timeout", 5.0)),
        )
        return None if answer is None else vars(answer)

    @_control
    async def block(self, request: Request) -> Any:
        """Block the bot as the user."""
        self._person(request).block()
        return {"ok": True}

    @_control
    async def unblock(self, request: Request) -> Any:
        """Unblock the bot as the user."""
        self._person(request).unblock()
        return {"ok": True}

    @_control
    async def wait_reply(self, request: Request) -> Any:
        """Wait for the bot's next message to the user."""
        person, body = self._person(request), await self._body(request)
        view = await person.wait_reply(
            float(body.get("timeout", 5.0)), chat=self._group(body.get("chat_id"))
        )
        return view_to_json(view)

    @_control
    async def replies(self, request: Request) -> Any:
        """List the bot's replies to the user's last action (or since a mark)."""
        person = self._person(request)
        since = request.query_params.get("since")
        views = person.replies() if since is None else person.messages_since(int(since))
        return [view_to_json(v) for v in views]

    @_control
    async def create_group(self, request: Request) -> Any:
        """Create a supergroup with the bot in it."""
        body = await self._body(request)
        members = [self.emu.user(int(m)) for m in body.get("members", [])]
        group = self.emu.supergroup(
            int(body["chat_id"]),
            body.get("title", "Agents"),
            forum=bool(body.get("forum", False)),
            members=members,
            username=body.get("username"),
        )
        return group.record.to_dict()

    @_control
    async def topics(self, request: Request) -> Any:
        """List a forum's topics."""
        group = self._group(request.path_params["chat_id"])
        assert group is not None
        return [vars(t) for t in group.topics.values()]

    @_control
    async def delete_topic(self, request: Request) -> Any:
        """Delete a topic as an agent would."""
        group = self._group(request.path_params["chat_id"])
        assert group is not None
        self.emu.delete_topic(group, int(request.path_params["thread_id"]))
        return {"ok": True}

    @_control
    async def chat_messages(self, request: Request) -> Any:
        """List a chat's live messages."""
        chat = self.emu.chats.get(int(request.path_params["chat_id"]))
        if chat is None:
            raise LookupError(f"no chat {request.path_params['chat_id']}")
        thread = request.query_params.get("thread_id")
        since = int(request.query_params.get("since", 0))
        return [
            view_to_json(MessageView(m))
            for m in chat.live_messages(int(thread) if thread else None)
            if m.message_id > since and m.kind != "service"
        ]


@asynccontextmanager
async def serve_asgi(
    app: ASGIApp,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    before_shutdown: Callable[[], None] | None = None,
) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn in this event loop; yield ``http://host:port``.

    Port 0 picks a free port. The socket is bound before uvicorn starts, so the address is
    known at once; the body runs after uvicorn reports it is serving. While it serves, uvicorn
    takes SIGINT/SIGTERM in the main thread: it stops, then passes the signal on.
    """
    sock = listen(host, port)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="emulator-uvicorn")
    try:
        await _until_started(server, task)
        try:
            yield f"http://{host}:{sock.getsockname()[1]}"
        finally:
            if before_shutdown is not None:
                before_shutdown()
    finally:
        server.should_exit = True
        await task
        sock.close()


def listen(host: str, port: int) -> socket.socket:
    """Open a listening TCP socket on host:port (port 0: a free one); one clear OSError if not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio turns Nagle off (TCP_NODELAY) only on sockets that
    # say they are TCP; with proto 0, uvicorn's separate header and body writes meet the
    # client's delayed ACK and every keep-alive request waits ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def _until_started(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    # uvicorn has no start-up callback; ``started`` is its public flag, set once it accepts.
    while not server.started:
        if task.done():
            task.result()  # re-raise why uvicorn did not start
            raise RuntimeError("the emulator's HTTP server stopped before serving")
        await asyncio.wait({task}, timeout=0.005)


@asynccontextmanager
async def serve(
    emulator: TelegramEmulator, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Serve ``emulator`` over HTTP; yield the ``base_url`` for PTB (``http://.../bot``)."""
    async with serve_asgi(
        create_app(emulator), host=host, port=port, before_shutdown=emulator.updates.release
    ) as root:
        yield f"{root}/bot"
