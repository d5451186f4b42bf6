"""The generated cache and storage under load and faults, side by side with the
libraries a user would pick instead, in one process against the same services.

1. Cache throughput: N concurrent set+get of a small JSON value from one event
   loop (N = 1,000 and 10,000), ours (`cache_set`/`cache_get`) against
   fastapi-cache2 (its RedisBackend and JsonCoder) and aiocache (RedisCache with
   its JSON serializer), each over a redis-py BlockingConnectionPool of 50
   connections like ours (see POOL_SIZE); variants take turns,
   median of RUNS rounds, and the connections each opened (CLIENT LIST).
2. A Redis restart: 200 workers set+get in a loop while redis-server is stopped
   and started again on the same port (about 1 s down); failed calls per library.
3. A blackholed S3 endpoint (a loopback server that accepts connections and never
   answers): time to error of an upload and a download, ours with its default
   bounds against plain aioboto3 with its defaults (cut at --s3-cap seconds).

    python benchmarks/bench_faults.py [--runs N] [--sizes 1000,10000] [--s3-cap S]
        [--skip-s3] [--skip-cache]

Figures only: nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "generated"))

VALUE = {"user": 42, "name": "Ada", "roles": ["admin", "dev"], "active": True}
# The peers' pools: a waiting pool of as many connections as ours. redis-py's default
# pool raises MaxConnectionsError past 100 connections (since 7.0), and an
# unbounded one opens a connection per waiting call, which times out at 10,000.
POOL_SIZE = 50


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server on a fixed loopback port that can be stopped and started again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:

        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--maxclients", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        from generated_projects import wait_for_redis

        wait_for_redis(self.url, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def connections(self) -> int:
        import redis

        admin = redis.Redis.from_url(self.url)
        try:
            return len(admin.client_list()) - 1  # less this one
        finally:
            admin.close()


def render(root: Path, components: list[str]) -> Path:
    from generated_projects import render_project

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        render_project(root, components)
    return root


class Variant:
    """One library's set+get, built inside the running loop, closed after each round."""

    name = ""

    async def open(self, url: str) -> None:
        raise NotImplementedError

    async def set_get(self, key: str) -> bool:
        """Set `key`, get it back; whether the value came back (a restart loses it)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


class Ours(Variant):
    name = "paxx-patch"

    async def open(self, url: str) -> None:
        from services import cache  # type: ignore[import-not-found]

        self.cache = cache

    async def set_get(self, key: str) -> bool:
        await self.cache.cache_set(key, VALUE, expire=600)
        return bool(await self.cache.cache_get(key) == VALUE)

    async def close(self) -> None:
        await self.cache.close_redis()


class FastAPICache2(Variant):
    name = "fastapi-cache2"

    async def open(self, url: str) -> None:
        from fastapi_cache.backends.redis import RedisBackend
        from fastapi_cache.coder import JsonCoder
        from redis.asyncio import BlockingConnectionPool, Redis

        pool = BlockingConnectionPool.from_url(url, max_connections=POOL_SIZE, timeout=30)
        self.redis = Redis(connection_pool=pool)
        self.backend = RedisBackend(self.redis)
        self.coder = JsonCoder

    async def set_get(self, key: str) -> bool:
        await self.backend.set(key, self.coder.encode(VALUE), expire=600)
        raw = await self.backend.get(key)
        return raw is not None and self.coder.decode(raw) == VALUE

    async def close(self) -> None:
        await self.redis.aclose()


class AioCache(Variant):
    name = "aiocache"

    async def open(self, url: str) -> None:
        from aiocache import RedisCache
        from aiocache.serializers import JsonSerializer
        from redis.asyncio import BlockingConnectionPool

        port = int(url.rsplit(":", 1)[1].split("/")[0])
        self.cache = RedisCache(
            endpoint="127.0.0.1", port=port, serializer=JsonSerializer(), pool_max_size=POOL_SIZE,
            timeout=30,
            connection_pool_class=BlockingConnectionPool, connection_pool_kwargs={"timeout": 30},
        )

    async def set_get(self, key: str) -> bool:
        await self.cache.set(key, VALUE, ttl=600)
        return bool(await self.cache.get(key) == VALUE)

    async def close(self) -> None:
        await self.cache.close()


VARIANTS: list[type[Variant]] = [Ours, FastAPICache2, AioCache]


async def throughput_round(variant: Variant, server: RedisServer, size: int) -> tuple[float, int, int]:
    await variant.open(server.url)
    await asyncio.gather(*(variant.set_get(f"warm:{i}") for i in range(50)))
    started = time.perf_counter()
    calls = (variant.set_get(f"{variant.name}:{i}") for i in range(size))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    elapsed = time.perf_counter() - started
    failed = sum(outcome is not True for outcome in outcomes)  # raised, or a wrong value
    opened = await asyncio.to_thread(server.connections)
    await variant.close()
    return 2 * size / elapsed, opened, failed


def bench_throughput(server: RedisServer, sizes: list[int], runs: int) -> None:
    for size in sizes:
        figures: dict[str, list[tuple[float, int, int]]] = {v.name: [] for v in VARIANTS}
        for _ in range(runs):
            for cls in VARIANTS:
                figures[cls.name].append(asyncio.run(throughput_round(cls(), server, size)))
        print(f"cache throughput, {size:,} concurrent set+get, {runs} rounds (ops/s):")
        medians = {}
        for name, rounds in figures.items():
            rates = [rate for rate, _, _ in rounds]
            opened = [n for _, n, _ in rounds]
            failed = sum(n for _, _, n in rounds)
            medians[name] = statistics.median(rates)
            print(f"  {name:16} median {medians[name]:8.0f}  range {min(rates):8.0f}-{max(rates):<8.0f}"
                  f"  connections {min(opened)}-{max(opened)}  failed calls {failed}")
        best = max((m, n) for n, m in medians.items() if n != Ours.name)
        print(f"  ours / best peer ({best[1]}): {medians[Ours.name] / best[0]:.2f}")


async def restart_round(
    variant: Variant, server: RedisServer, workers: int
) -> tuple[int, int, float, Counter[str]]:
    await variant.open(server.url)
    failed = done = lost = 0
    slowest = 0.0
    stop = asyncio.Event()
    errors: Counter[str] = Counter()

    async def worker(w: int) -> None:
        nonlocal failed, done, lost, slowest
        i = 0
        while not stop.is_set():
            started = time.monotonic()
            try:
                if await variant.set_get(f"{variant.name}:{w}:{i % 10}"):
                    done += 1
                else:
                    lost += 1  # set before the restart, read after it: not a failed call
            except Exception as e:  # noqa: BLE001 (counted: that is the figure)
                failed += 1
                errors[f"{type(e).__name__}: {str(e)[:60]}"] += 1
                await asyncio.sleep(0)  # a failed call comes back at once: let others run
            slowest = max(slowest, time.monotonic() - started)
            i += 1

    tasks = [asyncio.create_task(worker(w)) for w in range(workers)]
    await asyncio.sleep(1.0)
    await asyncio.to_thread(server.stop)
    await asyncio.sleep(1.0)
    await asyncio.to_thread(server.start)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*tasks)
    await variant.close()
    return failed, done + lost, slowest, errors


def bench_restart(server: RedisServer, workers: int) -> None:
    from generated_projects import BUNDLES_DIR, load_bundle_dir
    from settings import settings  # type: ignore[import-not-found]

    # ours with the bundle's defaults again (the throughput rounds waited 30 s)
    for setting in load_bundle_dir(BUNDLES_DIR / "redis").settings:
        if setting.name in {"redis_pool_timeout", "redis_retry_deadline"}:
            setattr(settings, setting.name, setting.default)
    print(f"redis restart (about 1 s down) under {workers} workers doing set+get:")
    results = {}
    for cls in VARIANTS:
        failed, done, slowest, errors = asyncio.run(restart_round(cls(), server, workers))
        results[cls.name] = failed
        print(f"  {cls.name:16} failed set+get {failed:6}  succeeded {done:7}  slowest {slowest:5.2f} s")
        for error, count in errors.most_common(3):
            print(f"    {count:6} x {error}")
    fewest = min(n for name, n in results.items() if name != Ours.name)
    print(f"  ours {results[Ours.name]} failed against the fewest of the peers' {fewest}")


@contextlib.contextmanager
def blackhole() -> Iterator[str]:
    """A loopback server that accepts connections and never reads or answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    opened: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                opened.append(listener.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in opened:
            conn.close()
        listener.close()


async def time_to_error(operation: Awaitable[Any], cap: float) -> str:
    started = time.monotonic()
    try:
        await asyncio.wait_for(operation, cap)
    except TimeoutError:
        return f"> {cap:.0f} s (cut)"
    except Exception as e:  # noqa: BLE001 (what it raised is the figure)
        return f"{time.monotonic() - started:6.1f} s  {type(e).__name__}: {str(e)[:90]}"
    return f"{time.monotonic() - started:6.1f} s  no error"


async def s3_round(endpoint: str, cap: float) -> dict[str, str]:
    import aioboto3
    from services.storage import get_storage  # type: ignore[import-not-found]

    ours = get_storage()
    session = aioboto3.Session(region_name="us-east-1")
    async with session.client("s3", endpoint_url=endpoint) as plain:
        await ours.client()
        payload = b"x" * 1024
        cases = {
            "paxx-patch upload": ours.upload("k", payload),
            "paxx-patch download": ours.download("k"),
            "aioboto3 upload": plain.put_object(Bucket="bench", Key="k", Body=payload),
            "aioboto3 download": plain.get_object(Bucket="bench", Key="k"),
        }
        names = list(cases)
        # side by side: each is cut at `cap` on its own
        results = await asyncio.gather(*(time_to_error(cases[n], cap) for n in names))
    await ours.aclose()
    return dict(zip(names, results, strict=True))


def bench_s3(cap: float) -> None:
    from services.storage import get_storage
    from settings import settings

    with blackhole() as endpoint:
        # the settings were read already: the endpoint goes in directly
        settings.storage_s3_endpoint_url = endpoint
        get_storage.cache_clear()
        results = asyncio.run(s3_round(endpoint, cap))
    print("blackholed S3 endpoint (accepts, never answers), 1 KiB object, time to error:")
    for name, figure in results.items():
        print(f"  {name:20} {figure}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="throughput rounds per variant (default 5)")
    parser.add_argument("--sizes", default="1000,10000", help="concurrent calls (default 1000,10000)")
    parser.add_argument("--workers", type=int, default=200, help="workers during the restart (default 200)")
    parser.add_argument("--s3-cap", type=float, default=120.0, help="cut an S3 call after S seconds (default 120)")
    parser.add_argument("--skip-s3", action="store_true", help="leave out the blackholed S3 endpoint")
    parser.add_argument("--skip-cache", action="store_true", help="leave out the cache rounds")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="paxx-bench-faults-") as scratch:
        tmp = Path(scratch)
        server = RedisServer(tmp)
        project = render(tmp / "project", ["redis", "storage"])
        sys.path.insert(0, str(project))
        os.environ.update({
            # every library may wait 30 s for a connection or a reply: 10,000 calls at
            # once queue for seconds on a small machine (the restart round uses the
            # defaults)
            "REDIS_URL": server.url, "REDIS_POOL_TIMEOUT": "30", "REDIS_RETRY_DEADLINE": "30", "STORAGE_BACKEND": "s3", "STORAGE_S3_BUCKET": "bench",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        if not args.skip_cache:
            server.start()
            try:
                bench_throughput(server, [int(n) for n in args.sizes.split(",")], args.runs)
                bench_restart(server, args.workers)
            finally:
                server.stop()
        if not args.skip_s3:
            bench_s3(args.s3_cap)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
