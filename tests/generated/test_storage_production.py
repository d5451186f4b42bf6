"""The generated services/storage.py under production use: one client, errors that
are errors, uploads from anything, streaming and bounded memory for large objects."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from fastapi import UploadFile
from generated_projects import RenderComponent, S3Server, loopback_http
from starlette.datastructures import Headers
from test_storage_module import s3_env

LARGE_MB = int(os.environ.get("PAXX_TEST_LARGE_OBJECT_MB", "100"))


def s3_client(server: S3Server) -> Any:
    return boto3.client(
        "s3", endpoint_url=server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def test_one_client_for_fifty_calls_closed_by_close_storage(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    storage = render_component("storage", s3_env(s3_server)).module("storage")
    backend = storage.get_storage()
    opened: list[Any] = []
    real_client = backend.session.client

    def counting_client(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real_client(*args, **kwargs)

    backend.session.client = counting_client

    async def scenario() -> None:
        await asyncio.gather(*(backend.upload(f"many/{i}", b"v") for i in range(10)))
        for i in range(10):
            assert await backend.exists(f"many/{i}")
            assert await backend.download(f"many/{i}") == b"v"
            await backend.presign(f"many/{i}")
            await backend.delete(f"many/{i}")
        assert len(opened) == 1
        await storage.close_storage()
        assert not await backend.exists("many/0")  # a new client after closing
        await storage.close_storage()
        await storage.close_storage()  # closing twice is harmless

    asyncio.run(scenario())
    assert len(opened) == 2
    asyncio.run(backend.exists("many/0"))  # another event loop gets its own client
    assert len(opened) == 3


def test_exists_is_false_only_for_a_missing_key_in_an_existing_bucket(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    good = render_component("storage", s3_env(s3_server)).module("storage").get_storage()
    assert asyncio.run(good.exists("no/such/key")) is False
    with pytest.raises(FileNotFoundError):
        asyncio.run(good.download("no/such/key"))

    wrong_bucket = type(good)("no-such-bucket", endpoint_url=s3_server.endpoint_url,
                              access_key="testing", secret_key="testing")
    for operation in (wrong_bucket.exists, wrong_bucket.download):
        with pytest.raises(ClientError) as raised:
            asyncio.run(operation("anything"))
        assert raised.value.response["Error"]["Code"] in {"404", "NoSuchBucket"}


class _NotFoundEverywhere(BaseHTTPRequestHandler):
    """A web server that is not S3: 404 for every path (a wrong endpoint URL)."""

    def _missing(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET = do_PUT = _missing

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def not_s3() -> Iterator[str]:
    with loopback_http(_NotFoundEverywhere) as url:
        yield url


def test_exists_raises_for_a_wrong_endpoint(
    render_component: RenderComponent, s3_server: S3Server, not_s3: str
) -> None:
    env = s3_env(s3_server, STORAGE_S3_ENDPOINT_URL=not_s3)
    backend = render_component("storage", env).module("storage").get_storage()
    with pytest.raises(ClientError):
        asyncio.run(backend.exists("images/photo.jpg"))
    with pytest.raises(ClientError):
        asyncio.run(backend.download("images/photo.jpg"))


def upload_file(content: bytes, filename: str, content_type: str | None) -> UploadFile:
    """What FastAPI hands an endpoint for a multipart file field."""
    spooled = tempfile.SpooledTemporaryFile(max_size=1024)  # noqa: SIM115 (the UploadFile owns it)
    spooled.write(content)
    spooled.seek(0)
    headers = Headers({"content-type": content_type} if content_type else {})
    return UploadFile(file=spooled, filename=filename, size=len(content), headers=headers)  # type: ignore[arg-type]


def test_content_types_and_upload_files(render_component: RenderComponent, s3_server: S3Server) -> None:
    backend = render_component("storage", s3_env(s3_server)).module("storage").get_storage()
    photo = b"\x89PNG" + os.urandom(5000)

    async def scenario() -> None:
        await backend.upload("typed/logo.png", b"png bytes")
        await backend.upload("typed/notes", b"no extension")
        await backend.upload("typed/report.pdf", b"%PDF", content_type="application/x-custom")
        await backend.upload("typed/avatar.bin", upload_file(photo, "avatar.png", "image/png"))
        await backend.upload("typed/anon.jpg", upload_file(b"jpeg", "anon", None))

    asyncio.run(scenario())
    client = s3_client(s3_server)

    def stored_type(key: str) -> str:
        return str(client.head_object(Bucket=s3_server.bucket, Key=key)["ContentType"])

    assert stored_type("typed/logo.png") == "image/png"
    assert stored_type("typed/notes") == "application/octet-stream"
    assert stored_type("typed/report.pdf") == "application/x-custom"
    assert stored_type("typed/avatar.bin") == "image/png"  # what the client sent
    assert stored_type("typed/anon.jpg") == "image/jpeg"
    body = client.get_object(Bucket=s3_server.bucket, Key="typed/avatar.bin")["Body"].read()
    assert body == photo


def test_local_upload_file_and_stream(render_component: RenderComponent, tmp_path: Path) -> None:
    storage = render_component("storage", {"STORAGE_LOCAL_PATH": str(tmp_path / "up")}).module("storage")
    backend = storage.get_storage()
    content = os.urandom(3 * 1024 * 1024 + 7)

    async def scenario() -> list[bytes]:
        await backend.upload("files/blob.bin", upload_file(content, "blob.bin", None))
        chunks = [chunk async for chunk in backend.stream("files/blob.bin", chunk_size=1024 * 1024)]
        with pytest.raises(FileNotFoundError):
            async for _ in backend.stream("files/missing.bin"):
                pass
        await storage.close_storage()
        return chunks

    chunks = asyncio.run(scenario())
    assert [len(c) for c in chunks] == [1024 * 1024] * 3 + [7]
    assert b"".join(chunks) == content


def test_s3_stream_and_stopping_early(render_component: RenderComponent, s3_server: S3Server) -> None:
    backend = render_component("storage", s3_env(s3_server)).module("storage").get_storage()
    content = os.urandom(2 * 1024 * 1024 + 11)

    async def scenario() -> list[bytes]:
        await backend.upload("streamed.bin", content)
        chunks = [c async for c in backend.stream("streamed.bin", chunk_size=512 * 1024)]
        for _ in range(60):  # more early stops than the pool has connections
            stream = backend.stream("streamed.bin", chunk_size=1024)
            async for _chunk in stream:
                break
            await stream.aclose()
        assert await backend.download("streamed.bin") == content
        with pytest.raises(FileNotFoundError):
            async for _ in backend.stream("not-there.bin"):
                pass
        await backend.aclose()
        return chunks

    chunks = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    assert b"".join(chunks) == content
    assert max(len(c) for c in chunks) <= 512 * 1024


MEMORY_CHECK = r"""
import asyncio, json, os, resource, sys, tracemalloc
from services.storage import get_storage

size = int(sys.argv[1]) * 1024 * 1024
source, target = sys.argv[2], sys.argv[3]
backend = get_storage()
figures = {}


def rss_mb():
    # the high-water mark of this process's memory (ru_maxrss survives exec on
    # Linux, so it can report the parent's size)
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def measure(name, operation):
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    await operation()
    figures[name] = (tracemalloc.get_traced_memory()[1] - before) / 1024 / 1024


async def upload_file():
    with open(source, "rb") as f:
        await backend.upload("large/object.bin", f)


async def stream_to_file():
    with open(target, "wb") as out:
        async for chunk in backend.stream("large/object.bin"):
            out.write(chunk)


async def main():
    await backend.upload("large/warm.bin", b"w" * 100)  # client, imports, pools
    await backend.download("large/warm.bin")
    figures["rss_before_mb"] = rss_mb()
    tracemalloc.start()
    await measure("upload_file_mb", upload_file)
    await measure("stream_download_mb", stream_to_file)
    tracemalloc.stop()
    figures["rss_after_streaming_mb"] = rss_mb()
    tracemalloc.start()
    data = await backend.download("large/object.bin")
    figures["download_bytes_mb"] = tracemalloc.get_traced_memory()[1] / 1024 / 1024
    tracemalloc.stop()
    assert len(data) == size
    tracemalloc.start()
    await measure("upload_bytes_mb", lambda: backend.upload("large/copy.bin", data))
    tracemalloc.stop()
    await backend.aclose()

asyncio.run(main())
print(json.dumps(figures))
"""


@pytest.mark.parametrize("backend", ["s3", "local"])
def test_large_objects_keep_memory_bounded(
    render_component: RenderComponent, s3_server: S3Server, tmp_path: Path, backend: str
) -> None:
    env = s3_env(s3_server) if backend == "s3" else {"STORAGE_LOCAL_PATH": str(tmp_path / "up")}
    project = render_component("storage", env)
    source, target = tmp_path / "source.bin", tmp_path / "target.bin"
    block = os.urandom(1024 * 1024)
    with source.open("wb") as f:
        for _ in range(LARGE_MB):
            f.write(block)
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_CHECK, str(LARGE_MB), str(source), str(target)],
        env={**os.environ, **env, "PYTHONPATH": str(project.root)},
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{backend} {LARGE_MB} MB object, peak MB:", figures)
    assert target.read_bytes() == source.read_bytes()
    # an upload holds a few 6 MiB parts at a time (two in flight, one read ahead, the
    # copies botocore makes of them): 43-49 MB measured, whatever the object's size
    parts_mb = 64
    assert figures["upload_file_mb"] < parts_mb and figures["upload_file_mb"] < LARGE_MB * 0.75
    assert figures["stream_download_mb"] < 16
    assert figures["rss_after_streaming_mb"] - figures["rss_before_mb"] < max(64, LARGE_MB / 2)
    assert figures["download_bytes_mb"] < LARGE_MB * 1.5  # the bytes themselves, not twice
    assert figures["upload_bytes_mb"] < parts_mb  # beyond the bytes the caller already holds
