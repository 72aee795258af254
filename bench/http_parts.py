"""Where a shop event's time over HTTP goes beyond (direct + bare): the parts, measured apart.

    python bench/http_parts.py                  # NORMAL, ~1 min
    python bench/http_parts.py --sync FULL --rounds 7

`bench/http_events.py` holds the goal (the time per event over HTTP at most 1.25 x the time
per direct event + the time per bare Starlette request); this script says what the excess
is made of, for whoever tries to shrink it:

1. in one process, no sockets (the ASGI app awaited with the event's bytes, its answer
   collected): `apply_event` alone; the shop API's app with the store operation stubbed
   (its layers: middleware, routing, strict JSON, metrics); the bare endpoint's app; the
   shop API on a real store, with the product's log handler (to a file) and without it;
2. over HTTP on loopback, one connection, rounds alternating: `loyaltybot run` (the API
   with the bot beside it), an API-only server (`build_api` on `bot.api.server.http_server`
   with the product's log handler, no bot), and the bare endpoint.

Each figure is the median of its rounds, in microseconds per event. In-process figures plus
the bare endpoint's HTTP cost fall short of the API-only server's by what only crossing
processes costs (thread and vCPU wake-ups): the last line says how much.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402
from starlette.types import ASGIApp, Message  # noqa: E402

from bench.bare import PATH, bare_app  # noqa: E402
from bench.http_events import (  # noqa: E402
    KEY,
    flatten,
    http_closed_loop,
    start_bare,
    start_script,
    start_server,
    stories,
)
from bot.api.app import build_api  # noqa: E402
from bot.config import Config  # noqa: E402
from bot.logs import setup_logging, stop_logging  # noqa: E402
from loyalty.loader import load_program  # noqa: E402
from storage import events as store_events  # noqa: E402
from storage.store import Store  # noqa: E402

# The API alone: the shop API's app on a store of its own, served by the product's server code
# with the product's log handler, no bot. It prints its port, then serves until killed.
API_ONLY = """
import asyncio, gc, sys
from pathlib import Path
import uvloop
from bot.api.app import build_api
from bot.api.server import http_server
from bot.config import Config
from bot.logs import setup_logging
from loyalty.loader import load_program
from storage.store import Store

async def main() -> None:
    setup_logging(stream=open(sys.argv[2], "w"))
    program = load_program({"preset": "marketplace"})
    store = await Store.open(Path(sys.argv[1]), program, synchronous=sys.argv[3])
    app = build_api(Config(program), store, api_key=sys.argv[4], bot_username="bench_bot")
    gc.collect()
    gc.freeze()  # as `loyaltybot run` does before its first request
    async with http_server(app, "127.0.0.1", 0) as listening:
        print(listening.port, flush=True)
        await asyncio.Event().wait()

uvloop.run(main())
"""


async def call(app: ASGIApp, body: bytes) -> None:
    """POST one event's bytes to `app` in this loop, as uvicorn would; check it answered 200."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": PATH, "raw_path": PATH.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2), "state": {},
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {KEY}".encode()),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode())],
    }  # fmt: skip
    given = False
    answer: list[Message] = []

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the app answers
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        answer.append(message)

    await app(scope, receive, send)
    if answer[0]["status"] != 200:
        raise RuntimeError(f"{PATH} answered {answer[0]['status']}: {answer[1:]}")


async def per_event(work: Callable[[Any], Awaitable[object]], items: list[Any]) -> float:
    """Run `work` on each item one after another; return microseconds per item."""
    start = time.perf_counter()
    for item in items:
        await work(item)
    return (time.perf_counter() - start) / len(items) * 1e6


async def stubbed_apply(store: object, body: object) -> dict[str, Any]:
    """Stand-in for `storage.events.apply_event`: the answer, without the store."""
    return {"status": "processed", "member_id": "m"}


async def in_process(args: argparse.Namespace, workdir: Path) -> dict[str, list[float]]:
    """Part 1: the app's layers in one process, without sockets."""
    program = load_program({"preset": "marketplace"})
    config = Config(program)
    alone = await Store.open(workdir / "alone.db", program, synchronous=args.sync)
    served = await Store.open(workdir / "served.db", program, synchronous=args.sync)
    app = build_api(config, served, api_key=KEY, bot_username="bench_bot")
    bare = bare_app()
    real_apply = store_events.apply_event
    times: dict[str, list[float]] = {
        "direct": [], "app, store stubbed": [], "bare app": [], "app": [], "app + log line": []
    }  # fmt: skip

    def chunk(tag: str) -> list[bytes]:
        return [json.dumps(e).encode() for e in flatten(stories(args.stories, 4, tag))]

    log_file = (workdir / "in-process.log").open("w")
    try:
        for r in range(args.rounds):
            events = list(flatten(stories(args.stories, 4, f"direct-{r}")))
            times["direct"].append(await per_event(lambda e: real_apply(alone, e), events))
            bodies = chunk(f"stub-{r}")
            store_events.apply_event = stubbed_apply
            try:
                times["app, store stubbed"].append(await per_event(lambda b: call(app, b), bodies))
            finally:
                store_events.apply_event = real_apply
            times["bare app"].append(await per_event(lambda b: call(bare, b), bodies))
            times["app"].append(await per_event(lambda b: call(app, b), chunk(f"app-{r}")))
            level = logging.getLogger().level
            stop_logging()  # setup_logging adds its handler once: any earlier one goes first
            setup_logging(stream=log_file)
            try:
                logged = await per_event(lambda b: call(app, b), chunk(f"log-{r}"))
            finally:
                stop_logging()
                logging.getLogger().setLevel(level)  # else records are still made, unhandled
            times["app + log line"].append(logged)
    finally:
        log_file.close()
        await alone.close()
        await served.close()
    return times


def over_http(args: argparse.Namespace, workdir: Path) -> dict[str, list[float]]:
    """Part 2: `loyaltybot run`, the API alone and the bare endpoint, one connection each."""
    (workdir / "run").mkdir()
    server = start_server(workdir / "run", args.sync)
    api_only, port_line = start_script(
        API_ONLY, "the API-only server", str(workdir / "api.db"), str(workdir / "api.log"),
        args.sync, KEY,
    )  # fmt: skip
    bare, bare_port = start_bare()
    times: dict[str, list[float]] = {"loyaltybot run": [], "API alone": [], "bare": []}
    try:
        for r in range(args.rounds):
            for name, port in (
                ("loyaltybot run", server.port),
                ("API alone", int(port_line)),
                ("bare", bare_port),
            ):
                rate = http_closed_loop(port, stories(args.stories, 4, f"{name}-{r}"), 1)
                times[name].append(1e6 / rate)
    finally:
        server.stop()
        for process in (api_only, bare):
            process.kill()
            process.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sync", default="NORMAL", choices=["FULL", "NORMAL"])
    parser.add_argument("--stories", type=int, default=100, help="members per chunk")
    parser.add_argument("--rounds", type=int, default=5, help="chunks per path (median taken)")
    parser.add_argument("--skip-http", action="store_true", help="the in-process part only")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as tmp:
        parts = uvloop.run(in_process(args, Path(tmp)))
        if not args.skip_http:
            parts |= over_http(args, Path(tmp))
    median = {name: statistics.median(values) for name, values in parts.items()}
    count = len(list(flatten(stories(args.stories, 4, "count"))))
    print(f"synchronous={args.sync}: us per event, median of {args.rounds} rounds of {count}")
    for name, value in median.items():
        print(f"  {name:22s} {value:8.1f}   (rounds: {[round(v) for v in parts[name]]})")
    layers = median["app, store stubbed"] - median["bare app"]
    print(
        f"  the app's layers beyond the bare app's: {layers:.1f} us; the log line in situ: "
        f"{median['app + log line'] - median['app']:.1f} us; the apply inside the app, its "
        f"layers and caches: {median['app'] - median['direct']:.1f} us over direct"
    )
    if not args.skip_http:
        http_cost = median["bare"] - median["bare app"]
        expected = median["app + log line"] + http_cost
        print(f"  HTTP's own cost (bare over HTTP - bare app): {http_cost:.1f} us; the API alone "
              f"over HTTP is {median['API alone'] - expected:.1f} us over the in-process figure "
              f"+ that cost (what crossing processes costs); the bot beside it "
              f"{median['loyaltybot run'] - median['API alone']:.1f} us more")  # fmt: skip
        budget = median["loyaltybot run"] / (median["direct"] + median["bare"])
        print(f"  per event / (direct + bare) = {budget:.2f} (bench/http_events.py's goal <= 1.25)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)


if __name__ == "__main__":
    main()
