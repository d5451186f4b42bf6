"""The generated services/cache.py while its redis-server restarts, stalls or is gone:
the helpers retry what a restart breaks, end within their deadline when Redis
stalls, and skip a dead Redis at once behind the circuit breaker."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import free_port
from generated_projects import RenderComponent, wait_for_redis


class RedisProcess:
    """A redis-server of this test's own, on a port that stays the same across restarts."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_redis(self.url, self.process)

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process cannot exit
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def clients(self) -> int:
        admin = redis.Redis.from_url(self.url)
        try:
            return len(admin.client_list()) - 1
        finally:
            admin.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_redis_restart_under_200_workers_fails_no_call(
    render_component: RenderComponent, own_redis: RedisProcess
) -> None:
    env = {"REDIS_URL": own_redis.url, "REDIS_MAX_CONNECTIONS": "20"}
    cache = render_component("redis", env).module("cache")
    failures: list[BaseException] = []
    done_after_restart = 0

    async def scenario() -> int:
        nonlocal done_after_restart
        stop = asyncio.Event()
        restarted = asyncio.Event()

        async def worker(w: int) -> None:
            nonlocal done_after_restart
            i = 0
            while not stop.is_set():
                key = f"w{w}:{i % 5}"
                try:
                    await cache.cache_set(key, {"w": w, "i": i}, expire=60)
                    await cache.cache_get(key)  # None when the restart came in between
                    await cache.cache_exists(key)
                    await cache.cache_ttl(key)
                    if i % 7 == 0:
                        await cache.cache_delete(key)
                    if restarted.is_set():
                        done_after_restart += 1
                except Exception as e:  # noqa: BLE001 (collected: there must be none)
                    failures.append(e)
                    await asyncio.sleep(0)
                i += 1

        tasks = [asyncio.create_task(worker(w)) for w in range(200)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_redis.stop)
        await asyncio.sleep(1.0)  # down for a second
        await asyncio.to_thread(own_redis.start)
        restarted.set()
        await asyncio.sleep(1.5)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=20)
        opened = await asyncio.to_thread(own_redis.clients)
        await cache.close_redis()
        return opened

    opened = asyncio.run(scenario())
    assert failures == [], f"{len(failures)} failed calls, e.g. {failures[:3]}"
    assert done_after_restart > 200  # the workers went on after the restart
    assert opened <= 20  # the pool reconnected within its bound


def test_a_stalled_redis_ends_every_call_within_its_deadline(
    render_component: RenderComponent, own_redis: RedisProcess
) -> None:
    env = {"REDIS_URL": own_redis.url, "REDIS_RETRY_DEADLINE": "1.0", "REDIS_SOCKET_TIMEOUT": "5"}
    cache = render_component("redis", env).module("cache")

    async def one(i: int) -> tuple[float, BaseException | None]:
        started = time.monotonic()
        try:
            await cache.cache_get(f"stalled:{i}")
        except Exception as e:  # noqa: BLE001 (the test looks at which)
            return time.monotonic() - started, e
        return time.monotonic() - started, None

    async def scenario() -> list[tuple[float, BaseException | None]]:
        await cache.cache_set("stalled:0", 1)  # connected before the stall
        own_redis.pause()
        try:
            results = await asyncio.gather(*(one(i) for i in range(100)))
        finally:
            own_redis.resume()
        await cache.close_redis()
        return results

    results = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    for elapsed, error in results:
        # the first calls time out at the deadline; the breaker turns the rest away
        assert isinstance(error, redis.TimeoutError | cache.CacheUnavailableError), error
        assert elapsed < 1.0 + 0.5, elapsed
    assert any(isinstance(error, redis.TimeoutError) for _, error in results)


def test_a_dead_redis_costs_microseconds_and_cached_runs_the_function(
    render_component: RenderComponent, own_redis: RedisProcess
) -> None:
    env = {"REDIS_URL": own_redis.url, "REDIS_RETRY_ATTEMPTS": "3", "REDIS_RETRY_DEADLINE": "0.5"}
    cache = render_component("redis", env).module("cache")
    calls: list[int] = []

    @cache.cached(expire=60, namespace="dead")
    async def square(n: int) -> int:
        calls.append(n)
        return n * n

    async def scenario() -> tuple[float, float]:
        assert await square(3) == 9  # Redis up: cached
        assert await square(3) == 9
        await asyncio.to_thread(own_redis.stop)
        with pytest.raises(redis.ConnectionError):
            await cache.cache_get("gone")  # refused three times: the breaker opens
        started = time.perf_counter()
        for _ in range(1000):
            with pytest.raises(cache.CacheUnavailableError):
                await cache.cache_get("gone")
        per_call = (time.perf_counter() - started) / 1000
        results = [await square(4) for _ in range(3)]
        assert results == [16, 16, 16]  # the function ran, uncached
        await asyncio.to_thread(own_redis.start)
        await asyncio.sleep(0.6)  # the breaker's time is up: the next call tries Redis
        started = time.monotonic()
        await cache.cache_set("back", 1)
        assert await cache.cache_get("back") == 1
        back = time.monotonic() - started
        await cache.close_redis()
        return per_call, back

    per_call, back = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert per_call < 200e-6, f"{per_call * 1e6:.0f} us per call with the breaker open"
    assert calls == [3, 4, 4, 4]
    assert back < 0.5


def test_a_cancelled_helper_call_is_cancelled(render_component: RenderComponent, own_redis: RedisProcess) -> None:
    """A helper's caller cancelled while its command waits in a pipeline ends, and the
    pipeline's other callers get their replies."""
    cache = render_component("redis", {"REDIS_URL": own_redis.url}).module("cache")

    async def scenario() -> tuple[int, list[Any]]:
        await cache.cache_set("kept", "v")

        async def busy() -> None:
            while True:
                await cache.cache_get("kept")

        lost = 0
        for i in range(100):
            task = asyncio.create_task(busy())
            others = [asyncio.create_task(cache.cache_get("kept")) for _ in range(5)]
            await asyncio.sleep((i % 20) / 2000)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)
            if not done:
                lost += 1
                task.cancel()
                await asyncio.wait([task], timeout=2)
            replies = await asyncio.gather(*others)
            assert replies == ["v"] * 5
        with contextlib.suppress(asyncio.CancelledError):
            await task
        values = [await cache.cache_get("kept")]
        await cache.close_redis()
        return lost, values

    assert asyncio.run(scenario()) == (0, ["v"])
