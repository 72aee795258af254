"""Structured logs: one `key=value` line per record, easy to grep and to ship.

Call sites pass a short message and their fields with `extra=kv(event=..., ...)` (`kv` lives
in `storage/logs.py`, importable by every layer); records from libraries (uvicorn, PTB) keep
their text as `msg="..."`. Never pass personal data (names, e-mails, message text): ids only.
"""

from __future__ import annotations

import atexit
import collections
import logging
import re
import sys
import threading
import time
import traceback
from typing import TextIO

from telegram.error import NetworkError, TimedOut

from storage.logs import FIELDS, kv

__all__ = [
    "FIELDS", "KeyValueFormatter", "kv", "quote", "redact", "setup_logging", "stop_logging"
]  # fmt: skip
HANDLER_NAME = "loyaltybot"  # the name of the handler setup_logging adds, so it adds one
# Values made only of these characters are written bare; anything else is quoted.
_NEEDS_QUOTES = re.compile(r"[^A-Za-z0-9\-_./:{}<>@+,]")
# Escaped inside quotes, so that one record stays one line and a value cannot forge another
# field or line, nor rewrite the terminal: the backslash and the quote, every control
# character (C0, DEL, C1: CR, NUL, ESC, NEL...), the Unicode line and paragraph separators
# and the bidirectional overrides and isolates (text that displays in another order).
_ESCAPES = re.compile('[\\\\"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]')
_SHORT = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    short = _SHORT.get(char)
    if short is not None:
        return short
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


# A bot token (`<bot id>:<secret>`), alone or in a Bot API URL (`/bot<token>/getMe`): PTB's
# and httpx's errors quote request URLs and PTB's InvalidToken quotes the token itself, so
# every line is cleaned before it is written, tracebacks included.
_TOKEN = re.compile(r"(?:(?<=/bot)|(?<![A-Za-z0-9]))\d{5,}:[A-Za-z0-9_-]{4,}")
REDACTED = "<bot-token>"


def _may_hold_token(text: str) -> bool:
    """Whether five digits stand before some colon: every token has them, few lines do.

    Every line has colons (its timestamp), and the token pattern scanned over a whole line
    cost 20 us of the 40 us a request's log line takes; this look at each colon costs ~1 us.
    """
    colon = text.find(":")
    while colon != -1:
        if colon >= 5 and text[colon - 5 : colon].isdigit():
            return True
        colon = text.find(":", colon + 1)
    return False


def redact(text: str) -> str:
    """Return `text` with every bot token in it replaced by a placeholder."""
    return _TOKEN.sub(REDACTED, text) if _may_hold_token(text) else text


def quote(value: object) -> str:
    """Render a value so that a line splits back into its fields: quoted when it must be."""
    text = "" if value is None else str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + _ESCAPES.sub(_escape, text) + '"'


# Failures of the network to Telegram: expected in operation (and retried by PTB); where in
# the code they surfaced says nothing, so they get no stack.
EXPECTED = (TimedOut, OSError)
MAX_FRAMES = 8


def _expected(exc: BaseException) -> bool:
    # BadRequest and Forbidden are NetworkError subclasses too, but they are answers, not
    # outages: only the bare NetworkError ("connection refused", "bad gateway") is the network.
    return isinstance(exc, EXPECTED) or type(exc) is NetworkError


def error_fields(exc: BaseException) -> list[str]:
    """Return an exception as fields of the one line: type, message and a compact stack.

    The stack is `file:line function` per frame, innermost last, at most MAX_FRAMES of them:
    enough to find the place, where the full traceback made one record thousands of characters
    long (PTB's polling errors: about 6,400).
    """
    fields = [f"error={quote(type(exc).__name__)}", f"error_message={quote(exc)}"]
    if not _expected(exc):
        frames = traceback.extract_tb(exc.__traceback__)[-MAX_FRAMES:]
        stack = "; ".join(f"{_short(f.filename)}:{f.lineno} {f.name}" for f in frames)
        fields.append(f"stack={quote(stack)}")
        cause = exc.__cause__ or exc.__context__
        if cause is not None:
            fields.append(f"cause={quote(f'{type(cause).__name__}: {cause}')}")
    return fields


def _short(filename: str) -> str:
    """Return a path from its package down ("telegram/ext/_updater.py", "bot/jobs.py")."""
    parts = filename.replace("\\", "/").split("/")
    if "site-packages" in parts:
        return "/".join(parts[len(parts) - parts[::-1].index("site-packages") :])
    return "/".join(parts[-2:])


class KeyValueFormatter(logging.Formatter):
    """Format records as `ts=... level=... logger=... msg=... key=value...` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line."""
        seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        parts = [
            f"ts={seconds}.{int(record.msecs):03d}Z",
            f"level={record.levelname}",
            f"logger={record.name}",
            f"msg={quote(record.getMessage())}",
        ]
        fields = getattr(record, FIELDS, None) or {}
        parts.extend(f"{key}={quote(value)}" for key, value in fields.items())
        if record.exc_info and record.exc_info[1] is not None:
            parts.extend(error_fields(record.exc_info[1]))
        return redact(" ".join(parts))


BATCH_SECONDS = 0.02  # how long the writer thread lets lines gather before it writes them


class BatchingHandler(logging.Handler):
    """Format each record where it is logged; a thread of its own writes the lines in batches.

    A write to stderr may block (a pipe read slowly, a log file on a disk busy with fsyncs),
    and the event loop must not wait for it: the logging cookbook's answer ("dealing with
    handlers that block") is a QueueHandler and a QueueListener. But a queue wakes the
    listener thread for every record, and that wake-up (the lock, the GIL handed over and
    back) cost the shop API 0.15-0.2 ms of CPU per request (bench/http_events.py). Here the
    thread is woken by the first line after a quiet spell only, lets lines gather for
    BATCH_SECONDS, and writes them with one write and one flush.
    """

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self.stream = stream
        self._lines: collections.deque[str] = collections.deque()
        self._waiting = False  # the thread holds the wake-up of lines already appended
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._write_batches, name="log-writer", daemon=True)
        self._thread.start()

    def emit(self, record: logging.LogRecord) -> None:
        """Format the record here and hand its line to the writer thread."""
        try:
            self._lines.append(self.format(record))
        except Exception:  # the logging contract: a broken record never breaks the caller
            self.handleError(record)
            return
        if not self._waiting:
            self._waiting = True
            self._wake.set()

    def _write_batches(self) -> None:
        while not self._stopping.is_set() or self._lines:
            self._wake.wait()
            self._wake.clear()
            self._stopping.wait(BATCH_SECONDS)  # let lines gather (no wait once stopping)
            self._waiting = False  # from here on a new line wakes the thread again
            self._write_waiting()

    def _write_waiting(self) -> None:
        lines = []
        while self._lines:
            lines.append(self._lines.popleft())
        if not lines:
            return
        try:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: nothing left to tell it to
            pass

    def close(self) -> None:
        """Write every line still waiting, then stop the thread."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._write_waiting()  # lines logged while the thread was ending
        super().close()


class _JobChatter(logging.Filter):
    """Drop APScheduler's "Adding job tentatively" / "Added job" / "Removed job" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep warnings and the scheduler's own start and stop."""
        if record.levelno >= logging.WARNING:
            return True
        return not str(record.msg).startswith(("Adding job", "Added job", "Removed job"))


def setup_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`) as key=value lines (once per process).

    Records are formatted where they are logged and written by a thread of their own, in
    batches (`BatchingHandler`): the event loop never waits for stderr. The thread is
    stopped, and what it still holds written, at exit.
    """
    root = logging.getLogger()
    if any(h.name == HANDLER_NAME for h in root.handlers):
        return
    handler = BatchingHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.name = HANDLER_NAME
    atexit.register(stop_logging)
    root.addHandler(handler)
    root.setLevel(level)
    # What the key=value line never shows need not be gathered for every record (the logging
    # HOWTO's "Optimization" table): the caller's frame, thread, process and process name.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # httpx logs every outgoing request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler (under PTB's JobQueue) logs each job added, run and finished at INFO: about
    # half of all lines. What the jobs did is logged by the jobs themselves (bot/jobs.py);
    # its start and stop, and every warning (a missed run), stay.
    logging.getLogger("apscheduler.executors.default").setLevel(logging.WARNING)
    scheduler = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _JobChatter) for f in scheduler.filters):
        scheduler.addFilter(_JobChatter())


def stop_logging() -> None:
    """Write what is still queued and remove the handler (a later setup_logging adds one)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.name == HANDLER_NAME]:
        root.removeHandler(handler)
        handler.close()
