"""`loyaltybot connectors check`: call each enabled platform, say what is missing."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

import httpx
from rich.console import Console

from bot.config import Config
from bot.connectors.clients import Check, ShopClient
from bot.connectors.sync import clients_from

EXIT_OK, EXIT_FAILED = 0, 1


def settings_problems(config: Config, environ: Mapping[str, str]) -> list[Check]:
    """Return, per enabled platform, the environment variables its settings name but lack."""
    found = []
    wc = config.connectors.woocommerce
    if wc.enabled:
        names = (wc.secret_env, wc.consumer_key_env, wc.consumer_secret_env)
        found.append(Check("woocommerce", [], [f"environment variable {n} is not set"
                                               for n in names if not environ.get(n)]))  # fmt: skip
    shop = config.connectors.shopify
    if shop.enabled:
        found.append(Check("shopify", [], [f"environment variable {n} is not set"
                                           for n in (shop.secret_env, shop.access_token_env)
                                           if not environ.get(n)]))  # fmt: skip
    return found


async def run_check(
    config: Config,
    clients: Sequence[ShopClient],
    environ: Mapping[str, str],
    out: Console,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> int:
    """Print what works and what is missing for each enabled platform; 1 if anything is."""
    checks = {c.platform: c for c in settings_problems(config, environ)}
    if not checks:
        out.print("no connector is enabled: set enabled = true under [connectors.woocommerce]"
                  " or [connectors.shopify]", markup=False)  # fmt: skip
        return EXIT_FAILED
    async with httpx.AsyncClient(transport=transport) as http:
        for client in clients:
            called = await client.check(http, config.program.currency)
            found = checks[client.platform]
            checks[client.platform] = Check(
                client.platform, found.ok + called.ok, found.missing + called.missing
            )
    missing = False
    for platform, result in checks.items():
        out.print(f"[bold]{platform}[/bold]")
        for line in result.ok:
            out.print(f"  ok       {line}", markup=False)
        for line in result.missing:
            out.print(f"  missing  {line}", markup=False)
        missing = missing or bool(result.missing)
    return EXIT_FAILED if missing else EXIT_OK


async def connectors_check(config: Config, args: argparse.Namespace, out: Console) -> int:
    """Check every enabled connector against its platform (the CLI command)."""
    return await run_check(config, clients_from(config), os.environ, out)
