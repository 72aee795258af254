"""Telegram's initData check, at its edges: genuine, forged, tampered, stale, malformed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest

from bot.web.initdata import InitDataInvalid, secret_key, sign, validate

TOKEN = "123456:ABC-the-bot-token"
NOW = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def check(data: str, *, token: str = TOKEN, now: datetime = NOW):
    return validate(data, secret_key(token), now=now, max_age=DAY)


def test_a_genuine_init_data_names_its_user() -> None:
    data = sign(
        TOKEN, {"id": 42, "first_name": "Ann", "username": "ann", "language_code": "ru"}, NOW
    )
    user = check(data)
    assert (user.id, user.username, user.language_code) == (42, "ann", "ru")


def test_the_documented_algorithm_by_hand() -> None:
    """The hash is HMAC-SHA256(data-check-string) under HMAC-SHA256("WebAppData", token)."""
    import hashlib
    import hmac

    fields = {"auth_date": str(int(NOW.timestamp())), "query_id": "Q", "user": '{"id":7}'}
    check_string = "\n".join(f"{k}={fields[k]}" for k in sorted(fields))
    key = hmac.new(b"WebAppData", TOKEN.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(key, check_string.encode(), hashlib.sha256).hexdigest()
    assert check(urlencode(fields)).id == 7


def test_another_bots_token_is_refused() -> None:
    data = sign("999:other-bot", {"id": 42}, NOW)
    with pytest.raises(InitDataInvalid, match="signature"):
        check(data)


def test_a_changed_user_id_breaks_the_signature() -> None:
    fields = dict(parse_qsl(sign(TOKEN, {"id": 42}, NOW)))
    fields["user"] = '{"id":43}'
    with pytest.raises(InitDataInvalid, match="signature"):
        check(urlencode(fields))


def test_age_limit_at_its_edge() -> None:
    data = sign(TOKEN, {"id": 42}, NOW)
    assert check(data, now=NOW + DAY).id == 42
    with pytest.raises(InitDataInvalid, match="expired"):
        check(data, now=NOW + DAY + timedelta(seconds=1))


def test_dated_far_in_the_future_is_refused() -> None:
    with pytest.raises(InitDataInvalid, match="future"):
        check(sign(TOKEN, {"id": 42}, NOW + timedelta(hours=1)))


@pytest.mark.parametrize(
    "data",
    ["", "hash=", "not a query", "a=1&a=2&hash=00", "x" * 9000, "user=%7B%7D&auth_date=1&hash=zz"],
)
def test_malformed_is_refused(data: str) -> None:
    with pytest.raises(InitDataInvalid):
        check(data)


def test_a_duplicated_field_is_refused_even_if_one_copy_is_signed() -> None:
    data = sign(TOKEN, {"id": 42}, NOW) + "&user=%7B%22id%22%3A43%7D"
    with pytest.raises(InitDataInvalid, match="twice"):
        check(data)
