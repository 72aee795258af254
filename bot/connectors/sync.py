"""The sync job: makes the shop outbox's calls (coupons created and removed in the shop).

Every run claims the due tasks of each connected platform and settles each one: done, retried
later (network failures, timeouts, 5xx, throttling, rejected credentials: never given up, so
a platform that is down for an hour gets every coupon once it is back), or refused for good
(the exchange is reversed and the member told). A create that timed out may have happened:
the retry then meets "code already exists", looks the code up and adopts it, so the shop
never has two.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from bot.config import Config
from bot.connectors.clients import Exists, Refusal, ShopClient, Shopify, Transient, WooCommerce
from bot.logs import kv
from storage import shop_tasks
from storage.shop_tasks import ShopTask
from storage.store import Store

log = logging.getLogger(__name__)
INTERVAL_SECONDS = 30


@dataclass
class SyncReport:
    """What one run did, by outcome (created, removed, retried, refused, dropped)."""

    outcomes: Counter[str] = field(default_factory=Counter)


def clients_from(config: Config, environ: Mapping[str, str] | None = None) -> list[ShopClient]:
    """Return a client for each enabled connector whose API credentials are set."""
    env = os.environ if environ is None else environ
    found: list[ShopClient] = []
    wc = config.connectors.woocommerce
    if wc.enabled and env.get(wc.consumer_key_env) and env.get(wc.consumer_secret_env):
        found.append(WooCommerce(wc, env[wc.consumer_key_env], env[wc.consumer_secret_env]))
    shop = config.connectors.shopify
    if shop.enabled and env.get(shop.access_token_env):
        found.append(Shopify(shop, env[shop.access_token_env]))
    return found


class ShopSync:
    """Drains the shop outbox for a set of platform clients."""

    def __init__(
        self,
        store: Store,
        clients: list[ShopClient],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.store = store
        self.clients = clients
        self.transport = transport
        self.running = False

    async def run_once(self, *, limit: int = 50) -> SyncReport:
        """Claim and make every due call once; a later run does what is left or retried."""
        report = SyncReport()
        if self.running:  # one run at a time in this process; claims guard across processes
            return report
        self.running = True
        try:
            async with httpx.AsyncClient(transport=self.transport) as http:
                for client in self.clients:
                    while True:
                        batch = await shop_tasks.claim(self.store, client.platform, limit=limit)
                        for task in batch:
                            report.outcomes[await self._one(http, client, task)] += 1
                        if len(batch) < limit:
                            break
        finally:
            self.running = False
        if report.outcomes:
            log.info(
                "shop sync",
                extra=kv(event="shop_sync", **dict(sorted(report.outcomes.items()))),
            )
        return report

    async def _one(self, http: httpx.AsyncClient, client: ShopClient, task: ShopTask) -> str:
        try:
            if task.kind == "create_coupon":
                return await self._create(http, client, task)
            return await self._delete(http, client, task)
        except Transient as exc:
            after = timedelta(seconds=exc.retry_after) if exc.retry_after else None
            await shop_tasks.retry(self.store, task, exc.reason, after=after)
            log.warning(
                "shop call failed",
                extra=kv(event="shop_retry", platform=task.platform, kind=task.kind,
                         attempts=task.attempts + 1, error=exc.reason),
            )  # fmt: skip
            return "retried"

    async def _create(self, http: httpx.AsyncClient, client: ShopClient, task: ShopTask) -> str:
        if task.coupon_status != "active":
            # Gone (reversed), used here, or expired while the shop was away: not worth making.
            await shop_tasks.dropped(self.store, task)
            return "dropped"
        try:
            ref = await client.create_coupon(http, task)
        except Exists:
            found = await client.find_coupon(http, task.code)
            if found is None:
                raise Transient("the code exists but cannot be found yet") from None
            ref = found
        except Refusal as exc:
            await shop_tasks.refused(self.store, task, exc.reason)
            log.warning(
                "shop refused a coupon",
                extra=kv(event="shop_refused", platform=task.platform, error=exc.reason[:200]),
            )
            return "refused"
        await shop_tasks.created(self.store, task, ref)
        return "created"

    async def _delete(self, http: httpx.AsyncClient, client: ShopClient, task: ShopTask) -> str:
        ref = task.shop_ref
        if ref is None:
            # Being created (a try in flight or to be retried): remove it once it exists.
            ref = await client.find_coupon(http, task.code)
            if ref is None:
                if task.shop_status == "pending":
                    raise Transient("the coupon is still being created")
                await shop_tasks.removed(self.store, task)
                return "removed"
        try:
            await client.delete_coupon(http, ref)
        except Refusal as exc:
            raise Transient(exc.reason) from None
        await shop_tasks.removed(self.store, task)
        return "removed"
