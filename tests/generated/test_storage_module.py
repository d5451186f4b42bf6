"""The generated services/storage.py: the local backend on disk, S3 against moto's server."""

from __future__ import annotations

import asyncio
import io
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from botocore.exceptions import ClientError
from generated_projects import FACTORY_STYLE, RenderComponent, S3Server, loopback_http


def s3_env(server: S3Server, **overrides: str) -> dict[str, str]:
    return {
        "STORAGE_BACKEND": "s3",
        "STORAGE_S3_BUCKET": server.bucket,
        "STORAGE_S3_ENDPOINT_URL": server.endpoint_url,
        "STORAGE_S3_ACCESS_KEY": "testing",
        "STORAGE_S3_SECRET_KEY": "testing",
        **overrides,
    }


@pytest.fixture
def local_storage(render_component: RenderComponent, tmp_path: Path) -> tuple[ModuleType, Any]:
    base = tmp_path / "data" / "uploads"
    storage = render_component(
        "storage", {"STORAGE_LOCAL_PATH": str(base)}
    ).module("storage")
    backend = storage.get_storage()
    assert isinstance(backend, storage.LocalStorageBackend)
    return storage, backend


# -- local backend ---------------------------------------------------------------


def test_local_round_trip(local_storage: tuple[ModuleType, Any], tmp_path: Path) -> None:
    _, backend = local_storage

    async def scenario() -> None:
        location = await backend.upload("images/photo.jpg", b"\xff\xd8jpeg", content_type="image/jpeg")
        assert Path(location) == tmp_path / "data" / "uploads" / "images" / "photo.jpg"
        assert await backend.exists("images/photo.jpg")
        assert await backend.download("images/photo.jpg") == b"\xff\xd8jpeg"
        await backend.upload("docs/readme.txt", io.BytesIO(b"x" * 3_000_000))
        assert await backend.download("docs/readme.txt") == b"x" * 3_000_000
        assert (await backend.presign("docs/readme.txt")).startswith("file://")
        await backend.delete("images/photo.jpg")
        assert not await backend.exists("images/photo.jpg")
        await backend.delete("images/photo.jpg")  # deleting twice is not an error
        with pytest.raises(FileNotFoundError):
            await backend.download("images/photo.jpg")

    asyncio.run(scenario())
    leftovers = [p.name for p in (tmp_path / "data" / "uploads").rglob(".*")]
    assert leftovers == []  # no partial files remain


@pytest.mark.parametrize(
    "key",
    ["../uploads_evil/x", "/etc/passwd", "a/../../x", "", ".", "a/.."],
)
def test_local_keys_that_leave_the_base_directory_are_refused(
    local_storage: tuple[ModuleType, Any], tmp_path: Path, key: str
) -> None:
    _, backend = local_storage
    before = sorted(tmp_path.rglob("*"))

    async def attempt(operation: str) -> None:
        if operation == "upload":
            await backend.upload(key, b"owned")
        else:
            await getattr(backend, operation)(key)

    for operation in ("upload", "download", "exists", "delete", "presign"):
        with pytest.raises(ValueError, match="invalid storage key"):
            asyncio.run(attempt(operation))
    assert sorted(tmp_path.rglob("*")) == before
    assert Path("/etc/passwd").read_bytes() != b"owned"


def test_local_symlink_pointing_outside_is_refused(
    local_storage: tuple[ModuleType, Any], tmp_path: Path
) -> None:
    _, backend = local_storage
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    base = tmp_path / "data" / "uploads"
    base.mkdir(parents=True)
    (base / "link").symlink_to(outside, target_is_directory=True)
    (base / "file-link").symlink_to(outside / "secret.txt")

    async def scenario() -> None:
        for key in ("link/secret.txt", "link/new.txt", "file-link"):
            with pytest.raises(ValueError):
                await backend.upload(key, b"overwritten")
            with pytest.raises(ValueError):
                await backend.download(key)

    asyncio.run(scenario())
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_bytes() == b"secret"


def test_local_keys_that_stay_inside_are_accepted(local_storage: tuple[ModuleType, Any]) -> None:
    _, backend = local_storage

    async def scenario() -> bytes:
        await backend.upload("a/../b.txt", b"inside")  # resolves to base/b.txt
        content: bytes = await backend.download("b.txt")
        return content

    assert asyncio.run(scenario()) == b"inside"


# -- S3 backend ------------------------------------------------------------------


def test_s3_round_trip(render_component: RenderComponent, s3_server: S3Server) -> None:
    storage = render_component("storage", s3_env(s3_server)).module("storage")
    backend = storage.get_storage()
    assert isinstance(backend, storage.S3StorageBackend)

    async def scenario() -> None:
        url = await backend.upload("images/photo.jpg", b"jpeg bytes", content_type="image/jpeg")
        assert url == f"{s3_server.endpoint_url}/{s3_server.bucket}/images/photo.jpg"
        await backend.upload("docs/big.bin", io.BytesIO(b"y" * 100_000))
        assert await backend.download("images/photo.jpg") == b"jpeg bytes"
        assert await backend.download("docs/big.bin") == b"y" * 100_000
        assert await backend.exists("images/photo.jpg") is True
        assert await backend.exists("images/missing.jpg") is False
        with pytest.raises(FileNotFoundError):
            await backend.download("images/missing.jpg")
        await backend.delete("images/photo.jpg")
        assert await backend.exists("images/photo.jpg") is False
        await backend.delete("images/photo.jpg")  # deleting twice is not an error

    asyncio.run(scenario())


def test_s3_content_type_is_stored(render_component: RenderComponent, s3_server: S3Server) -> None:
    import boto3

    storage = render_component("storage", s3_env(s3_server)).module("storage")
    asyncio.run(storage.get_storage().upload("typed.png", b"png", content_type="image/png"))
    client = boto3.client(
        "s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )
    assert client.head_object(Bucket=s3_server.bucket, Key="typed.png")["ContentType"] == "image/png"


def test_s3_presigned_url_serves_the_object(render_component: RenderComponent, s3_server: S3Server) -> None:
    storage = render_component("storage", s3_env(s3_server)).module("storage")
    backend = storage.get_storage()

    async def scenario() -> str:
        await backend.upload("shared/report.pdf", b"%PDF-1.7 report")
        url: str = await backend.presign("shared/report.pdf", expires_in=120)
        return url

    url = asyncio.run(scenario())
    assert url.startswith(f"{s3_server.endpoint_url}/{s3_server.bucket}/shared/report.pdf?")
    assert "X-Amz-Expires=120" in url
    with urllib.request.urlopen(url, timeout=10) as response:  # plain HTTP GET, no AWS client
        assert response.read() == b"%PDF-1.7 report"


def test_s3_one_session_for_all_calls(
    render_component: RenderComponent, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = render_component("storage", s3_env(s3_server)).module("storage")
    created: list[object] = []
    real_session = storage.aioboto3.Session

    def counting_session(*args: Any, **kwargs: Any) -> object:
        session = real_session(*args, **kwargs)
        created.append(session)
        return session

    monkeypatch.setattr(storage.aioboto3, "Session", counting_session)
    backend = storage.get_storage()
    assert storage.get_storage() is backend

    async def scenario() -> None:
        for i in range(3):
            await backend.upload(f"k{i}", b"v")
            await backend.exists(f"k{i}")
            await backend.download(f"k{i}")
            await backend.presign(f"k{i}")
            await backend.delete(f"k{i}")

    asyncio.run(scenario())
    assert created == [backend.session]


def test_s3_missing_bucket_is_an_error_not_a_missing_file(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    env = s3_env(s3_server, STORAGE_S3_BUCKET="no-such-bucket")
    backend = render_component("storage", env).module("storage").get_storage()
    with pytest.raises(ClientError) as raised:
        asyncio.run(backend.download("anything"))
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


class _AccessDenied(BaseHTTPRequestHandler):
    """An S3 endpoint that refuses everything, as S3 does for bad credentials."""

    def _deny(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            b"<Message>Access Denied</Message></Error>"
        )
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_HEAD = do_GET = do_PUT = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_endpoint() -> Iterator[str]:
    with loopback_http(_AccessDenied) as url:
        yield url


def test_s3_exists_reraises_errors_other_than_not_found(
    render_component: RenderComponent, s3_server: S3Server, denying_endpoint: str
) -> None:
    env = s3_env(s3_server, STORAGE_S3_ENDPOINT_URL=denying_endpoint)
    backend = render_component("storage", env).module("storage").get_storage()
    with pytest.raises(ClientError) as raised:
        asyncio.run(backend.exists("images/photo.jpg"))
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError):
        asyncio.run(backend.download("images/photo.jpg"))


# -- choosing the backend --------------------------------------------------------


def test_get_storage_defaults_to_local(render_component: RenderComponent) -> None:
    storage = render_component("storage").module("storage")
    backend = storage.get_storage()
    assert isinstance(backend, storage.LocalStorageBackend)
    assert backend.base_path == (Path.cwd() / "uploads").resolve()


def test_get_storage_refuses_s3_without_a_bucket(render_component: RenderComponent) -> None:
    storage = render_component("storage", {"STORAGE_BACKEND": "s3"}).module("storage")
    with pytest.raises(ValueError, match="STORAGE_S3_BUCKET is not set"):
        storage.get_storage()


def test_get_storage_refuses_an_unknown_backend(render_component: RenderComponent) -> None:
    storage = render_component("storage", {"STORAGE_BACKEND": "ftp"}).module("storage")
    with pytest.raises(ValueError, match="STORAGE_BACKEND is 'ftp'; use 'local' or 's3'"):
        storage.get_storage()


def test_get_storage_with_factory_settings(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    project = render_component("storage", s3_env(s3_server, STORAGE_BACKEND="S3"), style=FACTORY_STYLE)
    storage = project.module("storage")
    backend = storage.get_storage()
    assert isinstance(backend, storage.S3StorageBackend)

    async def scenario() -> bytes:
        await backend.upload("factory.txt", b"ok")
        content: bytes = await backend.download("factory.txt")
        return content

    assert asyncio.run(scenario()) == b"ok"


def test_secrets_declared_as_plain_str_work_too(
    render_component: RenderComponent, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = render_component("storage", s3_env(s3_server))
    settings = __import__("settings").settings
    monkeypatch.setattr(settings, "storage_s3_access_key", "testing")
    monkeypatch.setattr(settings, "storage_s3_secret_key", "testing")
    backend = project.module("storage").get_storage()

    async def scenario() -> bytes:
        await backend.upload("plain.txt", b"plain")
        content: bytes = await backend.download("plain.txt")
        return content

    assert asyncio.run(scenario()) == b"plain"
