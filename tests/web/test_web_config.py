"""The [web] section: an https public address or none, bounded ages; every problem listed."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config


def web(**keys: object):
    return parse_config({"program": {"preset": "marketplace"}, "web": keys}).web


def test_defaults_and_a_trailing_slash() -> None:
    assert web().public_url == "" and web().init_data_max_age_seconds == 86_400
    assert web(public_url="https://shop.example/loyalty/").public_url == (
        "https://shop.example/loyalty"
    )


def test_bad_values_are_all_listed() -> None:
    with pytest.raises(ConfigError) as raised:
        web(public_url="http://shop.example", login_link_minutes=0, session_hours="x", extra=1)
    problems = "\n".join(raised.value.problems)
    for key in ("web.public_url", "web.login_link_minutes", "web.session_hours", "web.extra"):
        assert key in problems, problems
