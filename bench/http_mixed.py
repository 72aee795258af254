"""Tail latency of mixed shop API traffic at a fixed rate: p99 under 50 ms at 300/s for 60 s.

    python bench/http_mixed.py                        # 300/s for 60 s, synchronous=FULL
    python bench/http_mixed.py --rate 350 --seconds 60 --sync NORMAL

`loyaltybot run` (vip-shop, so that points pay at checkout) in a process of its own, Telegram
emulated by a third (bench/http_events.py starts both). A seed phase, not measured, creates
`--members` verified members with 105 points each. Then requests are sent at `--rate`
per second, open loop, whatever the answers do, on `--connections` keep-alive connections;
each latency counts from the request's scheduled send time, so a stall shows in every request
that waited behind it (no coordinated omission). The mix, by weight:

- 35% shop events: member stories (sign-up, orders placed, paid, delivered, some reviewed),
  interleaved so two events of one story are far apart (a late answer delays its story's next
  event, as it would a shop, and that event's latency shows it);
- 30% member look-ups (`GET /api/v1/members/{id}`), 15% checkout quotes;
- 10% holds of 1 point, each followed later by its capture or release (10%).

Printed: p50, p90, p99, p99.9 and max, the rate achieved, the worst requests with the second
they were due in (periodic stalls show as a pattern), and the load average before and after:
the machine is shared, and other work on it weighs on every figure. JSON in bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from bench.http_events import (  # noqa: E402
    KEY,
    BlockingConnection,
    Event,
    content_length,
    start_server,
    stories,
)

WEIGHTS = {"event": 35, "member": 30, "quote": 15, "hold": 10, "settle": 10}


@dataclass
class Call:
    """One request of the schedule and what it must wait for (an earlier call of its chain)."""

    kind: str
    method: str
    path: str
    body: Event | None
    ok: tuple[int, ...]
    after: int | None = None  # index of the call this one follows


def _bytes(call: Call) -> bytes:
    payload = b"" if call.body is None else json.dumps(call.body, separators=(",", ":")).encode()
    head = f"{call.method} {call.path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {KEY}\r\n"
    if call.body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    return (head + "\r\n").encode() + payload


class Connection:
    """One keep-alive connection on asyncio streams, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, call: Call) -> None:
        self.writer.write(_bytes(call))
        head = await self.reader.readuntil(b"\r\n\r\n")
        answer = await self.reader.readexactly(content_length(head))
        status = int(head[9:12])
        if status not in call.ok:
            raise RuntimeError(f"{call.method} {call.path}: {status} {answer[:300]!r}")

    def close(self) -> None:
        self.writer.close()


def seed(port: int, members: int) -> list[str]:
    """Create verified vip-shop members with 105 points each (not measured): the e-mail's 5
    and 1% of a reviewed $10,000 order."""
    at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    conn = BlockingConnection(port)
    ids = []
    try:
        for n in range(members):
            member = f"seed-m{n}"
            for suffix, type_, data in (
                ("u", "member.upserted", {"member_id": member, "language": "en"}),
                ("v", "member.email_verified", {"member_id": member}),
                ("p", "order.placed", {"order_id": f"seed-o{n}", "member_id": member,
                                       "amount_cents": 1_000_000}),
                ("d", "order.delivered", {"order_id": f"seed-o{n}"}),
                ("r", "review.submitted", {"order_id": f"seed-o{n}"}),  # 1%: 100 points
            ):  # fmt: skip
                body = {"id": f"seed-{n}-{suffix}", "type": type_, "occurred_at": at, "data": data}
                status, answer = conn.post("/api/v1/events", body)
                assert status == 200, answer
            ids.append(member)
    finally:
        conn.close()
    return ids


def schedule(count: int, members: list[str], rng: random.Random) -> list[Call]:
    """The mixed requests in the order they are due; chains point back with `after`."""
    events = [e for chain in _interleave(stories(max(200, count // 25), 3, "mix")) for e in chain]
    event_at: dict[str, int] = {}  # the story of each event's member, for its chain
    kinds = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()), k=count)
    calls: list[Call] = []
    open_holds: list[tuple[int, str]] = []
    next_event = 0
    for i, kind in enumerate(kinds):
        if kind == "settle" and not open_holds:
            kind = "hold"
        if kind == "event" and next_event < len(events):
            body = events[next_event]
            next_event += 1
            story = body["id"].split("-")[1]
            calls.append(Call("event", "POST", "/api/v1/events", body, (200,), event_at.get(story)))
            event_at[story] = i
        elif kind in ("member", "event"):
            calls.append(Call("member", "GET", f"/api/v1/members/{rng.choice(members)}", None,
                              (200,)))  # fmt: skip
        elif kind == "quote":
            body = {"member_id": rng.choice(members), "amount_cents": rng.randint(1_000, 90_000)}
            calls.append(Call("quote", "POST", "/api/v1/checkout/quote", body, (200,)))
        elif kind == "hold":
            hold_id = f"h-{i}"
            body = {"hold_id": hold_id, "member_id": rng.choice(members), "order_id": f"c-{i}",
                    "points": 1}  # fmt: skip
            calls.append(Call("hold", "POST", "/api/v1/checkout/holds", body, (201,)))
            open_holds.append((i, hold_id))
        else:
            at, hold_id = open_holds.pop(0)
            action = rng.choice(("capture", "release"))
            path = f"/api/v1/checkout/holds/{hold_id}/{action}"
            calls.append(Call("settle", "POST", path, None, (200,), at))
    return calls


def _interleave(all_stories: list[list[Event]]) -> list[list[Event]]:
    longest = max(len(s) for s in all_stories)
    return [[s[i] for s in all_stories if i < len(s)] for i in range(longest)]


async def paced(port: int, calls: list[Call], rate: float, pool: int) -> dict[str, Any]:
    """Send `calls` at `rate` per second; return latency percentiles and the worst requests."""
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await Connection.open(port))
    loop = asyncio.get_running_loop()
    done = [loop.create_future() for _ in calls]
    latency = [0.0] * len(calls)
    start = time.perf_counter() + 0.2

    async def one(i: int, call: Call) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the schedule, not a wait
        if call.after is not None:
            await done[call.after]
        conn = await free.get()
        try:
            await conn.send(call)
        finally:
            free.put_nowait(conn)
            done[i].set_result(None)
        latency[i] = time.perf_counter() - due

    # The load generator's own collector stays off while it measures: its 18,000 scheduled
    # tasks made every full collection a stall of the client's loop, counted as the server's
    # latency (the same second in every run, whatever the server did). Its garbage is
    # collected afterwards.
    gc.collect()
    gc.disable()
    try:
        await asyncio.gather(*(one(i, c) for i, c in enumerate(calls)))
    finally:
        gc.enable()
    took = time.perf_counter() - start
    while not free.empty():
        free.get_nowait().close()
    ordered = sorted(latency)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000, 2)

    worst = sorted(range(len(calls)), key=lambda i: latency[i], reverse=True)[:12]
    over = [i for i in range(len(calls)) if latency[i] > 0.05]
    return {
        "requests": len(calls),
        "rate_target": rate,
        "rate_achieved": round(len(calls) / took, 1),
        "mix": dict(Counter(c.kind for c in calls)),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "p999_ms": pct(0.999),
        "max_ms": round(ordered[-1] * 1000, 2),
        "over_50ms": len(over),
        "seconds_with_requests_over_50ms": sorted({int(i / rate) for i in over}),
        "worst": [
            {"due_s": round(i / rate, 2), "kind": calls[i].kind, "ms": round(latency[i] * 1000, 1)}
            for i in worst
        ],
    }


# --diagnose: the same CLI, with every garbage collection over 5 ms and every event-loop stall
# over 20 ms logged by the server process (key=value lines in its log, copied to bench/out/).
DIAGNOSE = """
import asyncio, gc, resource, sys, time
import bot.service
import storage.db
from bot.cli import main

def say(text):
    print(f"diag={text} t={time.time():.3f}", file=sys.stderr, flush=True)

group = storage.db._run_group

def timed_group(conn, writes):  # in the writer's thread: the group's transaction and COMMIT
    begin = time.perf_counter()
    try:
        return group(conn, writes)
    finally:
        ms = (time.perf_counter() - begin) * 1000
        if ms > 20:
            say(f"slow_write_group ms={ms:.1f} writes={len(writes)}")

storage.db._run_group = timed_group

started = {}

def on_gc(phase, info):
    if phase == "start":
        started["t"] = time.perf_counter()
    elif "t" in started:
        ms = (time.perf_counter() - started.pop("t")) * 1000
        if ms > 5:
            say(f"gc gen={info['generation']} ms={ms:.1f} collected={info['collected']}")

gc.callbacks.append(on_gc)
serve = bot.service.serve

async def lag_watch():
    # The loop thread's CPU time and involuntary switches across a stall: CPU spent means our
    # code ran; neither means the thread waited (I/O, the GIL) or was not scheduled at all.
    while True:
        before, cpu = time.perf_counter(), time.thread_time()
        switches = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
        await asyncio.sleep(0.005)
        late = (time.perf_counter() - before - 0.005) * 1000
        if late > 20:
            used = (time.thread_time() - cpu) * 1000
            forced = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches
            say(f"loop_stall ms={late:.1f} cpu_ms={used:.1f} preempted={forced}")

async def watched(*args, **kwargs):
    task = asyncio.create_task(lag_watch())
    try:
        await serve(*args, **kwargs)
    finally:
        task.cancel()

bot.service.serve = watched
sys.exit(main(sys.argv[1:]))
"""


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, "-c", DIAGNOSE] if args.diagnose else None
    server = start_server(workdir, args.sync, preset="vip-shop", command=command)
    try:
        members = await asyncio.to_thread(seed, server.port, args.members)
        calls = schedule(int(args.rate * args.seconds), members, random.Random(1))
        result = await paced(server.port, calls, args.rate, args.connections)
        result["started_at"] = time.time() - args.seconds  # to line up the server's log
        return result
    finally:
        server.stop()
        if args.diagnose:
            lines = [
                line for line in server.log.read_text().splitlines()
                if line.startswith("diag=") or " event=request " not in line
            ]  # fmt: skip
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            out = ROOT / "bench" / "out"
            out.mkdir(parents=True, exist_ok=True)
            (out / f"http_mixed-server-{stamp}.log").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=300.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--members", type=int, default=300, help="seeded members")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--sync", default="FULL", choices=("FULL", "NORMAL"))
    parser.add_argument(
        "--diagnose", action="store_true", help="log the server's GC pauses and loop stalls"
    )
    args = parser.parse_args()
    before = os.getloadavg()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in before)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-mixed-") as tmp:
        result = uvloop.run(run(args, Path(tmp)))
    after = os.getloadavg()
    print(
        f"synchronous={args.sync}: {result['requests']} requests at {args.rate:.0f}/s "
        f"(achieved {result['rate_achieved']}/s), mix {result['mix']}\n"
        f"  p50 {result['p50_ms']} ms, p90 {result['p90_ms']} ms, p99 {result['p99_ms']} ms, "
        f"p99.9 {result['p999_ms']} ms, max {result['max_ms']} ms; "
        f"{result['over_50ms']} over 50 ms, "
        f"in seconds {result['seconds_with_requests_over_50ms']}\n"
        f"  worst: {result['worst']}",
        flush=True,
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in after)}", flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {"args": vars(args), "cpus": os.cpu_count(), "load_before": before,
              "load_after": after, "result": result}  # fmt: skip
    (out / f"http_mixed-{stamp}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
