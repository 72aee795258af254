"""Structured log lines: one line per record, values quoted only when they must be."""

from __future__ import annotations

import logging
import shlex

from bot.logs import KeyValueFormatter, kv, quote


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
