"""Connector webhooks per second and their latency, beside our own event endpoint, in one run.

    python bench/connector_webhooks.py                  # default sizes
    python bench/connector_webhooks.py --rate 100 --paced-seconds 20 --rounds 5

One `loyaltybot run` process (a fresh database, both connectors on, Telegram the emulator in a
process of its own) takes, in alternating rounds (median of each):

1. WooCommerce `order.updated` deliveries: the REST v3 sample order 723 (completed), one per
   new order and customer, signed as WooCommerce signs, on one keep-alive connection. Each
   delivery implies five events (member, e-mail verified, placed, paid, delivered);
2. Shopify `orders/fulfilled` deliveries of the sample order, the same way (five events too);
3. our own `POST /api/v1/events`, one event per request, on one connection (bench/http_events.py);
4. paced, open loop: WooCommerce deliveries at a fixed rate (default 100/s), then Shopify's,
   then our own events at the same rate, latency from each scheduled send time (no
   coordinated omission).
   Goal: connector p99 under 50 ms at 100 deliveries a second.

The clients are bench/http_events.py's minimal keep-alive HTTP/1.1 clients. Results are
printed and written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from bench.http_events import KEY, content_length, percentiles, start_telegram  # noqa: E402
from bot.connectors.mapping import sign  # noqa: E402

WC_SECRET = "bench-wc-secret"
SHOPIFY_SECRET = "bench-shopify-secret"
SAMPLES = ROOT / "tests" / "connectors" / "samples"
Request = bytes
_ids = itertools.count(1)


def _http(path: str, payload: bytes, headers: dict[str, str]) -> Request:
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{lines}"
        f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )


def wc_delivery(n: int, tag: str) -> Request:
    """A signed `order.updated` delivery of sample order 723, as a new order and customer."""
    order = json.loads((SAMPLES / "wc_order_723.json").read_text("utf-8"))
    order.update(id=n, number=str(n), customer_id=100_000 + n, refunds=[])
    order["billing"] = {**order["billing"], "email": f"{tag}-{n}@example.com"}
    body = json.dumps(order, separators=(",", ":")).encode()
    return _http("/connectors/woocommerce", body, {
        "X-WC-Webhook-Topic": "order.updated", "X-WC-Webhook-Delivery-ID": f"{tag}-{n}",
        "X-WC-Webhook-Signature": sign(WC_SECRET, body),
    })  # fmt: skip


def shopify_delivery(n: int, tag: str) -> Request:
    """A signed `orders/fulfilled` delivery of the sample order (USD, fulfilled), new ids."""
    order = json.loads((SAMPLES / "shopify_orders_create.json").read_text("utf-8"))
    order.update(id=n, currency="USD", financial_status="paid", cancelled_at=None,
                 fulfillment_status="fulfilled")  # fmt: skip
    order["customer"] = {**copy.deepcopy(order["customer"]), "id": 200_000 + n,
                         "email": f"{tag}-{n}@example.com"}  # fmt: skip
    body = json.dumps(order, separators=(",", ":")).encode()
    return _http("/connectors/shopify", body, {
        "X-Shopify-Topic": "orders/fulfilled", "X-Shopify-Webhook-Id": f"{tag}-{n}",
        "X-Shopify-Hmac-Sha256": sign(SHOPIFY_SECRET, body),
    })  # fmt: skip


def own_event(n: int, tag: str) -> Request:
    """One event of our own API (a new member each time: the cheapest kind, like-for-like)."""
    at = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = json.dumps({"id": f"{tag}-{n}", "type": "member.upserted", "occurred_at": at,
                       "data": {"member_id": f"{tag}-m{n}"}}).encode()  # fmt: skip
    return _http("/api/v1/events", body, {"Authorization": f"Bearer {KEY}"})


class Conn:
    """A keep-alive connection on asyncio streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, request: Request) -> None:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        answer = await self.reader.readexactly(content_length(head))
        if int(head[9:12]) != 200 or b'"processed"' not in answer:
            raise RuntimeError(f"{head[:12]!r} {answer[:300]!r}")

    def close(self) -> None:
        self.writer.close()


async def closed_loop(port: int, requests: list[Request]) -> float:
    """Send one after another on one connection; return requests per second."""
    conn = await Conn.open(port)
    start = time.perf_counter()
    for request in requests:
        await conn.send(request)
    took = time.perf_counter() - start
    conn.close()
    return len(requests) / took


async def paced(port: int, requests: list[Request], rate: float, pool: int) -> dict[str, Any]:
    """Send at `rate` per second whatever the answers do; latency from the scheduled time."""
    free: asyncio.Queue[Conn] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await Conn.open(port))
    latencies: list[float] = []
    start = time.perf_counter() + 0.1

    async def one(i: int, request: Request) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the schedule, not a wait
        conn = await free.get()
        try:
            await conn.send(request)
        finally:
            free.put_nowait(conn)
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)))
    took = time.perf_counter() - start
    while not free.empty():
        free.get_nowait().close()
    return {
        "rate_target": rate,
        "rate_achieved": round(len(requests) / took, 1),
        "requests": len(requests),
        **percentiles(latencies),
    }


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], subprocess.Popen[str], int]:
    """`loyaltybot run` with both connectors on; return it, the emulator and the port."""
    telegram, base_url = start_telegram()
    config = workdir / "config.toml"
    config.write_text(
        f'[storage]\npath = "{workdir / "loyalty.db"}"\n'
        f'[telegram]\nbot_username = "bench_bot"\nbase_url = "{base_url}"\n'
        '[server]\nport = 0\n[program]\npreset = "marketplace"\n'
        '[connectors.woocommerce]\nenabled = true\nstore_url = "https://wc.bench"\n'
        '[connectors.shopify]\nenabled = true\nshop_domain = "bench.myshopify.com"\n'
    )
    env = {**os.environ, "SHOP_API_KEY": KEY, "BOT_TOKEN": "123456:TEST",
           "WC_WEBHOOK_SECRET": WC_SECRET, "SHOPIFY_WEBHOOK_SECRET": SHOPIFY_SECRET}  # fmt: skip
    command = [sys.executable, "-m", "bot"]
    subprocess.run([*command, "db", "migrate", "-c", str(config)], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([*command, "run", "-c", str(config)], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=sink)  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "msg=listening" in line:
                return process, telegram, int(line.split(" port=")[1].split()[0])
        if process.poll() is not None:
            break
        time.sleep(0.05)  # polling a log file for the start line; not part of any measurement
    process.kill()
    telegram.kill()
    raise RuntimeError(f"the server did not start:\n{log.read_text()}")


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    process, telegram, port = start_server(workdir)
    rates: dict[str, list[float]] = {"woocommerce": [], "shopify": [], "own_events": []}
    try:
        for r in range(args.rounds):
            base = r * args.deliveries
            numbers = range(base + 1, base + args.deliveries + 1)
            rates["woocommerce"].append(
                await closed_loop(port, [wc_delivery(n, f"r{r}") for n in numbers])
            )
            rates["shopify"].append(
                await closed_loop(port, [shopify_delivery(n, f"r{r}") for n in numbers])
            )
            rates["own_events"].append(
                await closed_loop(port, [own_event(n, f"own-r{r}") for n in numbers])
            )
        count = int(args.rate * args.paced_seconds)
        start = 1_000_000
        paced_wc = await paced(
            port, [wc_delivery(start + n, "paced") for n in range(count)], args.rate, 8
        )
        paced_shopify = await paced(
            port, [shopify_delivery(start + n, "paced") for n in range(count)], args.rate, 8
        )
        paced_own = await paced(
            port, [own_event(n, "paced-own") for n in range(count)], args.rate, 8
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        telegram.kill()
        telegram.wait()
    medians = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    return {"rounds": rates, "median_per_s": medians, "paced_woocommerce": paced_wc,
            "paced_shopify": paced_shopify, "paced_own_events": paced_own}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=300, help="per path and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100.0, help="paced: deliveries a second")
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-connectors-") as tmp:
        result = uvloop.run(run(args, Path(tmp)))
    m, wc, own = result["median_per_s"], result["paced_woocommerce"], result["paced_own_events"]
    sh = result["paced_shopify"]
    print(
        f"closed loop, 1 connection, median of {args.rounds} x {args.deliveries}:\n"
        f"  WooCommerce order.updated   {m['woocommerce']:8.1f} deliveries/s (5 events each)\n"
        f"  Shopify orders/fulfilled    {m['shopify']:8.1f} deliveries/s (5 events each)\n"
        f"  own POST /api/v1/events     {m['own_events']:8.1f} events/s (1 event each)\n"
        f"  (rounds: {result['rounds']})\n"
        f"paced {args.rate:.0f}/s, {wc['requests']} each:\n"
        f"  WooCommerce: achieved {wc['rate_achieved']}/s, p50 {wc['p50_ms']} ms, "
        f"p99 {wc['p99_ms']} ms, max {wc['max_ms']} ms (goal p99 < 50 ms)\n"
        f"  Shopify:     achieved {sh['rate_achieved']}/s, p50 {sh['p50_ms']} ms, "
        f"p99 {sh['p99_ms']} ms, max {sh['max_ms']} ms (goal p99 < 50 ms)\n"
        f"  own events:  achieved {own['rate_achieved']}/s, p50 {own['p50_ms']} ms, "
        f"p99 {own['p99_ms']} ms, max {own['max_ms']} ms",
        flush=True,
    )
    load = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load)}", flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"args": vars(args), "cpus": os.cpu_count(), "load_after": load, **result}
    (out / f"connector_webhooks-{stamp}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
