"""The card's API: only the member linked to the initData's Telegram user, nothing for others."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qsl, urlencode

import httpx

from loyalty.clock import ManualClock
from storage import coupons
from storage.store import Store
from tests.conftest import delivered_order, rows, snapshot
from tests.web.conftest import ANN_TG, BOB_TG, TOKEN, init_data, tma


async def test_the_card_shows_the_linked_members_balance_level_and_coupons(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    ann, _ = members_ab
    await coupons.exchange(store, ann, 500, "points", "k-1")
    answer = await client.get("/app/api/me", headers=tma(init_data(ANN_TG, store.now())))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["member_id"] == ann and body["points"] == 705 and body["points_text"] == "705"
    assert body["level"]["code"] == "A3"
    assert [c["value_cents"] for c in body["coupons"]] == [500]
    code = body["coupons"][0]["code"]
    assert body["coupons"][0]["qr_url"] == f"qr/{code}.svg"
    assert 0 <= body["progress"]["percent"] <= 100 and "A4" in body["progress"]["text"]
    assert body["history"]["entries"][0]["amount"] == -500
    qr = await client.get(f"/app/qr/{code}.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert f"<title>{code}</title>".encode() in qr.content


async def test_russian_texts_for_a_russian_telegram(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    answer = await client.get(
        "/app/api/me", headers=tma(init_data(ANN_TG, store.now(), language="ru"))
    )
    assert answer.json()["language"] == "ru" and answer.json()["texts"]["points"] == "Баллы"


async def test_no_id_to_change_each_user_sees_only_their_own_member(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    ann, bob = members_ab
    bob_data = init_data(BOB_TG, store.now())
    # Query parameters naming another member change nothing: the member comes from initData.
    answer = await client.get(f"/app/api/me?member_id={ann}", headers=tma(bob_data))
    assert answer.json()["member_id"] == bob
    # Bob's initData with Ann's Telegram id put in: the signature no longer matches.
    fields = dict(parse_qsl(bob_data))
    fields["user"] = fields["user"].replace(str(BOB_TG), str(ANN_TG))
    forged = await client.get("/app/api/me", headers=tma(urlencode(fields)))
    assert forged.status_code == 401 and "points" not in forged.text


async def test_forged_expired_and_missing_init_data_get_401_and_nothing_else(
    client: httpx.AsyncClient, store: Store, clock: ManualClock, members_ab: tuple[str, str]
) -> None:
    cases = {
        "other token": tma(init_data(ANN_TG, store.now(), token="1:another-bot")),
        "expired": tma(init_data(ANN_TG, store.now() - timedelta(days=1, seconds=1))),
        "no header": {},
        "bearer": {"Authorization": "Bearer " + init_data(ANN_TG, store.now())},
        "garbage": tma("hash=123"),
    }
    before = await snapshot(store)
    buy = {"value_cents": 500, "currency": "points", "key": "k" * 10}
    for name, headers in cases.items():
        for method, path, body in (
            ("GET", "/app/api/me", None),
            ("GET", "/app/api/history?before=999", None),
            ("POST", "/app/api/exchange", buy),
            ("POST", "/app/api/daily", {}),
        ):  # fmt: skip
            answer = await client.request(method, path, headers=headers, json=body)
            assert answer.status_code == 401, (name, path, answer.text)
            assert set(answer.json()) == {"error"}, name
    assert await snapshot(store) == before


async def test_an_unlinked_telegram_user_is_told_to_link(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.get("/app/api/me", headers=tma(init_data(555, store.now())))
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "not_linked"


async def test_exchange_through_the_card_once_per_key(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    ann, _ = members_ab
    headers = tma(init_data(ANN_TG, store.now()))
    offer = {"value_cents": 500, "currency": "points"}
    preview = await client.post("/app/api/exchange/preview", headers=headers, json=offer)
    assert preview.status_code == 200 and "500" in preview.json()["title"]
    first = await client.post("/app/api/exchange", headers=headers, json={**offer, "key": "a" * 16})
    again = await client.post("/app/api/exchange", headers=headers, json={**offer, "key": "a" * 16})
    assert first.status_code == again.status_code == 200
    assert first.json()["coupon"]["code"] == again.json()["coupon"]["code"]
    assert again.json()["replayed"] is True
    assert len(await coupons.of_member(store, ann)) == 1
    poor = await client.post(
        "/app/api/exchange", headers=headers, json={"value_cents": 2000, "currency": "points",
                                                    "key": "b" * 16})  # fmt: skip
    assert poor.status_code == 409 and poor.json()["error"]["code"] == "insufficient"


async def test_daily_check_in_once_a_day(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    ann, _ = members_ab
    headers = tma(init_data(ANN_TG, store.now()))
    first = await client.post("/app/api/daily", headers=headers, json={})
    second = await client.post("/app/api/daily", headers=headers, json={})
    assert first.json()["claimed"] is True and second.json()["claimed"] is False
    checkins = await rows(
        store,
        "SELECT COUNT(*) FROM ledger WHERE member_id = ?"
        " AND reason IN ('daily_checkin', 'daily_coins')",
        (ann,),
    )
    assert checkins[0][0] == 2  # the day's coins and the day's points
    assert (await client.get("/app/api/me", headers=headers)).json()["daily"]["claimed_today"]


async def test_without_a_bot_token_the_card_is_unavailable(store: Store) -> None:
    from bot.api.app import build_api
    from tests.web.conftest import web_config

    app = build_api(web_config(), store, api_key="k", bot_username="b")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        answer = await c.get("/app/api/me", headers=tma(init_data(ANN_TG, store.now())))
    assert answer.status_code == 503
    assert TOKEN not in answer.text


async def test_the_card_page_is_small_and_offline(client: httpx.AsyncClient) -> None:
    page = await client.get("/app/")
    script = await client.get("/app/card.js")
    assert page.status_code == script.status_code == 200
    assert len(page.content) + len(script.content) < 150_000
    for body in (page.text, script.text):
        assert "http://" not in body and "//cdn" not in body
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_bad_input_gets_a_clear_error_and_changes_nothing(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    headers = tma(init_data(ANN_TG, store.now()))
    before = await snapshot(store)
    KEY = "k" * 9
    cases = [
        ("GET", "/app/api/history?before=abc", None, 422),
        ("GET", "/app/qr/not-a-code!.svg", None, 404),
        ("POST", "/app/api/exchange", {"value_cents": 500, "currency": "points"}, 422),
        ("POST", "/app/api/exchange", {"value_cents": 501, "currency": "points", "key": KEY}, 422),
        ("POST", "/app/api/exchange", {"value_cents": 500, "currency": "gold", "key": KEY}, 422),
        ("POST", "/app/api/exchange", {"value_cents": "5", "currency": "points", "x": 1}, 422),
        ("POST", "/app/api/exchange/preview", [1, 2], 422),
    ]  # fmt: skip
    for method, path, body, status in cases:
        answer = await client.request(method, path, headers=headers, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json()["error"]["message"], path
    listed = await client.post(
        "/app/api/exchange", headers=headers, json={"value_cents": "5", "currency": "gold"}
    )
    assert len(listed.json()["error"]["details"]) == 3  # every problem at once
    raw = await client.post("/app/api/daily", headers=headers, content=b"{not json")
    assert raw.status_code == 400
    assert await snapshot(store) == before


async def test_the_card_of_a_spend_based_programme(vip_store: Store) -> None:
    """vip-shop: levels by spend, no coupon exchange, no coins: the card shows what there is."""
    from tests.web.conftest import linked_member, web_app

    await linked_member(vip_store, "m-v", ANN_TG, name="Vera")
    await delivered_order(vip_store, "m-v", 25_000)
    app = web_app(vip_store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        body = (await c.get("/app/api/me", headers=tma(init_data(ANN_TG, vip_store.now())))).json()
    assert body["exchange"]["enabled"] is False and body["coins_text"] is None
    assert body["level"]["code"] == "unverified"
    assert body["progress"]["text"] == "To reach Regular: verify your e-mail address."
    from tests.conftest import send

    await send(vip_store, "member.email_verified", member_id="m-v")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as c:
        body = (await c.get("/app/api/me", headers=tma(init_data(ANN_TG, vip_store.now())))).json()
    assert body["level"]["code"] == "vip_d" and body["next_level"]["spend_needed_cents"] > 0
    assert body["progress"]["text"].startswith("$") and 0 < body["progress"]["percent"] < 100
