"""Structured log lines: one line per record, values quoted only when they must be."""

from __future__ import annotations

import logging
import shlex

import pytest

from bot.logs import KeyValueFormatter, kv, quote
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
