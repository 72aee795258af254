"""Wiring: configuration, the Telegram application, the shop API, the scheduler and the CLI."""
