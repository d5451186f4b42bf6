"""The generated services/websocket.py under uvicorn, against a real redis-server:
rooms across two worker processes, a thousand clients, clients that stop reading or
answering, a Redis restart, and shutdown with clients connected."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import resource
import signal
import socket as sock
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import free_port
from generated_projects import (
    Project,
    forget_project_modules,
    render_project,
    wait_for_redis,
    wait_until_serving,
)
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

APP = '''"""Chat service."""

from fastapi import FastAPI

from services.websocket import broadcast, local_connections, send_room, send_to

app = FastAPI()


@app.post("/rooms/{room}")
async def to_room(room: str, count: int = 1, size: int = 0) -> dict[str, int]:
    for n in range(count):
        await send_room(room, {"n": n, "pad": "x" * size})
    return {"sent": count}


@app.post("/all")
async def to_all(count: int = 1) -> dict[str, int]:
    for n in range(count):
        await broadcast({"n": n})
    return {"sent": count}


@app.post("/to/{connection_id}")
async def to_one(connection_id: str) -> dict[str, int]:
    return {"processes": await send_to(connection_id, {"type": "direct"})}


@app.get("/count")
async def count(room: str | None = None) -> dict[str, int]:
    return {"connections": local_connections(room)}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Project:
    forget_project_modules()
    rendered = render_project(tmp_path_factory.mktemp("chat"), ["redis", "websocket"], files={"main.py": APP})
    main = (rendered.root / "main.py").read_text()
    assert "setup_websocket(app)" in main and "await close_websockets()" in main
    return rendered


@pytest.fixture(autouse=True, scope="module")
def _descriptors() -> None:
    # a thousand clients and a thousand server sockets, each side in its own process
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(hard, 4096)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextmanager
def serving(
    project: Project, redis_url: str, workers: int = 1, *, quiet: bool = True, **settings: object
) -> Iterator[str]:
    """uvicorn running the app; yields host:port; at the end SIGTERM, and a clean exit
    (`quiet`: and no traceback logged)."""
    port = free_port()
    env = {
        **os.environ, "PYTHONPATH": str(project.root), "REDIS_URL": redis_url, "WS_REDIS_URL": redis_url,
        "WS_CHANNEL_PREFIX": f"test{os.getpid()}.{next(_prefixes)}:",
        **{name.upper(): str(value) for name, value in settings.items()},
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "main:app", "--workers", str(workers), "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        wait_until_serving(f"http://{address}/health", server)
        yield address
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
            raise AssertionError(f"uvicorn did not stop at SIGTERM:\n{output}") from None
    # one process re-raises the SIGTERM it handled once it has shut down; a supervisor exits 0
    assert server.returncode == (0 if workers > 1 else -signal.SIGTERM), output
    assert not quiet or "Traceback" not in output, output


class Client:
    """A websocket client of the example route that answers the server's pings."""

    def __init__(self, socket: ClientConnection, welcome: dict[str, Any]) -> None:
        self.socket = socket
        self.id: str = welcome["id"]
        self.process = self.id.split("-")[0]

    @classmethod
    async def open(cls, address: str, room: str, receive_buffer: int = 0, **options: Any) -> Client:
        if receive_buffer:
            # a small kernel buffer that does not grow: a client that stops reading
            # stops the server's writes after kilobytes, not after tens of megabytes
            raw = sock.socket()
            raw.setsockopt(sock.SOL_SOCKET, sock.SO_RCVBUF, receive_buffer)
            host, port = address.split(":")
            raw.connect((host, int(port)))
            options["sock"] = raw
        socket = await connect(f"ws://{address}/ws/{room}", open_timeout=30, **options)
        welcome = json.loads(await asyncio.wait_for(socket.recv(), 30))
        assert welcome["type"] == "welcome" and welcome["room"] == room, welcome
        return cls(socket, welcome)

    async def next(self, timeout: float = 10) -> Any:
        """The next message that is not a ping (answered with a pong)."""
        async with asyncio.timeout(timeout):
            while True:
                message = json.loads(await self.socket.recv())
                if message == {"type": "ping"}:
                    await self.socket.send(json.dumps({"type": "pong"}))
                else:
                    return message


async def post(address: str, path: str) -> Any:
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:
        response = await http.post(path)
        assert response.status_code == 200, response.text
        return response.json()


async def connections(address: str, room: str | None = None) -> int:
    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as http:
        response = await http.get("/count", params={"room": room} if room else {})
        found: int = response.json()["connections"]
        return found


def test_a_room_message_on_one_worker_reaches_the_clients_on_the_other(project: Project, redis_url: str) -> None:
    async def scenario(address: str) -> None:
        lobby: list[Client] = []
        # connections land on either worker: open them until both hold some (the second
        # may still be starting when the first answers /health: on a loaded machine the
        # kernel then hands every connection to the first for a while)
        deadline = time.monotonic() + 30
        while len({c.process for c in lobby}) < 2:
            assert time.monotonic() < deadline, f"30 s, {len(lobby)} connections, all on one worker"
            lobby.append(await Client.open(address, "lobby"))
            if len(lobby) % 20 == 0:
                await asyncio.sleep(0.5)
        elsewhere = await Client.open(address, "kitchen")
        sender = lobby[0]
        others = [c for c in lobby if c.process != sender.process]
        await sender.socket.send("hello")
        expected = {"type": "message", "room": "lobby", "from": sender.id, "data": "hello"}
        assert [await c.next() for c in lobby] == [expected] * len(lobby)
        await elsewhere.socket.send(json.dumps({"dish": "soup"}))
        # the kitchen's message reaches the kitchen only: the lobby's next is the sentinel
        assert (await elsewhere.next())["data"] == {"dish": "soup"}
        await post(address, "/rooms/lobby")
        assert [await c.next() for c in lobby] == [{"n": 0, "pad": ""}] * len(lobby)
        # one connection, by id, from whichever worker takes the request
        target = others[0]
        assert await post(address, f"/to/{target.id}") == {"processes": 2}
        await post(address, "/all")
        for client in [*lobby, elsewhere]:
            first = await client.next()
            assert first == ({"type": "direct"} if client is target else {"n": 0}), (client.id, first)
        if target is not lobby[-1]:
            assert await target.next() == {"n": 0}
        # the server is stopped with every client still connected (serving checks the exit)

    with serving(project, redis_url, workers=2) as address:
        asyncio.run(scenario(address))


def test_a_thousand_clients_get_every_broadcast_in_order(project: Project, redis_url: str) -> None:
    clients_wanted, messages = 1000, 20

    async def scenario(address: str) -> None:
        opening = asyncio.Semaphore(100)

        async def one() -> Client:
            async with opening:
                return await Client.open(address, "hall")

        clients = await asyncio.gather(*(one() for _ in range(clients_wanted)))
        assert await connections(address, "hall") == clients_wanted
        assert await post(address, f"/all?count={messages}") == {"sent": messages}

        async def received(client: Client) -> list[Any]:
            return [await client.next(timeout=60) for _ in range(messages)]

        every = await asyncio.gather(*(received(c) for c in clients))
        assert all(got == [{"n": n} for n in range(messages)] for got in every)
        await asyncio.gather(*(c.socket.close() for c in clients))

    with serving(project, redis_url) as address:
        asyncio.run(scenario(address))


def test_a_silent_client_is_dropped_within_the_heartbeat_timeout_and_delays_no_one(
    project: Project, redis_url: str
) -> None:
    interval, timeout = 0.2, 1.5

    async def scenario(address: str) -> None:
        # it reads its welcome, then neither reads nor answers pings
        before = time.monotonic()
        silent = await Client.open(address, "lobby", max_queue=1)
        opened = time.monotonic()
        healthy = [await Client.open(address, "lobby") for _ in range(4)]
        assert await connections(address, "lobby") == 5
        sent: dict[int, float] = {}
        delays: list[float] = []

        async def listen(client: Client) -> None:
            for n in range(40):
                assert await client.next(timeout=5) == {"n": 0, "pad": ""}
                delays.append(time.monotonic() - sent[n])

        async def talk() -> None:
            for n in range(40):
                sent[n] = time.monotonic()
                await post(address, "/rooms/lobby")
                await asyncio.sleep(0.1)

        async def watch() -> float:
            while await connections(address, "lobby") != 4:
                await asyncio.sleep(0.05)
            return time.monotonic()

        dropped, *_ = await asyncio.gather(watch(), talk(), *(listen(c) for c in healthy))
        # silent since it was accepted, between `before` and `opened`
        assert before + timeout <= dropped < opened + timeout + 1.0, (dropped - before, opened - before)
        assert len(delays) == 4 * 40 and max(delays) < 0.5, max(delays)
        # the others answered their pings: still connected well past the timeout
        assert time.monotonic() - opened > 2 * timeout
        assert await connections(address, "lobby") == 4
        # what the silent one had, then the server's close: too late, a policy violation
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(silent.socket.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008

    with serving(project, redis_url, ws_heartbeat_interval=interval, ws_heartbeat_timeout=timeout) as address:
        asyncio.run(scenario(address))


def test_a_client_that_stops_reading_is_dropped_when_its_queue_is_full(project: Project, redis_url: str) -> None:
    count, size = 500, 16_000  # 8 MB for each client: twice what the sockets buffer

    async def scenario(address: str) -> None:
        # (uncompressed: the padding would deflate to a few bytes a message)
        stuck = await Client.open(
            address, "lobby", receive_buffer=16_384, max_queue=1, compression=None, close_timeout=1)
        healthy = [await Client.open(address, "lobby", max_size=None) for _ in range(3)]
        started = time.monotonic()

        async def listen(client: Client) -> None:
            for n in range(count):
                assert (await client.next(timeout=30))["n"] == n

        await asyncio.gather(post(address, f"/rooms/lobby?count={count}&size={size}"),
                             *(listen(c) for c in healthy))
        # long before the heartbeat timeout (60 s): the queue of 8 overflowed
        assert await connections(address, "lobby") == 3
        assert time.monotonic() - started < 30
        await stuck.socket.close()

    with serving(project, redis_url, ws_send_queue_size=8) as address:
        asyncio.run(scenario(address))


def test_the_subscriber_comes_back_after_a_redis_restart(project: Project, tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_redis(url, process)
        return process

    redis = start()
    try:
        # the test's own route fails while Redis is down: tracebacks are expected
        with serving(project, url, quiet=False) as address:

            async def before() -> Client:
                client = await Client.open(address, "lobby")
                await post(address, "/rooms/lobby")
                assert await client.next() == {"n": 0, "pad": ""}
                return client

            async def after(client: Client) -> None:
                # published while the subscriber is still reconnecting is lost (pub/sub
                # keeps nothing); within seconds the room's messages arrive again
                deadline = time.monotonic() + 20
                while True:
                    assert time.monotonic() < deadline, "no message after the restart"
                    async with httpx.AsyncClient(base_url=f"http://{address}", timeout=5) as http:
                        response = await http.post("/rooms/lobby")
                    if response.status_code == 200:
                        with contextlib.suppress(TimeoutError):
                            assert (await client.next(timeout=0.5))["n"] == 0
                            break
                    await asyncio.sleep(0.2)

            async def scenario() -> None:
                nonlocal redis
                client = await before()
                redis.terminate()
                redis.wait(timeout=10)
                await asyncio.sleep(0.5)
                redis = start()
                await after(client)
                await client.socket.close()

            asyncio.run(scenario())
    finally:
        redis.terminate()
        redis.wait(timeout=10)
