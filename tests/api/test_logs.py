"""Structured log lines: one line per record, values quoted only when they must be."""

from __future__ import annotations

import io
import logging
import shlex

import pytest
from telegram.error import NetworkError

from bot.logs import BatchingHandler, KeyValueFormatter, kv, quote, redact, setup_logging
from tests.api.conftest import Shop, event


def test_values_are_quoted_only_when_needed() -> None:
    assert quote("/api/v1/members/{member_id}") == "/api/v1/members/{member_id}"
    assert quote(12.5) == "12.5"
    assert quote("") == '""' and quote(None) == '""'
    assert quote('say "hi"\nbye') == '"say \\"hi\\"\\nbye"'
    assert quote("a=b c") == '"a=b c"'


def test_a_record_is_one_line_that_splits_back_into_its_fields() -> None:
    record = logging.LogRecord("bot.api", logging.INFO, __file__, 1, "request", None, None)
    record.__dict__.update(kv(route="/api/v1/events", status=200, note="two words\nand a line"))
    line = KeyValueFormatter().format(record)
    assert "\n" not in line
    fields = dict(part.split("=", 1) for part in shlex.split(line))
    assert fields["level"] == "INFO" and fields["msg"] == "request"
    assert fields["route"] == "/api/v1/events" and fields["status"] == "200"
    assert fields["ts"].endswith("Z") and len(fields["ts"]) == len("2026-11-23T16:52:40.099Z")


def _line(exc: BaseException, logger: str = "telegram.ext.Updater") -> dict[str, str]:
    info = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord(logger, logging.ERROR, __file__, 1, "failed", None, info)
    line = KeyValueFormatter().format(record)
    assert "\n" not in line and "Traceback" not in line
    return dict(part.split("=", 1) for part in shlex.split(line))


def test_a_network_failure_is_one_short_line_without_a_stack() -> None:
    fields = _line(NetworkError("httpx.ConnectError: All connection attempts failed"))
    assert fields["error"] == "NetworkError"
    assert fields["error_message"] == "httpx.ConnectError: All connection attempts failed"
    assert "stack" not in fields
    assert len(" ".join(f"{k}={v}" for k, v in fields.items())) < 250


def test_a_bug_keeps_where_it_happened_in_a_compact_stack() -> None:
    def deep() -> None:
        raise KeyError("ticket")

    try:
        try:
            deep()
        except KeyError as exc:
            raise RuntimeError("card failed") from exc
    except RuntimeError as exc:
        fields = _line(exc, "handlers.desk")
    assert fields["error"] == "RuntimeError" and fields["error_message"] == "card failed"
    assert fields["stack"].endswith(" test_a_bug_keeps_where_it_happened_in_a_compact_stack")
    assert fields["stack"].startswith("api/test_logs.py:")  # file:line function
    assert fields["cause"] == "KeyError: 'ticket'"


def test_apscheduler_chatter_is_not_logged() -> None:
    setup_logging()
    runs = logging.getLogger("apscheduler.executors.default")  # "Running job", "executed"
    assert not runs.isEnabledFor(logging.INFO) and runs.isEnabledFor(logging.WARNING)
    scheduler = logging.getLogger("apscheduler.scheduler")

    def kept(level: int, msg: str) -> bool:
        record = logging.LogRecord(scheduler.name, level, __file__, 1, msg, None, None)
        return scheduler.filter(record) is not False

    assert not kept(logging.INFO, "Adding job tentatively -- it will be properly scheduled")
    assert not kept(logging.INFO, 'Added job "day_start" to job store "default"')
    assert kept(logging.INFO, "Scheduler started")  # once, and e2e tests wait for it
    assert kept(logging.WARNING, "Run time of job was missed")


def test_every_control_and_line_separator_character_is_escaped() -> None:
    """CR, NUL, ESC and U+2028 in an id reached the log raw: a forged line, a rewritten
    terminal."""
    nasty = 'e\r\nlevel=ERROR\x00\x1b[2J\u2028\u2029\x85\x7f\x0b\x0c\x1c\u202e\u2066\t\\"end'
    text = quote(nasty)
    assert text == (
        '"e\\r\\nlevel=ERROR\\x00\\x1b[2J\\u2028\\u2029\\x85\\x7f\\x0b\\x0c\\x1c\\u202e'
        '\\u2066\\t\\\\\\"end"'
    )
    assert text.isprintable() and len(text.splitlines()) == 1
    for code in [*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]:
        assert quote(f"a{chr(code)}b").isprintable(), hex(code)
    assert quote("Anna Müller-Łukasz ✅") == '"Anna Müller-Łukasz ✅"'  # printable text stays


async def test_an_id_with_control_characters_stays_on_its_line(
    shop: Shop, caplog: pytest.LogCaptureFixture, backend: str
) -> None:
    caplog.set_level(logging.INFO, logger="bot.api.metrics")
    event_id = "evt\r\n\x00\x1b]0;x\x07\u2028forged=1"
    if backend == "postgresql":
        # PostgreSQL text cannot hold NUL: the event is refused as bad input, nothing stored.
        body = event("member.upserted", shop.store.now(), event_id, member_id="m-1")
        refused = await shop.client.post("/api/v1/events", json=body)
        assert refused.status_code == 422 and "NUL" in refused.text
        assert (await shop.client.get("/api/v1/members/m-1")).status_code == 404
    else:
        await shop.send("member.upserted", event_id, member_id="m-1")
    # The event's line (on PostgreSQL a member look-up follows it).
    line = next(
        KeyValueFormatter().format(r) for r in caplog.records if r.name == "bot.api.metrics"
    )
    assert line.isprintable() and len(line.splitlines()) == 1
    fields = dict(part.split("=", 1) for part in shlex.split(line))
    assert "forged" not in fields
    assert fields["event_id"] == "evt\\r\\n\\x00\\x1b]0;x\\x07\\u2028forged=1"


class _CountingStream(io.StringIO):
    """A stream that records each write (the batching handler should make few)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        """Keep the text as one write."""
        self.writes.append(text)
        return len(text)


def test_lines_are_written_in_batches_in_order_and_all_of_them_at_the_end() -> None:
    """A queue and a listener thread wrote (and woke the thread) once per record: 0.15-0.2 ms
    of the shop API's CPU per request."""
    stream = _CountingStream()
    handler = BatchingHandler(stream)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("tests.batching")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(2_000):
            logger.warning("request", extra=kv(event="request", n=n))
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    lines = "".join(stream.writes).splitlines()
    assert [line.rsplit("n=", 1)[1] for line in lines] == [str(n) for n in range(2_000)]
    assert len(stream.writes) < 200  # batches, not a write per line


def test_a_bot_token_is_redacted_wherever_it_stands_in_a_line() -> None:
    token = "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    for text in (f"{token}", f"x {token} y", f"url=/bot{token}/getMe", f"at 10:00:00 {token}:"):
        assert token not in redact(text) and "<bot-token>" in redact(text), text
    assert redact("ts=2026-12-03T18:07:36.659Z ms=1.2 port=12345") == (
        "ts=2026-12-03T18:07:36.659Z ms=1.2 port=12345"
    )
