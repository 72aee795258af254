"""The shop API: how a shop feeds the programme and asks it questions (INTERFACES.md section 3).

`build_api` returns the Starlette app; `bot.api.server.http_server` runs it under uvicorn.
"""

from bot.api.app import build_api

__all__ = ["build_api"]
