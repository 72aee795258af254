"""The shop API: how a shop feeds the programme and asks it questions (INTERFACES.md section 3).

`bot.api.app.build_api` returns the Starlette app; `bot.api.server.http_server` runs it under
uvicorn. Nothing is imported here: a module the app itself imports (the connectors' parsers use
`bot.api.body`) must be importable first, without the app.
"""
