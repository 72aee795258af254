"""The console's API: sessions from one-time links and the Mini App, refusals, audited actions,
exports and the overview's figures."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import httpx

from bot.web import session
from loyalty.clock import ManualClock
from storage import console_logins, coupons, tickets
from storage.store import Store
from tests.conftest import rows, scalar, snapshot
from tests.web.conftest import ADMIN, ANN_TG, SECRET, init_data, tma, web_app

ACTIONS = [
    ("POST", "/console/api/members/m-ann/grant",
     {"amount": 5, "reason": "sorry", "key": "k" * 12}),
    ("POST", "/console/api/members/m-ann/coupon",
     {"value_cents": 500, "reason": "sorry", "key": "k" * 12}),
    ("POST", "/console/api/members/m-ann/ban", {"reason": "spam"}),
    ("POST", "/console/api/members/m-ann/unlink", {}),
]  # fmt: skip
READS = [
    "/console/api/overview",
    "/console/api/members?q=m-ann",
    "/console/api/members/m-ann",
    "/console/api/members/m-ann/ledger?before=999",
    "/console/export/members.csv",
    "/console/export/ledger.csv?from=2026-03-01&to=2026-03-10",
]


async def signed_in(client: httpx.AsyncClient, store: Store, admin_id: int = ADMIN) -> None:
    login = await console_logins.create(store, admin_id)
    answer = await client.post("/console/api/login", json={"token": login.token})
    assert answer.status_code == 200, answer.text


async def test_without_a_session_nothing_is_read_or_changed(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    before = await snapshot(store)
    for path in READS:
        answer = await client.get(path)
        assert answer.status_code == 401, path
        assert "m-ann" not in answer.text or "error" in answer.json()
    for method, path, body in ACTIONS:
        assert (await client.request(method, path, json=body)).status_code == 401, path
    forged = session.issue(b"not the secret" * 3, ADMIN, store.now(), timedelta(hours=1))
    client.cookies.set(session.COOKIE, forged)
    assert (await client.get("/console/api/overview")).status_code == 401
    assert await snapshot(store) == before
    assert await scalar(store, "SELECT COUNT(*) FROM admin_actions") == 0


async def test_a_non_admin_is_refused_even_with_a_genuine_cookie_or_init_data(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    before = await snapshot(store)
    client.cookies.set(
        session.COOKIE, session.issue(SECRET, ANN_TG, store.now(), timedelta(hours=1))
    )
    assert (await client.get("/console/api/overview")).status_code == 403
    for method, path, body in ACTIONS:
        assert (await client.request(method, path, json=body)).status_code == 403, path
    client.cookies.clear()
    mini_app = await client.post(
        "/console/api/session", headers=tma(init_data(ANN_TG, store.now()))
    )
    assert mini_app.status_code == 403 and "set-cookie" not in mini_app.headers
    # A link made for someone no longer an admin does not sign them in either.
    login = await console_logins.create(store, ANN_TG)
    assert (await client.post("/console/api/login", json={"token": login.token})).status_code == 403
    assert await snapshot(store) == before
    assert await scalar(store, "SELECT COUNT(*) FROM admin_actions") == 0


async def test_the_mini_app_signs_an_admin_in(client: httpx.AsyncClient, store: Store) -> None:
    answer = await client.post("/console/api/session", headers=tma(init_data(ADMIN, store.now())))
    assert answer.status_code == 200 and session.COOKIE in answer.cookies
    assert (await client.get("/console/api/overview")).status_code == 200


async def test_links_expire_after_ten_minutes_and_work_once(
    client: httpx.AsyncClient, store: Store, clock: ManualClock
) -> None:
    late = await console_logins.create(store, ADMIN)
    clock.advance(timedelta(minutes=10))
    answer = await client.post("/console/api/login", json={"token": late.token})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "expired"
    bogus = await client.post("/console/api/login", json={"token": "x" * 32})
    assert bogus.status_code == 401 and bogus.json()["error"]["code"] == "invalid"


async def test_a_session_expires_and_a_rotated_secret_refuses_old_cookies(
    store: Store, clock: ManualClock
) -> None:
    old = httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app(store)), base_url="http://c")
    async with old:
        await signed_in(old, store)
        cookie = old.cookies[session.COOKIE]
        assert (await old.get("/console/api/overview")).status_code == 200
    # The service restarts with a new secret: the cookie from before is refused.
    rotated = web_app(store, secret=b"r" * 32)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rotated), base_url="http://c"
    ) as new:
        new.cookies.set(session.COOKIE, cookie)
        assert (await new.get("/console/api/overview")).status_code == 401
        new.cookies.clear()
        await signed_in(new, store)
        assert (await new.get("/console/api/overview")).status_code == 200
        clock.advance(timedelta(hours=12))
        assert (await new.get("/console/api/overview")).status_code == 401


async def test_actions_are_recorded_with_the_admin(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    await signed_in(client, store)
    form = await client.post(
        "/console/api/members/m-ann/grant", content=b"amount=5&reason=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert form.status_code == 415
    for method, path, body in ACTIONS:
        answer = await client.request(method, path, json=body)
        assert answer.status_code == 200, (path, answer.text)
    ledger = await rows(
        store, "SELECT reason, amount, actor, note FROM ledger WHERE member_id = 'm-ann'"
        " AND actor IS NOT NULL ORDER BY id",
    )  # fmt: skip
    assert [tuple(r) for r in ledger] == [
        ("grant", 5, f"admin:{ADMIN}", "sorry"),
        ("coupon_goodwill", 0, f"admin:{ADMIN}", "sorry"),
    ]
    audit = await rows(store, "SELECT action, admin_id FROM admin_actions ORDER BY id")
    assert [tuple(r) for r in audit] == [(a, ADMIN) for a in ("grant", "coupon", "ban", "unlink")]
    assert await scalar(store, "SELECT COUNT(*) FROM telegram_links WHERE member_id = 'm-ann'") == 0
    assert (await tickets.state(store, ANN_TG)).banned
    page = (await client.get("/console/api/members/m-ann")).json()
    assert [a["action"] for a in page["actions"]] == ["unlink", "ban", "coupon", "grant"]
    # The same key again: the same grant, not a second one.
    again = await client.post(ACTIONS[0][1], json=ACTIONS[0][2])
    assert again.status_code == 200
    assert await scalar(store, "SELECT COUNT(*) FROM ledger WHERE reason = 'grant'") == 1
    below = await client.post("/console/api/members/m-bob/grant",
                              json={"amount": -10_000, "reason": "x", "key": "n" * 12})  # fmt: skip
    assert below.status_code == 409


async def test_search_by_id_email_and_username(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    from storage import telegram_users

    await telegram_users.seen(store, ANN_TG, "en", "@AnnTheBuyer")
    await signed_in(client, store)

    async def ids(q: str) -> list[str]:
        answer = await client.get("/console/api/members", params={"q": q})
        return [m["member_id"] for m in answer.json()["members"]]

    assert await ids("m-ann") == ["m-ann"]
    assert await ids("m-") == ["m-ann", "m-bob"]
    assert await ids("ANN@example.com") == ["m-ann"]
    assert await ids("@annthebuyer") == ["m-ann"]
    assert await ids("AnnTheBuyer") == ["m-ann"]
    assert await ids("nobody") == []


async def test_csv_exports(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    from storage import grants

    await grants.grant(store, "m-bob", 1, reason="=HYPERLINK(evil)", actor="x")
    await signed_in(client, store)
    members = await client.get("/console/export/members.csv")
    assert members.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(members.text)))
    assert [r["member_id"] for r in table] == ["m-ann", "m-bob"]
    assert table[0]["points"] == "1205" and table[0]["telegram_user_id"] == str(ANN_TG)
    day = store.now().date().isoformat()
    ledger = await client.get(f"/console/export/ledger.csv?from={day}&to={day}")
    lines = list(csv.DictReader(io.StringIO(ledger.text)))
    assert {r["member_id"] for r in lines} == {"m-ann", "m-bob"}
    assert "'=HYPERLINK(evil)" in [r["note"] for r in lines]
    empty = await client.get("/console/export/ledger.csv?from=2020-01-01&to=2020-01-02")
    assert empty.text.count("\n") == 1
    assert (await client.get("/console/export/ledger.csv?from=x&to=y")).status_code == 422


async def test_overview_figures(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    await coupons.exchange(store, "m-ann", 500, "points", "k-1")
    await signed_in(client, store)
    d = (await client.get("/console/api/overview")).json()
    assert d["members"] == {"total": 2, "linked": 2, "active_30d": 2}
    assert {lv["code"]: lv["members"] for lv in d["by_level"]}["A3"] == 1
    assert len(d["points_by_day"]) == 90
    today = d["points_by_day"][-1]
    assert today == {"day": "2026-03-10", "earned": 1205 + 155, "spent": 500, "taken_back": 0}
    liability = d["liability"]
    assert liability["points"] == 705 + 155 and liability["coupons_cents"] == 500
    assert liability["total_cents"] == 860 + 500 and liability["total_text"] == "$13.60"
    assert d["coupons"]["active"] == 1


async def test_the_member_is_told_of_console_grants_and_coupons(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    import json

    from bot.application import build_services
    from handlers.notices import render
    from storage.outbox import Notice
    from tests.web.conftest import web_config

    await signed_in(client, store)
    for _ in range(2):  # a repeat of the same key tells them once
        await client.post(ACTIONS[0][1], json=ACTIONS[0][2])
    await client.post(ACTIONS[1][1], json=ACTIONS[1][2])
    queued = await rows(store, "SELECT kind, payload FROM outbox WHERE kind LIKE 'support_%'")
    assert [r["kind"] for r in queued] == ["support_grant", "support_coupon"]
    services = build_services(web_config(), store)
    texts = []
    for lang in ("en", "ru"):
        for r in queued:
            notice = Notice(1, "m-ann", r["kind"], ANN_TG, lang, None, False,
                            json.loads(r["payload"]), store.now())  # fmt: skip
            texts.append(render(services, notice)[0])
    assert "added 5 points to your account.\nReason: sorry" in texts[0]
    assert "$5.00 coupon" in texts[1] and "sorry" in texts[1]
    assert "начислила вам 5 баллов" in texts[2]


async def test_console_bad_input_gets_a_clear_error_and_changes_nothing(
    client: httpx.AsyncClient, store: Store, members_ab: tuple[str, str]
) -> None:
    await signed_in(client, store)
    before = await snapshot(store, skip=("idempotency",))
    grant = "/console/api/members/m-ann/grant"
    cases = [
        (grant, {"amount": 5, "key": "k" * 12}, 422),  # no reason
        (grant, {"amount": 0, "reason": "r", "key": "k" * 12}, 422),
        (grant, {"amount": 5, "reason": "r", "key": "short"}, 422),
        (grant, {"amount": 5, "reason": "r" * 501, "key": "k" * 12}, 422),
        (grant, {"amount": 5, "reason": "r", "key": "k" * 12, "currency": "gold"}, 422),
        ("/console/api/members/nobody/grant", {"amount": 5, "reason": "r", "key": "k" * 12}, 404),
        ("/console/api/members/m-ann/coupon", {"value_cents": 1, "reason": "r", "key": "k" * 9},
         422),
        ("/console/api/members/nobody/unlink", {}, 404),
        ("/console/api/members/m-ann/ban", {}, 422),
        ("/console/api/login", {"token": 5}, 422),
    ]  # fmt: skip
    for path, body, status in cases:
        answer = await client.post(path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
    assert (await client.get("/console/api/members/nobody")).status_code == 404
    assert (await client.get("/console/api/members?q=" + "x" * 5000)).json() == {"members": []}
    assert await snapshot(store, skip=("idempotency",)) == before
    assert await scalar(store, "SELECT COUNT(*) FROM admin_actions") == 0


async def test_the_overview_says_how_telegram_is(store: Store) -> None:
    from bot.api.app import build_api
    from tests.web.conftest import web_config

    app = build_api(
        web_config(), store, api_key="k", bot_username="b", session_secret=SECRET,
        telegram=lambda: "unreachable",
    )  # fmt: skip
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await signed_in(c, store)
        assert (await c.get("/console/api/overview")).json()["health"] == {
            "telegram": "unreachable"
        }


async def test_the_overview_says_how_the_connectors_are(store: Store, clock: ManualClock) -> None:
    from bot.api.app import build_api
    from bot.config import parse_config
    from storage.db import to_db

    config = parse_config({
        "program": {"preset": "marketplace"},
        "support": {"admin_ids": [ADMIN]},
        "connectors": {"woocommerce": {"enabled": True, "store_url": "https://shop.example"}},
    })  # fmt: skip
    app = build_api(config, store, api_key="k", bot_username="b", session_secret=SECRET)

    now, old = to_db(store.now()), to_db(store.now() - timedelta(hours=2))

    def add(conn) -> None:
        conn.execute(
            "INSERT INTO connector_deliveries (platform, delivery_id, topic, digest, outcome,"
            " received_at) VALUES ('woocommerce', 'd-1', 'order.updated', 'x', 'processed', ?),"
            " ('woocommerce', 'd-2', 'order.updated', 'y', 'ignored', ?)",
            (now, now),
        )
        conn.execute(
            "INSERT INTO shop_tasks (platform, kind, code, status, due_at, created_at, updated_at)"
            " VALUES ('woocommerce', 'create_coupon', 'C-1', 'pending', ?, ?, ?)",
            (old, old, old),
        )

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        await signed_in(c, store)
        quiet = (await c.get("/console/api/overview")).json()
        assert quiet["health"] == {"woocommerce": "quiet"}
        await store.db.write(add)
        seen = (await c.get("/console/api/overview")).json()
    assert seen["health"] == {"woocommerce": "failing"}  # a shop call overdue for an hour
    [woo] = seen["connectors"]
    assert (woo["deliveries"], woo["ignored"], woo["tasks_pending"], woo["tasks_overdue"]) == (
        2, 1, 1, 1,
    )  # fmt: skip
