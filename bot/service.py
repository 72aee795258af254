"""The service process: shop API server, Telegram bot and scheduler in one asyncio loop."""

from __future__ import annotations

from bot.config import Config


async def serve(config: Config) -> None:
    """Run the service until SIGINT/SIGTERM (built by the shop API issue)."""
    raise NotImplementedError("`loyaltybot run` arrives with the shop API")
