"""Web benchmark: the console's overview and the member card's data on a big store.

Builds (or reuses) the engine benchmark's store, 100,000 members and 1,000,000 ledger rows
(`bench/engine.py`'s builder: the real schema, consistent data, two years of history), then
asks the real app in-process (httpx's ASGI transport: routing, auth, the storage reads and
the JSON, no sockets) one request at a time:

    overview   GET /console/api/overview with an admin's session cookie (the app remembers
               finished days, storage.console.OverviewCache: exact, the ledger is append-only)
    cold       storage.console.overview with nothing remembered: the first request's cost
    card       GET /app/api/me with a genuine initData of a random linked member

Goals (issue 15): overview p95 < 300 ms, card p95 < 50 ms. Also prints the card page's weight
(goal < 150 KB).

    python bench/web.py --members 100000 --ledger-rows 1000000 --requests 200
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import uvloop  # noqa: E402

from bench.engine import NOW, build, machine  # noqa: E402
from bot.api.app import build_api  # noqa: E402
from bot.config import parse_config  # noqa: E402
from bot.web import session  # noqa: E402
from bot.web.initdata import sign  # noqa: E402
from bot.web.pages import _read  # noqa: E402
from loyalty.clock import ManualClock  # noqa: E402
from storage import console  # noqa: E402
from storage.store import Store  # noqa: E402

TOKEN = "123456:bench-token"
SECRET = b"b" * 32
ADMIN = 42


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def summary(name: str, seconds: list[float], goal_ms: float) -> bool:
    ms = [s * 1000 for s in seconds]
    p50, p95 = statistics.median(ms), percentile(ms, 95)
    met = p95 < goal_ms
    print(
        f"{name:9} n={len(ms):4}  p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  max {max(ms):7.2f} ms"
        f"  goal p95 < {goal_ms:.0f} ms: {'met' if met else 'MISSED'}"
    )
    return met


async def run(args: argparse.Namespace) -> int:
    config = parse_config({"program": {"preset": args.preset}, "support": {"admin_ids": [ADMIN]}})
    path = Path(args.db)
    if args.reuse and path.exists():  # noqa: ASYNC240 (before anything runs)
        print(f"reusing {path}")
    else:
        print(f"building {args.members} members, {args.ledger_rows} ledger rows at {path} ...")
        built = await build(path, config.program, args.members, args.ledger_rows, 0, args.seed)
        print(f"built in {built.seconds:.1f} s; {built.file_mb:.0f} MB")
    clock = ManualClock(NOW)
    store = await Store.open(path, config.program, clock=clock, synchronous="NORMAL")
    try:
        app = build_api(
            config, store, api_key="bench", bot_username="bench_bot", bot_token=TOKEN,
            session_secret=SECRET,
        )  # fmt: skip
        users = [
            r[0]
            for r in await store.db.read(
                "SELECT telegram_user_id FROM telegram_links ORDER BY telegram_user_id"
            )
        ]
        rng = random.Random(args.seed)
        cookie = session.issue(SECRET, ADMIN, clock(), timedelta(hours=1))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            client.cookies.set(session.COOKIE, cookie)

            async def overview() -> None:
                answer = await client.get("/console/api/overview")
                assert answer.status_code == 200, answer.text

            async def card() -> None:
                user = {"id": rng.choice(users), "first_name": "M", "language_code": "en"}
                data = sign(TOKEN, user, clock())
                answer = await client.get("/app/api/me", headers={"Authorization": f"tma {data}"})
                assert answer.status_code == 200, answer.text

            async def timed(call: object, n: int) -> list[float]:
                out = []
                for _ in range(n):
                    started = time.perf_counter()
                    await call()  # type: ignore[operator]
                    out.append(time.perf_counter() - started)
                return out

            async def cold() -> None:
                await console.overview(store, console.OverviewCache())

            await timed(overview, 3)  # warm SQLite's page cache
            await timed(card, 50)
            print(f"machine: {machine()}; load average {os.getloadavg()}")
            print(f"store: {len(users)} linked members")
            # What the first request after a start pays: every finished day read once.
            summary("cold", await timed(cold, 10), 300)
            ok = summary("overview", await timed(overview, args.requests), 300)
            ok &= summary("card", await timed(card, args.requests * 5), 50)
        weight = len(_read("card.html")) + len(_read("card.js"))
        print(f"card page: {weight:,} bytes (card.html + card.js; goal < 150 KB)")
        return 0 if ok else 1
    finally:
        await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--ledger-rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="overview requests (card: 5x)")
    parser.add_argument("--preset", default="marketplace")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--db", default=str(Path(tempfile.gettempdir()) / "loyalty-web-bench.db"))
    parser.add_argument("--reuse", action="store_true", help="reuse --db if it exists")
    args = parser.parse_args()
    return uvloop.run(run(args))


if __name__ == "__main__":
    raise SystemExit(main())
