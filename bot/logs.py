"""Structured logs: one `key=value` line per record, easy to grep and to ship.

Call sites pass a short message and their fields with `extra=kv(event=..., ...)` (`kv` lives
in `storage/logs.py`, importable by every layer); records from libraries (uvicorn, PTB) keep
their text as `msg="..."`. Never pass personal data (names, e-mails, message text): ids only.
"""

from __future__ import annotations

import atexit
import logging
import queue
import re
import sys
import time
from logging.handlers import QueueHandler, QueueListener

from storage.logs import FIELDS, kv

__all__ = ["FIELDS", "KeyValueFormatter", "kv", "quote", "redact", "setup_logging"]
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


def redact(text: str) -> str:
    """Return `text` with every bot token in it replaced by a placeholder."""
    return _TOKEN.sub(REDACTED, text) if ":" in text else text


def quote(value: object) -> str:
    """Render a value so that a line splits back into its fields: quoted when it must be."""
    text = "" if value is None else str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + _ESCAPES.sub(_escape, text) + '"'


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
        if record.exc_info:
            parts.append(f"exc={quote(self.formatException(record.exc_info))}")
        return redact(" ".join(parts))


def setup_logging(level: int = logging.INFO) -> None:
    """Send every log record to stderr as key=value lines (once per process).

    Records are formatted where they are logged and written to stderr by a thread of their
    own (the logging cookbook's QueueHandler and QueueListener, "dealing with handlers that
    block"): a write to stderr may block (a pipe read slowly, a log file on a disk busy with
    fsyncs), and the event loop must not wait for it. The thread is stopped, and what it
    still holds written, at exit.
    """
    root = logging.getLogger()
    if any(h.name == HANDLER_NAME for h in root.handlers):
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    handler = QueueHandler(records)
    handler.setFormatter(KeyValueFormatter())  # prepare() leaves the whole line in msg
    handler.name = HANDLER_NAME
    listener = QueueListener(records, logging.StreamHandler(sys.stderr))
    listener.start()
    atexit.register(listener.stop)
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
