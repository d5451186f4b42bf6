"""The generated services/cache.py against a real redis-server."""

from __future__ import annotations

import asyncio
from typing import Any

from generated_projects import FACTORY_STYLE, RenderComponent


def test_json_values_round_trip_with_expiry(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")

    async def scenario() -> None:
        user = {"name": "John", "roles": ["admin"], "age": 42, "active": True}
        await cache.cache_set("user:123", user, expire=60)
        assert await cache.cache_get("user:123") == user
        ttl = await (await cache.get_redis()).ttl("user:123")
        assert 0 < ttl <= 60
        assert await cache.cache_delete("user:123") is True
        assert await cache.cache_get("user:123") is None
        assert await cache.cache_delete("user:123") is False
        await cache.close_redis()

    asyncio.run(scenario())


def test_set_without_expiry_and_direct_client(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")

    async def scenario() -> None:
        await cache.cache_set("config", [1, 2, 3], expire=None)
        assert await (await cache.get_redis()).ttl("config") == -1
        client = await cache.get_redis()
        assert client is await cache.get_redis()
        await client.delete("page_views")
        assert await client.incr("page_views") == 1
        assert await client.incr("page_views") == 2
        await cache.cache_delete("config")
        await cache.close_redis()

    asyncio.run(scenario())


def test_publish_reaches_a_subscriber(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")

    async def scenario() -> Any:
        messages = cache.subscribe("orders")
        first = asyncio.ensure_future(anext(messages))
        # The subscription is made when the generator first runs; publish until
        # redis reports that it reached a subscriber.
        for _ in range(200):
            if await cache.publish("orders", {"id": 7}) >= 1:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no subscriber received the message")
        received = await asyncio.wait_for(first, timeout=5)
        await messages.aclose()
        await cache.close_redis()
        return received

    assert asyncio.run(scenario()) == {"id": 7}


def test_close_redis_makes_a_new_client_next_time(render_component: RenderComponent, redis_url: str) -> None:
    cache = render_component("redis", {"REDIS_URL": redis_url}).module("cache")

    async def scenario() -> None:
        first = await cache.get_redis()
        await cache.close_redis()
        await cache.close_redis()  # closing twice is harmless
        second = await cache.get_redis()
        assert second is not first
        assert await second.ping()
        await cache.close_redis()

    asyncio.run(scenario())


def test_factory_settings_with_upper_case_fields(render_component: RenderComponent, redis_url: str) -> None:
    project = render_component("redis", {"REDIS_URL": redis_url}, style=FACTORY_STYLE)
    cache = project.module("cache")

    async def scenario() -> Any:
        await cache.cache_set("k", {"a": 1}, expire=30)
        value = await cache.cache_get("k")
        await cache.cache_delete("k")
        await cache.close_redis()
        return value

    assert asyncio.run(scenario()) == {"a": 1}


def test_settings_are_read_when_first_used_not_on_import(
    render_component: RenderComponent, redis_url: str, monkeypatch: Any
) -> None:
    project = render_component("redis", {"REDIS_URL": "redis://127.0.0.1:1/0"})
    settings_module = __import__("settings")
    cache = project.module("cache")
    monkeypatch.setattr(settings_module.settings, "redis_url", redis_url)

    async def scenario() -> bool:
        ok = bool(await (await cache.get_redis()).ping())
        await cache.close_redis()
        return ok

    assert asyncio.run(scenario())
