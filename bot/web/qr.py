"""QR codes of coupon codes, as SVG, drawn by segno (for a till's scanner)."""

from __future__ import annotations

import io
import re
from functools import lru_cache

import segno

# What a coupon code can be (storage.coupons.CODE_ALPHABET, with room for other shapes):
# the QR endpoint draws nothing else.
CODE = re.compile(r"^[A-Z0-9-]{4,40}$")


@lru_cache(maxsize=4_096)
def svg(text: str) -> bytes:
    """Return an SVG QR code of `text` (cached: a coupon's code never changes)."""
    buffer = io.BytesIO()
    # Dark modules on a light background always (scanners want contrast, whatever the theme).
    segno.make(text, error="m", micro=False).save(
        buffer, kind="svg", scale=4, border=2, dark="#000", light="#fff", xmldecl=False,
        svgns=True, title=text,
    )  # fmt: skip
    return buffer.getvalue()
