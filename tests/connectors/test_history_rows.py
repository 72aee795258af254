"""/history says what refunds, their take-backs and undone exchanges were."""

from __future__ import annotations

from storage import coupons, grants, shop_tasks
from storage.store import Store
from telegram_emulator import Person
from tests.bot.conftest import ann, app, bot_store, config, emu, linked  # noqa: F401 (fixtures)
from tests.conftest import send


async def test_refund_rows_read_as_what_happened(
    ann: Person,  # noqa: F811
    bot_store: Store,  # noqa: F811
) -> None:
    await linked(bot_store, ann)
    await send(bot_store, "order.placed", order_id="o-1", member_id="m-1", amount_cents=10_000)
    await send(bot_store, "order.delivered", order_id="o-1")
    await send(bot_store, "order.refunded", order_id="o-1", refund_id="r-1", amount_cents=5_000)
    await grants.grant(bot_store, "m-1", 1_000, reason="test", actor="test")
    code = (await coupons.exchange(bot_store, "m-1", 500, "points", "k-1")).coupon.code

    def queue(conn: object) -> None:
        conn.execute(  # type: ignore[attr-defined]
            "INSERT INTO shop_tasks (platform, kind, code, due_at, created_at, updated_at)"
            " VALUES ('woocommerce', 'create_coupon', ?, '', '', '')",
            (code,),
        )

    await bot_store.db.write(queue)
    (task,) = await shop_tasks.claim(bot_store, "woocommerce")
    await shop_tasks.refused(bot_store, task, "invalid e-mail")
    await ann.send("/history")
    text = ann.last_reply().text
    assert "taken back: order o-1 was refunded in part" in text
    assert "returned: the shop could not create the coupon" in text
