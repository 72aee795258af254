"""Telegram handlers, keyboards and the text catalogue."""
