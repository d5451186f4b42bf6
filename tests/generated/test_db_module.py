"""The generated services/db.py against a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from conftest import PostgresServer
from fastapi import Depends, FastAPI
from generated_projects import RenderComponent
from sqlalchemy import text


def environment(server: PostgresServer, **extra: str) -> dict[str, str]:
    return {"DATABASE_URL": server.url(), "DATABASE_PASSWORD": server.password, **extra}


async def connections(db: Any) -> int:
    """Server-side connections of this test's user, other than the one asking."""
    async with db.get_sessionmaker()() as session:
        result = await session.execute(text(
            "select count(*) from pg_stat_activity where backend_type = 'client backend' and pid <> pg_backend_pid()"
        ))
        return int(result.scalar_one())


def test_a_route_uses_a_session_and_the_secret_password(
    render_component: RenderComponent, postgres_server: PostgresServer
) -> None:
    db = render_component("postgres", environment(postgres_server)).module("db")
    app = FastAPI()

    session = Depends(db.get_session)

    @app.post("/notes/{body}")
    async def add(body: str, session: Any = session) -> dict[str, int]:
        await session.execute(text("create table if not exists notes (id serial primary key, body text)"))
        row = await session.execute(text("insert into notes (body) values (:b) returning id"), {"b": body})
        await session.commit()
        return {"id": int(row.scalar_one())}

    @app.get("/notes")
    async def notes(session: Any = session) -> list[str]:
        rows = await session.execute(text("select body from notes order by id"))
        return [r[0] for r in rows]

    async def scenario() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for body in ("one", "two"):
                assert (await client.post(f"/notes/{body}")).status_code == 200
            result: list[str] = (await client.get("/notes")).json()
        await db.close_db()
        return result

    assert asyncio.run(scenario())[-2:] == ["one", "two"]
    assert "s3cret" not in str(db.get_engine.__doc__)


def test_the_password_comes_from_its_own_setting(
    render_component: RenderComponent, postgres_server: PostgresServer
) -> None:
    db = render_component("postgres", environment(postgres_server, DATABASE_PASSWORD="wrong")).module("db")

    async def scenario() -> None:
        try:
            async with db.get_sessionmaker()() as session:
                await session.execute(text("select 1"))
        finally:
            await db.close_db()

    with pytest.raises(Exception, match="password authentication failed"):
        asyncio.run(scenario())


def test_two_event_loops_in_a_row_and_close_releases_connections(
    render_component: RenderComponent, postgres_server: PostgresServer
) -> None:
    db = render_component("postgres", environment(postgres_server)).module("db")

    async def once() -> int:
        async with db.get_sessionmaker()() as session:
            value = (await session.execute(text("select 41 + 1"))).scalar_one()
        await db.close_db()
        return int(value)

    assert asyncio.run(once()) == 42
    assert asyncio.run(once()) == 42  # a new loop gets its own engine

    async def after_close() -> int:
        return await connections(db)

    # only the connection that asks is open: the earlier loops' pools were disposed
    assert asyncio.run(after_close()) == 0


def test_the_pool_is_bounded_and_callers_wait(
    render_component: RenderComponent, postgres_server: PostgresServer
) -> None:
    env = environment(postgres_server, DATABASE_POOL_SIZE="3", DATABASE_MAX_OVERFLOW="0",
                      DATABASE_POOL_TIMEOUT="30")
    db = render_component("postgres", env).module("db")
    peak = 0

    async def one() -> None:
        nonlocal peak
        async with db.get_sessionmaker()() as session:
            await session.execute(text("select pg_sleep(0.02)"))
            count = (await session.execute(text(
                "select count(*) from pg_stat_activity where backend_type = 'client backend'"
            ))).scalar_one()
            peak = max(peak, int(count))

    async def scenario() -> int:
        try:
            others = await connections(db)  # left by earlier tests, still closing
            await asyncio.gather(*(one() for _ in range(60)))
            return others
        finally:
            await db.close_db()

    others = asyncio.run(scenario())
    assert 1 <= peak - others <= 3
