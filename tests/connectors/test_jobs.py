"""The shop sync job runs when a connector has its API credentials, and not otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.connectors.sync import ShopSync
from bot.jobs import SHOP_SYNC_KEY, schedule_jobs
from loyalty.clock import ManualClock
from tests.bot.conftest import make_config
from tests.bot.test_reminders import world


async def test_shop_sync_is_scheduled_with_credentials(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    connectors = {"woocommerce": {"enabled": True, "store_url": "https://wc.test"}}
    config = make_config(connectors=connectors)
    async with world(tmp_path, clock, config) as (app, _, _, _):
        monkeypatch.delenv("WC_CONSUMER_KEY", raising=False)
        assert "shop_sync" not in [j.name for j in schedule_jobs(app, config)]
    monkeypatch.setenv("WC_CONSUMER_KEY", "ck")
    monkeypatch.setenv("WC_CONSUMER_SECRET", "cs")
    async with world(tmp_path, clock, config, name="second.db") as (app, _, _, _):
        names = [j.name for j in schedule_jobs(app, config)]
        assert names[-1] == "shop_sync"
        assert isinstance(app.bot_data[SHOP_SYNC_KEY], ShopSync)
