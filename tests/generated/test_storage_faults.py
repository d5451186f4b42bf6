"""The generated services/storage.py against S3 endpoints that fail: one that accepts
connections and never answers, one that refuses them. Every call ends within its
bound, with StorageUnavailableError naming the endpoint."""

from __future__ import annotations

import asyncio
import io
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from generated_projects import (
    BUNDLES_DIR,
    RenderComponent,
    S3Server,
    load_bundle_dir,
    serving,
)
from test_storage_module import s3_env

CONNECT, READ, ATTEMPTS = 0.3, 0.7, 2
# botocore's standard retries sleep random() * 2**(n - 1) seconds before attempt n + 1
BACKOFF = sum(2**n for n in range(ATTEMPTS - 1))
BOUND = ATTEMPTS * (CONNECT + READ) + BACKOFF


class Silent:
    """Accepts connections, reads nothing, answers nothing; counts what it accepted."""

    def __init__(self) -> None:
        self.accepted = 0

    def __call__(self, conn: socket.socket, _stop: threading.Event) -> list[socket.socket]:
        self.accepted += 1
        return [conn]


@pytest.fixture
def stalled() -> Iterator[tuple[str, Silent]]:
    silent = Silent()
    with serving(silent, scheme="http", path="") as url:
        yield url, silent


def fault_env(server: S3Server, endpoint: str) -> dict[str, str]:
    return s3_env(
        server, STORAGE_S3_ENDPOINT_URL=endpoint, STORAGE_S3_CONNECT_TIMEOUT=str(CONNECT),
        STORAGE_S3_READ_TIMEOUT=str(READ), STORAGE_S3_MAX_ATTEMPTS=str(ATTEMPTS),
    )


async def timed(operation: Any) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        await operation
    except Exception as e:  # noqa: BLE001 (the test looks at which)
        return time.monotonic() - started, e
    return time.monotonic() - started, None


def test_every_call_to_a_stalled_endpoint_ends_within_its_bound(
    render_component: RenderComponent, s3_server: S3Server, stalled: tuple[str, Silent]
) -> None:
    url, silent = stalled
    storage = render_component("storage", fault_env(s3_server, url)).module("storage")
    backend = storage.get_storage()

    async def stream() -> None:
        async for _ in backend.stream("k"):
            pass

    operations = {
        "download": lambda: backend.download("k"),
        "stream": stream,
        "exists": lambda: backend.exists("k"),
        "delete": lambda: backend.delete("k"),
        # a body under the part size: one PUT, whose body botocore sends after a
        # `100 Continue` the server never gives (aiohttp waited for it forever)
        "upload bytes": lambda: backend.upload("k", b"x" * 1000),
        "upload 3 MB": lambda: backend.upload("k", b"x" * 3_000_000),
        # from a file: a multipart upload (the server never answers its start)
        "upload file": lambda: backend.upload("k", io.BytesIO(b"x" * 7 * 1024 * 1024)),
    }

    async def scenario() -> dict[str, tuple[float, BaseException | None]]:
        await backend.client()  # opened before the clock starts: it reads no network
        names = list(operations)
        # side by side: each call's bound is its own
        results = await asyncio.gather(*(timed(operations[name]()) for name in names))
        await storage.close_storage()
        return dict(zip(names, results, strict=True))

    results = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    for name, (elapsed, error) in results.items():
        assert isinstance(error, storage.StorageUnavailableError), (name, error)
        assert isinstance(error, ConnectionError)
        assert url in str(error) and f"{ATTEMPTS} attempts" in str(error), str(error)
        # every attempt waited out its read timeout, and no call outlived its bound
        assert ATTEMPTS * READ <= elapsed < BOUND + 0.5, (name, elapsed)
    # each attempt of each call on a connection of its own (a timed-out one is dropped)
    assert silent.accepted == ATTEMPTS * len(operations)


def test_a_refused_connection_is_unavailable_at_once(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        endpoint = f"http://127.0.0.1:{s.getsockname()[1]}"
    storage = render_component("storage", fault_env(s3_server, endpoint)).module("storage")
    backend = storage.get_storage()

    async def scenario() -> tuple[float, BaseException | None]:
        await backend.client()
        result = await timed(backend.upload("k", b"v"))
        await storage.close_storage()
        return result

    elapsed, error = asyncio.run(scenario())
    assert isinstance(error, storage.StorageUnavailableError), error
    assert endpoint in str(error)
    assert elapsed < BACKOFF + 1


def test_a_healthy_endpoint_is_unaffected_by_the_bounds(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    """The bounds apply per request: a multipart upload of several parts, each sent
    and answered well within them, goes through."""
    env = fault_env(s3_server, s3_server.endpoint_url)
    storage = render_component("storage", env).module("storage")
    backend = storage.get_storage()
    content = b"y" * (13 * 1024 * 1024)

    async def scenario() -> bytes:
        await backend.upload("bounded/three-parts.bin", io.BytesIO(content))
        data: bytes = await backend.download("bounded/three-parts.bin")
        await backend.delete("bounded/three-parts.bin")
        await storage.close_storage()
        return data

    assert asyncio.run(scenario()) == content


def test_the_default_bounds_suit_a_web_request() -> None:
    """With the default settings a dead endpoint costs a call at most 30 s."""
    defaults = {s.name: s.default for s in load_bundle_dir(BUNDLES_DIR / "storage").settings}
    attempts = int(defaults["storage_s3_max_attempts"])
    per_attempt = float(defaults["storage_s3_connect_timeout"]) + float(defaults["storage_s3_read_timeout"])
    assert attempts >= 2  # a blip is retried
    assert attempts * per_attempt + sum(2**n for n in range(attempts - 1)) <= 30
