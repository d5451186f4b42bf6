"""WebSocket broadcast fan-out: the generated websocket module against a plain FastAPI
`WebSocket` loop and the broadcaster library, in one run, against one redis-server.

One uvicorn process (one worker) serves three routes, one per variant:

- paxx-patch: the generated `room_endpoint` shape (`connect`, `join`, `messages()`),
  messages sent with `send_room` through Redis pub/sub;
- plain: the FastAPI documentation's connection manager (a list of sockets, and a
  broadcast that awaits `send_text` on each in turn), one process only;
- broadcaster: `Broadcast("redis://...")`, a subscriber per connection relaying
  each event with `send_text`, as its README shows (with one fix: its Redis
  backend, as released in 0.3.1, delivered nothing at all here beside redis-py 8.1:
  see APP).

For each variant CLIENTS clients connect (in this process, the websockets library),
then the server sends MESSAGES broadcasts, each carrying its send time; the figures
are deliveries per second (from the first send to the last delivery) and the p50 and
p99 delivery latency. Variants take turns, RUNS rounds, the median of each figure.
The clients share one core with nothing else, the server the other: on a two-core
machine the client side bounds every variant alike.

    python benchmarks/bench_websocket.py [--clients N] [--messages N] [--runs N]

Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "generated"))
VARIANTS = ("paxx-patch", "plain", "broadcaster")

APP = '''"""The three variants behind one app."""

import asyncio
import contextlib
import json
import os
import time

from broadcaster import Broadcast
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from services.websocket import connect, local_connections, send_room

peers = Broadcast(os.environ["REDIS_URL"])


@contextlib.asynccontextmanager
async def lifespan(_app):
    await peers.connect()
    # broadcaster 0.3.1's Redis listener looks for subscriptions before redis-py has
    # recorded the first one, finds none and waits for a next first one: nothing is
    # ever delivered. A subscription held for the app's life, and one wake-up, fix it.
    async with peers.subscribe(channel="bench"):
        peers._backend._ready.set()
        yield
    await peers.disconnect()


app = FastAPI(lifespan=lifespan)
plain: list[WebSocket] = []
counts = {"broadcaster": 0}


@app.websocket("/paxx-patch")
async def ours(websocket: WebSocket) -> None:
    connection = await connect(websocket)
    connection.join("bench")
    async for _ in connection.messages():
        pass


@app.websocket("/plain")
async def plain_route(websocket: WebSocket) -> None:
    await websocket.accept()
    plain.append(websocket)
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        plain.remove(websocket)


@app.websocket("/broadcaster")
async def broadcaster_route(websocket: WebSocket) -> None:
    await websocket.accept()
    async with peers.subscribe(channel="bench") as subscriber:
        counts["broadcaster"] += 1
        try:
            async for event in subscriber:
                await websocket.send_text(event.message)
        finally:
            counts["broadcaster"] -= 1


@app.get("/connected/{variant}")
async def connected(variant: str) -> dict[str, int]:
    n = {"paxx-patch": local_connections("bench"), "plain": len(plain)}.get(variant)
    return {"connections": counts["broadcaster"] if n is None else n}


@app.post("/fire/{variant}")
async def fire(variant: str, count: int, interval: float = 0) -> dict[str, int]:
    for n in range(count):
        if interval:
            await asyncio.sleep(interval)
        text = json.dumps({"n": n, "t": time.time()})
        if variant == "paxx-patch":
            await send_room("bench", {"n": n, "t": time.time()})
        elif variant == "plain":
            for websocket in list(plain):
                await websocket.send_text(text)
        else:
            await peers.publish(channel="bench", message=text)
    return {"sent": count}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not come up")
        time.sleep(0.1)


async def one_round(
    address: str, variant: str, clients: int, messages: int, interval: float = 0
) -> dict[str, float]:
    import httpx
    from websockets.asyncio.client import connect

    opening = asyncio.Semaphore(100)

    async def open_one() -> Any:
        async with opening:
            return await connect(f"ws://{address}/{variant}", open_timeout=60, max_queue=None)

    sockets = await asyncio.gather(*(open_one() for _ in range(clients)))
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=120) as http:
        while (await http.get(f"/connected/{variant}")).json()["connections"] < clients:
            await asyncio.sleep(0.05)
        latencies: list[float] = []

        async def receive(ws: Any) -> float:
            got = 0
            while got < messages:
                message = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if message.get("type") == "ping":
                    await ws.send('{"type": "pong"}')
                    continue
                latencies.append(time.time() - message["t"])
                got += 1
            return time.time()

        started = time.time()
        fired = asyncio.ensure_future(http.post(f"/fire/{variant}", params={"count": messages, "interval": interval}))
        ends = await asyncio.gather(*(receive(ws) for ws in sockets))
        (await fired).raise_for_status()
    await asyncio.gather(*(ws.close() for ws in sockets))
    latencies.sort()
    return {
        "deliveries_per_s": clients * messages / (max(ends) - started),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=1000, help="connected clients (default 1000)")
    parser.add_argument("--messages", type=int, default=50, help="broadcasts per round (default 50)")
    parser.add_argument("--runs", type=int, default=3, help="rounds per variant (default 3)")
    parser.add_argument("--rate", type=float, default=5.0,
                        help="broadcasts per second of the paced rounds (default 5)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated (default all)")
    args = parser.parse_args()
    variants = tuple(v for v in VARIANTS if v in args.variants.split(","))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4 * args.clients + 256
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, wanted), hard))
    from generated_projects import render_project, wait_for_redis

    with tempfile.TemporaryDirectory(prefix="paxx-bench-websocket-") as scratch:
        tmp = Path(scratch)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            project = render_project(tmp / "project", ["redis", "websocket"], files={"bench.py": APP})
        redis_port = free_port()
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", scratch],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = free_port()
        address = f"127.0.0.1:{port}"
        server = None
        # the server's log: broadcaster's routes outlive their clients, and the graceful
        # shutdown's timeout cancels them with a traceback each
        log = (tmp / "uvicorn.log").open("w")
        try:
            wait_for_redis(redis_url, redis)
            env = {**os.environ, "PYTHONPATH": str(project.root), "REDIS_URL": redis_url,
                   "WS_REDIS_URL": redis_url, "WS_SEND_QUEUE_SIZE": str(args.messages * 4)}
            server = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench:app", "--host", "127.0.0.1", "--port", str(port),
                 "--log-level", "warning", "--timeout-graceful-shutdown", "5"],
                cwd=project.root, env=env, stdout=log, stderr=log,  # the raised limit is inherited
            )
            import httpx

            wait_until(lambda: httpx.get(f"http://{address}/health", timeout=1).status_code == 200, "uvicorn")
            figures: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            paced: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
            for _ in range(args.runs):
                for variant in variants:
                    figures[variant].append(asyncio.run(one_round(address, variant, args.clients, args.messages)))
                    paced[variant].append(asyncio.run(one_round(
                        address, variant, args.clients, max(args.messages // 5, 5), 1 / args.rate)))
        finally:
            if server is not None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
            redis.terminate()
            redis.wait(timeout=10)
            log.close()
    print(f"broadcast fan-out, {args.clients} clients, median of {args.runs} rounds, one uvicorn process:")
    print(f"  {'variant':12} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}   "
          f"paced at {args.rate:g}/s: {'p50 ms':>8} {'p99 ms':>8}")
    medians = {v: {k: statistics.median(r[k] for r in figures[v]) for k in figures[v][0]} for v in variants}
    slow = {v: {k: statistics.median(r[k] for r in paced[v]) for k in paced[v][0]} for v in variants}
    for variant in variants:
        m, p = medians[variant], slow[variant]
        print(f"  {variant:12} {m['deliveries_per_s']:13.0f} {m['p50_ms']:8.1f} {m['p99_ms']:8.1f}   "
              f"{'':15} {p['p50_ms']:8.1f} {p['p99_ms']:8.1f}")
    print(f"  (saturated: {args.messages} broadcasts at once; the clients' one process bounds every variant)")
    for other in [v for v in variants if v != "paxx-patch" and "paxx-patch" in variants]:
        ratio = medians["paxx-patch"]["deliveries_per_s"] / medians[other]["deliveries_per_s"]
        p99 = slow["paxx-patch"]["p99_ms"] / slow[other]["p99_ms"]
        print(f"  paxx-patch / {other}: throughput {ratio:.2f}, paced p99 latency {p99:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
