"""The card's and the console's static files, shipped in the package and served from memory.

Everything a page uses is here: no CDN, no external font or script (the Content-Security-Policy
says so to the browser too). Scripts are separate files so that the policy needs no inline
script; styles are inline.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from starlette.responses import Response

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# Telegram's clients show Mini Apps in their own web views, and Telegram Web in an iframe of
# web.telegram.org: those are the only frames allowed.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'self' https://web.telegram.org"
)


@cache
def _read(name: str) -> bytes:
    return resources.files("bot.web").joinpath("static", name).read_bytes()


def page(name: str) -> Response:
    """Return a static file of bot/web/static by name."""
    suffix = name[name.rfind(".") :]
    return Response(
        _read(name),
        media_type=TYPES[suffix],
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )
