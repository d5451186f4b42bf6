"""Fixtures: rendered throw-away projects and real services on loopback ports."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from generated_projects import (
    BUNDLES_DIR,
    MODULE_STYLE,
    Project,
    RenderComponent,
    S3Server,
    SettingsStyle,
    forget_project_modules,
    load_bundle_dir,
    render_project,
)


@pytest.fixture
def render_component(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RenderComponent]:
    """Render components into tmp_path, set `env` as the process environment, make it importable.

    Every environment variable of every bundle's settings is removed first, so the
    outer environment cannot leak in; the project's modules are forgotten afterwards.
    """
    forget_project_modules()
    for directory in BUNDLES_DIR.iterdir():
        if (directory / "bundle.toml").is_file():
            for s in load_bundle_dir(directory).settings:
                monkeypatch.delenv(s.env_key, raising=False)

    def render(
        name: str | Sequence[str],
        env: Mapping[str, str] = {},
        *,
        style: SettingsStyle = MODULE_STYLE,
        variables: Mapping[str, str] = {},
    ) -> Project:
        names = [name] if isinstance(name, str) else list(name)
        root = tmp_path / "project"
        project = render_project(root, names, style, variables)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.syspath_prepend(str(root))
        return project

    yield render
    forget_project_modules()


def _isolate_aws(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    for key in list(os.environ):
        if key.startswith("AWS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def isolated_aws_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep botocore away from ~/.aws, instance metadata and the caller's AWS variables."""
    _isolate_aws(monkeypatch, tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, without persistence."""
    import redis

    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {port}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 as a real HTTP server on a free loopback port, with one bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    with pytest.MonkeyPatch.context() as monkeypatch:
        _isolate_aws(monkeypatch, tmp_path_factory.mktemp("aws"))
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        client.create_bucket(Bucket="paxx-test")
    try:
        yield S3Server(endpoint_url=endpoint, bucket="paxx-test")
    finally:
        server.stop()
