"""Structured logs: one `key=value` line per record, easy to grep and to ship.

Call sites pass a short message and their fields with `extra=kv(event=..., ...)` (`kv` lives
in `storage/logs.py`, importable by every layer); records from libraries (uvicorn, PTB) keep
their text as `msg="..."`. Never pass personal data (names, e-mails, message text): ids only.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
from typing import TextIO

from telegram.error import NetworkError, TimedOut

from storage.logs import FIELDS, kv

__all__ = ["FIELDS", "KeyValueFormatter", "kv", "quote", "setup_logging"]
HANDLER_NAME = "loyaltybot"  # the name of the handler setup_logging adds, so it adds one
# Values made only of these characters are written bare; anything else is quoted.
_NEEDS_QUOTES = re.compile(r"[^A-Za-z0-9\-_./:{}<>@+,]")


def quote(value: object) -> str:
    """Render a value so that a line splits back into its fields: quoted when it must be."""
    text = "" if value is None else str(value)
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


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
        return " ".join(parts)


def setup_logging(level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`) as key=value lines (once per process)."""
    root = logging.getLogger()
    if any(h.name == HANDLER_NAME for h in root.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    handler.name = HANDLER_NAME
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
    # half of all lines. What the jobs did is logged by the jobs themselves (bot/jobs.py).
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
