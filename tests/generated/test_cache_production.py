"""The generated services/cache.py under load and faults, against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import redis
from generated_projects import RenderComponent, serving
from pydantic import BaseModel


def clients_on_db(redis_url: str, db: int) -> int:
    """Connections the server has open on database `db` (CLIENT LIST)."""
    admin = redis.Redis.from_url(redis_url)
    try:
        return sum(1 for c in admin.client_list() if int(c["db"]) == db)
    finally:
        admin.close()


def on_db(redis_url: str, db: int) -> str:
    return redis_url.rsplit("/", 1)[0] + f"/{db}"


def test_a_thousand_concurrent_operations_share_a_bounded_pool(
    render_component: RenderComponent, redis_url: str
) -> None:
    env = {"REDIS_URL": on_db(redis_url, 5), "REDIS_MAX_CONNECTIONS": "20"}
    cache = render_component("redis", env).module("cache")
    assert clients_on_db(redis_url, 5) == 0

    async def scenario() -> tuple[list[Any], list[Any], int]:
        writes = await asyncio.gather(
            *(cache.cache_set(f"load:{i}", {"i": i}) for i in range(1000)), return_exceptions=True
        )
        reads = await asyncio.gather(
            *(cache.cache_get(f"load:{i}") for i in range(1000)), return_exceptions=True
        )
        opened = clients_on_db(redis_url, 5)  # the pool keeps what it opened until closed
        await cache.close_redis()
        return writes, reads, opened

    writes, reads, opened = asyncio.run(scenario())
    assert [w for w in writes if isinstance(w, BaseException)] == []
    assert reads == [{"i": i} for i in range(1000)]
    assert 2 <= opened <= 20
    assert clients_on_db(redis_url, 5) == 0  # close_redis closed them all


def test_a_caller_waits_for_a_free_connection_then_gives_up(
    render_component: RenderComponent, redis_url: str
) -> None:
    env = {"REDIS_URL": redis_url, "REDIS_MAX_CONNECTIONS": "1", "REDIS_POOL_TIMEOUT": "0.5"}
    cache = render_component("redis", env).module("cache")

    async def scenario() -> float:
        messages = cache.subscribe("busy")  # holds the only connection while it runs
        waiting = asyncio.ensure_future(anext(messages))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(redis.ConnectionError):
            await cache.cache_get("k")
        elapsed = time.monotonic() - started
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await messages.aclose()
        await cache.cache_set("k", 1)  # the connection is back in the pool
        await cache.close_redis()
        return elapsed

    assert 0.4 <= asyncio.run(scenario()) < 3


def test_two_event_loops_one_after_the_other(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")
    asyncio.run(cache.cache_set("loops", {"run": 1}))  # no close_redis: the loop just ends
    assert asyncio.run(cache.cache_get("loops")) == {"run": 1}

    async def third() -> tuple[Any, int, int]:
        value = await cache.cache_get("loops")
        alive = len(cache._clients)  # clients of ended loops are dropped
        batchers = len(cache._batchers)  # and their batchers, which hold the loops
        await cache.cache_delete("loops")
        await cache.close_redis()
        return value, alive, batchers

    assert asyncio.run(third()) == ({"run": 1}, 1, 1)
    assert len(cache._clients) == 0
    assert len(cache._batchers) == 0


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    with serving(lambda conn, _stop: [conn]) as url:
        yield url


def test_a_server_that_never_answers_times_out(render_component: RenderComponent, silent_server: str) -> None:
    env = {"REDIS_URL": silent_server, "REDIS_SOCKET_TIMEOUT": "0.5"}
    cache = render_component("redis", env).module("cache")

    async def scenario() -> float:
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            await cache.cache_get("k")
        elapsed = time.monotonic() - started
        await cache.close_redis()
        return elapsed

    # the handshake and the command each wait at most the socket timeout, no retry
    assert asyncio.run(asyncio.wait_for(scenario(), timeout=10)) < 1.2


@pytest.fixture
def deaf_proxy(redis_url: str) -> Iterator[str]:
    """A TCP proxy to the redis-server that stops reading from the client once the
    client sends b"deaf:": the handshake goes through, that command's bytes stall."""
    host, port = redis_url.split("//", 1)[1].split("/", 1)[0].split(":")

    def pump(source: socket.socket, sink: socket.socket, stop: threading.Event | None) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(4096):
                sink.sendall(data)
                if stop is not None and b"deaf:" in data:
                    stop.wait()
                    return

    def connect(client: socket.socket, stop: threading.Event) -> list[socket.socket]:
        server = socket.create_connection((host, int(port)))
        for args in ((client, server, stop), (server, client, None)):
            threading.Thread(target=pump, args=args, daemon=True).start()
        return [client, server]

    with serving(connect) as url:
        yield url


def test_a_write_the_server_never_reads_times_out(
    render_component: RenderComponent, deaf_proxy: str
) -> None:
    env = {"REDIS_URL": deaf_proxy, "REDIS_SOCKET_TIMEOUT": "0.5"}
    cache = render_component("redis", env).module("cache")

    async def scenario() -> float:
        client = await cache.get_redis()
        await client.ping()  # connected, the handshake answered
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError, match="writing"):
            await client.set("deaf:k", "x" * 64_000_000)  # more than the buffers hold
        elapsed = time.monotonic() - started
        await cache.close_redis()
        return elapsed

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=20)) < 3


def test_a_cancelled_call_is_cancelled(render_component: RenderComponent, redis_url: str) -> None:
    """A task cancelled while its command is on the wire ends, whenever the cancel comes.

    Python 3.11's asyncio.wait_for dropped such a cancellation in about a third of
    these rounds: the task ran on as if never cancelled (an ARQ worker then did
    not stop on SIGTERM).
    """
    cache = render_component("redis", {"REDIS_URL": on_db(redis_url, 7)}).module("cache")
    rounds = 200

    async def scenario() -> int:
        client = await cache.get_redis()

        async def busy() -> None:
            while True:
                await client.get("k")

        lost = 0
        for i in range(rounds):
            task = asyncio.create_task(busy())
            await asyncio.sleep((i % 20) / 2000)
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=2)
            if not done:
                lost += 1
                task.cancel()  # a second cancel ends it, so the next round starts clean
                await asyncio.wait([task], timeout=2)
        await cache.close_redis()
        return lost

    assert asyncio.run(scenario()) == 0, "cancellations lost"


def test_an_idle_subscription_outlives_the_socket_timeout(
    render_component: RenderComponent, redis_url: str
) -> None:
    env = {"REDIS_URL": redis_url, "REDIS_SOCKET_TIMEOUT": "0.3"}
    cache = render_component("redis", env).module("cache")

    async def scenario() -> Any:
        messages = cache.subscribe("quiet")
        first = asyncio.ensure_future(anext(messages))
        await asyncio.sleep(1.5)  # five socket timeouts without a message
        assert not first.done()
        for _ in range(200):
            if await cache.publish("quiet", {"late": True}) >= 1:
                break
            await asyncio.sleep(0.01)
        received = await asyncio.wait_for(first, timeout=5)
        await messages.aclose()
        await cache.close_redis()
        return received

    assert asyncio.run(scenario()) == {"late": True}


class Order(BaseModel):
    id: uuid.UUID
    total: Decimal
    placed: datetime.datetime


def test_values_fastapi_would_encode(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")
    order_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    placed = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    value = {
        "when": datetime.date(2026, 1, 2), "at": placed, "id": order_id, "price": Decimal("19.99"),
        "order": Order(id=order_id, total=Decimal("0.10"), placed=placed), "tags": {"a"},
    }

    async def scenario() -> Any:
        await cache.cache_set("encoded", value)
        got = await cache.cache_get("encoded")
        await cache.close_redis()
        return got

    assert asyncio.run(scenario()) == {
        "when": "2026-01-02", "at": "2026-01-02T03:04:05+00:00", "id": str(order_id), "price": "19.99",
        "order": {"id": str(order_id), "total": "0.10", "placed": "2026-01-02T03:04:05Z"}, "tags": ["a"],
    }
    with pytest.raises(TypeError, match="cannot store object"):
        asyncio.run(cache.cache_set("bad", object()))


def test_cached_decorator_and_key_prefix(render_component: RenderComponent, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url, "REDIS_KEY_PREFIX": "shop:"}
    cache = render_component("redis", env).module("cache")
    calls: list[tuple[str, int]] = []

    @cache.cached(expire=30, namespace="prices")
    async def price(sku: str, quantity: int = 1) -> dict[str, Any] | None:
        calls.append((sku, quantity))
        return None if sku == "gone" else {"sku": sku, "total": quantity * 5}

    async def scenario() -> list[Any]:
        client = await cache.get_redis()
        for key in await client.keys("shop:prices:*"):
            await client.delete(key)
        results = [
            await price("apple"), await price("apple"), await price(sku="apple", quantity=1),
            await price("apple", 2), await price("gone"), await price("gone"),
        ]
        keys = sorted(await client.keys("shop:*"))
        ttls = [await client.ttl(k) for k in keys]
        await cache.cache_set("plain", 1)
        results += [keys, ttls, await client.get("shop:plain"), await cache.cache_get("plain")]
        await cache.cache_delete("plain")
        await cache.close_redis()
        return results

    *values, keys, ttls, raw, plain = asyncio.run(scenario())
    assert values == [{"sku": "apple", "total": 5}] * 3 + [{"sku": "apple", "total": 10}, None, None]
    assert calls == [("apple", 1), ("apple", 2), ("gone", 1)]
    assert len(keys) == 3 and all(k.startswith("shop:prices:") for k in keys)
    assert all(0 < t <= 30 for t in ttls)
    assert (raw, plain) == ("1", 1)
