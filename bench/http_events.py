"""Shop events per second through HTTP on loopback, beside the same events applied directly.

    python bench/http_events.py                      # both sync modes, default sizes
    python bench/http_events.py --stories 300 --rate 200 --paced-seconds 20

For each SQLite `synchronous` mode (FULL, the default, and NORMAL), in one run:

1. direct: the events applied one after another through `storage.events.apply_event` on a
   database of its own (no HTTP at all);
2. http, 1 connection: the same kind of events POSTed one after another to `loyaltybot run`
   (a separate process) on 127.0.0.1, like-for-like with (1);
3. http, N connections: the same, N keep-alive connections at once (what a shop with a few
   workers does);
   bare: the same requests, on one connection, to a bare Starlette JSON endpoint (parse the
   body, answer `{"status": "processed"}`) served by the same server code
   (`bot.api.server.http_server`) in a process of its own: what HTTP itself costs here;
   (1), (2), (3) and the bare run alternate in rounds (default 5) and each figure is the
   median, so other work on the machine weighs on all of them about equally. The goal: the
   time per event over HTTP (2) at most 1.25 x (the time per direct event + the time per bare
   request);
4. paced: events sent at a fixed rate (default 200/s) whatever the answers do (open loop), the
   latency of each measured from its scheduled send time, so a stall is not hidden
   (no coordinated omission); p50/p90/p99/max reported.

The load generator is this process; the server is a child process, and Telegram is the
emulator served over HTTP by a third process (`loyaltybot run` runs the bot beside the API).
The clients are minimal HTTP/1.1 keep-alive clients, so that on a small machine the numbers
are the server's, not an HTTP library's: plain blocking sockets, one thread per connection,
for (2) and (3); asyncio streams for the paced run, which must send on schedule whatever the
answers do. Both processes run on uvloop, as the product does. Results are printed and
written as JSON to bench/out/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import uvloop  # noqa: E402

from loyalty.loader import load_program  # noqa: E402
from storage.events import apply_event  # noqa: E402
from storage.store import Store  # noqa: E402

KEY = "bench-key"
Event = dict[str, Any]


def stories(count: int, orders: int, tag: str) -> list[list[Event]]:
    """Independent member stories: sign-up, then orders placed, paid, delivered, reviewed.

    Events of one story must be sent in order; different stories may interleave freely.
    """
    at = (datetime.now(UTC) - timedelta(minutes=30)).isoformat()
    out = []
    for s in range(count):
        member = f"{tag}-m{s}"
        story = [_event(f"{tag}-{s}-0", "member.upserted", at, member_id=member, language="en")]
        for o in range(orders):
            order = f"{tag}-o{s}-{o}"
            story += [
                _event(
                    f"{tag}-{s}-{o}-p",
                    "order.placed",
                    at,
                    order_id=order,
                    member_id=member,
                    amount_cents=1_000 + 137 * (s + o) % 50_000,
                ),
                _event(f"{tag}-{s}-{o}-y", "order.paid", at, order_id=order),
                _event(f"{tag}-{s}-{o}-d", "order.delivered", at, order_id=order),
            ]
            if o % 2 == 0:
                story.append(_event(f"{tag}-{s}-{o}-r", "review.submitted", at, order_id=order))
        out.append(story)
    return out


def _event(event_id: str, type_: str, at: str, **data: Any) -> Event:
    return {"id": event_id, "type": type_, "occurred_at": at, "data": data}


def flatten(all_stories: list[list[Event]]) -> Iterator[Event]:
    """Interleave stories round-robin, each story in its own order."""
    longest = max(len(s) for s in all_stories)
    for i in range(longest):
        for story in all_stories:
            if i < len(story):
                yield story[i]


# --- the direct path ------------------------------------------------------------------------


async def direct(store: Store, events: list[Event]) -> float:
    """Apply events one after another through the store operation; return events/s."""
    start = time.perf_counter()
    for body in events:
        answer = await apply_event(store, body)
        assert answer["status"] == "processed", answer
    return len(events) / (time.perf_counter() - start)


# --- the server -----------------------------------------------------------------------------


# Telegram for the server's bot: the emulator on a free port, in a process of its own so that
# it takes no time from the load generator. It prints its base URL, then serves until killed.
TELEGRAM = """
import asyncio
from telegram_emulator import TelegramEmulator, serve

async def main():
    emulator = TelegramEmulator(bot_username="bench_bot")
    async with serve(emulator) as base_url:
        print(base_url, flush=True)
        await asyncio.Event().wait()

asyncio.run(main())
"""


# HTTP's own cost: a bare Starlette JSON endpoint on the product's server code, in a process of
# its own; it prints its port, then serves until killed.
BARE = """
import asyncio
import uvloop
from bench.bare import bare_app
from bot.api.server import http_server

async def main() -> None:
    async with http_server(bare_app(), "127.0.0.1", 0) as listening:
        print(listening.port, flush=True)
        await asyncio.Event().wait()

uvloop.run(main())
"""


def start_script(script: str, what: str, *argv: str) -> tuple[subprocess.Popen[str], str]:
    """Start `script` (with `argv`) in a Python process of its own; return it and the first
    line it prints."""
    process = subprocess.Popen([sys.executable, "-c", script, *argv], cwd=ROOT, text=True,
                               stdout=subprocess.PIPE)  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        raise RuntimeError(f"{what} did not start")
    return process, line


def start_bare() -> tuple[subprocess.Popen[str], int]:
    """Start the bare endpoint's process; return it and its port."""
    process, port = start_script(BARE, "the bare endpoint")
    return process, int(port)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    telegram: subprocess.Popen[str]
    port: int
    log: Path

    def stop(self) -> int:
        self.process.terminate()
        code = self.process.wait(timeout=30)
        self.telegram.kill()
        self.telegram.wait()
        return code


def start_telegram() -> tuple[subprocess.Popen[str], str]:
    """Start the emulator process; return it and the base URL for the bot."""
    return start_script(TELEGRAM, "the Telegram emulator")


def start_server(
    workdir: Path,
    synchronous: str,
    *,
    preset: str = "marketplace",
    command: list[str] | None = None,
) -> Server:
    """Start `loyaltybot run` on a free port with a fresh database; wait until it listens.

    `command` replaces `python -m bot` (a wrapper that instruments the same CLI)."""
    telegram, base_url = start_telegram()
    config = workdir / "config.toml"
    config.write_text(
        f'[storage]\npath = "{workdir / "loyalty.db"}"\nsynchronous = "{synchronous}"\n'
        f'[telegram]\nbot_username = "bench_bot"\nbase_url = "{base_url}"\n'
        f'[server]\nport = 0\n[program]\npreset = "{preset}"\n'
    )
    env = {**os.environ, "SHOP_API_KEY": KEY, "BOT_TOKEN": "123456:TEST"}
    command = command or [sys.executable, "-m", "bot"]
    subprocess.run([*command, "db", "migrate", "-c", str(config)], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    log = workdir / "server.log"
    with log.open("wb") as sink:  # the server logs a line per request: never to a pipe
        process = subprocess.Popen([*command, "run", "-c", str(config)], cwd=ROOT, env=env,
                                   stdout=subprocess.DEVNULL, stderr=sink)  # fmt: skip
    try:
        line = wait_for_line(process, log, "msg=listening")
    except RuntimeError:
        telegram.kill()
        raise
    return Server(process, telegram, int(line.split(" port=")[1].split()[0]), log)


def wait_for_line(
    process: subprocess.Popen[bytes], log: Path, text: str, timeout: float = 30
) -> str:
    """Return the first line of `process`'s log file containing `text`; RuntimeError if the
    process ends or `timeout` passes first (then it is killed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        if process.poll() is not None:
            raise RuntimeError(f"the server ended:\n{log.read_text()}")
        time.sleep(0.05)  # polling a log file for the start line; not part of any measurement
    process.kill()
    process.wait()
    raise RuntimeError(f"no {text!r} within {timeout} s:\n{log.read_text()}")


# --- minimal keep-alive HTTP/1.1 clients ----------------------------------------------------


AUTH = f"Authorization: Bearer {KEY}"


def _request(path: str, body: Event, header: str = AUTH) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\n{header}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )


def content_length(head: bytes) -> int:
    """Return the Content-Length of a response head (0 when it has none)."""
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


def _check(body: Event, status: int, answer: bytes) -> None:
    if status != 200 or b'"processed"' not in answer:
        raise RuntimeError(f"{body['id']}: {status} {answer[:300]!r}")


class Connection:
    """One keep-alive connection on asyncio streams; one request at a time (the paced run)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: Event, header: str = AUTH) -> tuple[int, bytes]:
        self.writer.write(_request(path, body, header))
        head = await self.reader.readuntil(b"\r\n\r\n")
        return int(head[9:12]), await self.reader.readexactly(content_length(head))

    def close(self) -> None:
        self.writer.close()


class BlockingConnection:
    """One keep-alive connection on a plain blocking socket (the closed-loop runs).

    An event loop in the client costs ~0.1 ms a request on this small machine, as much as a
    third of the server's own HTTP work: a blocking socket, one thread per connection, leaves
    the CPU to the server, as a shop's backend on another machine would.
    """

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def post(self, path: str, body: Event) -> tuple[int, bytes]:
        self.sock.sendall(_request(path, body))
        while b"\r\n\r\n" not in self.pending:
            self.pending += self._recv()
        head, _, rest = self.pending.partition(b"\r\n\r\n")
        length = content_length(head)
        while len(rest) < length:
            rest += self._recv()
        self.pending = rest[length:]
        return int(head[9:12]), rest[:length]

    def _recv(self) -> bytes:
        data = self.sock.recv(65_536)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def close(self) -> None:
        self.sock.close()


async def send_checked(conn: Connection, body: Event) -> None:
    _check(body, *await conn.post("/api/v1/events", body))


def http_closed_loop(
    port: int | Sequence[int],
    all_stories: list[list[Event]],
    connections: int,
    seconds: float | None = None,
) -> float:
    """Send every story through `connections` connections as fast as answers come; events/s.

    Given several ports (servers), the connections are spread over them in turn. Given
    `seconds`, no story is started after that long (the stories begun are finished)."""
    todo: queue.SimpleQueue[list[Event]] = queue.SimpleQueue()
    for story in all_stories:
        todo.put(story)
    ports = [port] if isinstance(port, int) else list(port)
    conns = [BlockingConnection(ports[i % len(ports)]) for i in range(connections)]
    start = time.perf_counter()
    deadline = math.inf if seconds is None else start + seconds

    def worker(conn: BlockingConnection) -> int:
        sent = 0
        with contextlib.suppress(queue.Empty):
            while time.perf_counter() < deadline:
                for body in todo.get_nowait():
                    _check(body, *conn.post("/api/v1/events", body))
                    sent += 1
        return sent

    with ThreadPoolExecutor(connections) as pool:
        total = sum(done.result() for done in [pool.submit(worker, conn) for conn in conns])
    took = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return total / took


async def http_paced(
    port: int, paced_stories: list[list[Event]], count: int, rate: float, pool: int
) -> dict[str, Any]:
    """Send `count` events at `rate` per second (open loop); latency from each scheduled time.

    Stories are interleaved round-robin, so two events of one story are far apart in the
    schedule; should an answer be so late that the next event of its story is due, that event
    waits for it (the shop would too) and its own latency, still counted from its scheduled
    time, shows the wait.
    """
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(pool):
        free.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    schedule: list[tuple[Event, asyncio.Future[None] | None, asyncio.Future[None]]] = []
    loop = asyncio.get_running_loop()
    previous: dict[int, asyncio.Future[None]] = {}
    longest = max(len(s) for s in paced_stories)
    for i in range(longest):
        for n, story in enumerate(paced_stories):
            if i < len(story) and len(schedule) < count:
                done = loop.create_future()
                schedule.append((story[i], previous.get(n), done))
                previous[n] = done
    start = time.perf_counter() + 0.1

    async def one(
        i: int, body: Event, after: asyncio.Future[None] | None, done: asyncio.Future[None]
    ) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))  # the schedule, not a wait
        if after is not None:
            await after
        conn = await free.get()
        try:
            await send_checked(conn, body)
        finally:
            free.put_nowait(conn)
            done.set_result(None)
        latencies.append(time.perf_counter() - due)

    await asyncio.gather(*(one(i, *entry) for i, entry in enumerate(schedule)))
    took = time.perf_counter() - start
    while not free.empty():
        free.get_nowait().close()
    return {
        "rate_target": rate,
        "rate_achieved": round(len(schedule) / took, 1),
        "events": len(schedule),
        **percentiles(latencies),
    }


def percentiles(latencies: list[float]) -> dict[str, float]:
    """Return p50, p90, p99 and the max of latencies in seconds, as milliseconds."""
    ordered = sorted(latencies)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(len(ordered) * 0.90) - 1] * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


# --- the run --------------------------------------------------------------------------------


@dataclass
class Result:
    synchronous: str
    events: int
    rounds: dict[str, list[float]]
    direct_per_s: float
    http_1_per_s: float
    http_n_per_s: float
    connections: int
    ratio_1: float
    ratio_n: float
    bare_1_per_s: float
    budget_ratio: float  # HTTP time per event / (direct + bare); goal <= 1.25
    paced: dict[str, Any]


async def run_mode(args: argparse.Namespace, synchronous: str, workdir: Path) -> Result:
    """Measure one sync mode: rounds of direct / HTTP x1 / HTTP xN, then the paced run.

    The rounds alternate the three paths, so that other work on the machine weighs on each
    about equally; each figure is the median of its rounds.
    """
    program = load_program({"preset": "marketplace"})
    store = await Store.open(workdir / "direct.db", program, synchronous=synchronous)  # type: ignore[arg-type]
    (workdir / "server").mkdir()
    server = start_server(workdir / "server", synchronous)
    bare, bare_port = start_bare()
    rates: dict[str, list[float]] = {"direct": [], "http_1": [], "http_n": [], "bare_1": []}
    try:
        for r in range(args.rounds):
            tag = f"{synchronous}-{r}"
            chunk = list(flatten(stories(args.stories, args.orders, f"{tag}-direct")))
            rates["direct"].append(await direct(store, chunk))
            seq = stories(args.stories, args.orders, f"{tag}-seq")
            rates["http_1"].append(http_closed_loop(server.port, seq, 1))
            par = stories(args.stories, args.orders, f"{tag}-par")
            rates["http_n"].append(http_closed_loop(server.port, par, args.connections))
            plain = stories(args.stories, args.orders, f"{tag}-bare")
            rates["bare_1"].append(http_closed_loop(bare_port, plain, 1))
        paced_count = int(args.rate * args.paced_seconds)
        # Enough stories that two events of one story are >= 1.5 s apart in the schedule.
        spread = max(int(args.rate * 1.5), paced_count // 8)
        paced_stories = stories(spread, args.orders, f"{synchronous}-paced")
        paced = await http_paced(
            server.port, paced_stories, paced_count, args.rate, args.connections
        )
    finally:
        code = server.stop()
        bare.kill()
        bare.wait()
        await store.close()
    if code != 0:
        raise RuntimeError(f"the server exited with {code}")
    direct_rate, http_1, http_n, bare_1 = (statistics.median(rates[k]) for k in rates)
    return Result(
        synchronous=synchronous,
        events=len(chunk),
        rounds={k: [round(x, 1) for x in v] for k, v in rates.items()},
        direct_per_s=round(direct_rate, 1),
        http_1_per_s=round(http_1, 1),
        http_n_per_s=round(http_n, 1),
        connections=args.connections,
        ratio_1=round(direct_rate / http_1, 2),
        ratio_n=round(direct_rate / http_n, 2),
        bare_1_per_s=round(bare_1, 1),
        budget_ratio=round((1 / http_1) / (1 / direct_rate + 1 / bare_1), 2),
        paced=paced,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stories", type=int, default=100, help="members per measured chunk")
    parser.add_argument("--rounds", type=int, default=5, help="chunks per path (median taken)")
    parser.add_argument("--orders", type=int, default=4, help="orders per member")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--rate", type=float, default=200.0, help="paced run: events per second")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--sync", nargs="+", default=["FULL", "NORMAL"])
    args = parser.parse_args()
    results = []
    # Other work on the machine skews every figure: say how busy it was.
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    for mode in args.sync:
        with tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
            result = uvloop.run(run_mode(args, mode, Path(tmp)))
        results.append(result)
        p = result.paced
        print(
            f"synchronous={mode}: {result.events} events per chunk, median of {args.rounds}\n"
            f"  direct (apply_event)      {result.direct_per_s:8.1f} events/s\n"
            f"  HTTP, 1 connection        {result.http_1_per_s:8.1f} events/s"
            f"   direct/HTTP = {result.ratio_1}\n"
            f"  HTTP, {result.connections} connections       {result.http_n_per_s:8.1f} events/s"
            f"   direct/HTTP = {result.ratio_n}\n"
            f"  bare Starlette, 1 conn.   {result.bare_1_per_s:8.1f} requests/s\n"
            f"  HTTP per event / (direct + bare) = {result.budget_ratio} (goal <= 1.25)\n"
            f"  (rounds: {result.rounds})\n"
            f"  paced {p['rate_target']:.0f}/s ({p['events']} events, achieved "
            f"{p['rate_achieved']}/s): p50 {p['p50_ms']} ms, p90 {p['p90_ms']} ms, "
            f"p99 {p['p99_ms']} ms, "
            f"max {p['max_ms']} ms",
            flush=True,
        )
    load = os.getloadavg()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load)}", flush=True)
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "args": vars(args),
        "cpus": os.cpu_count(),
        "load_after": load,
        "results": [asdict(r) for r in results],
    }
    (out / f"http_events-{stamp}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
