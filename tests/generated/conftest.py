"""Fixtures: rendered throw-away projects and real services on loopback ports."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    wait_for_redis,
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
        wait_for_redis(url, process)
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


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str

    def url(self, *, password: bool = False) -> str:
        secret = f":{self.password}" if password else ""
        return f"postgresql+asyncpg://{self.user}{secret}@{self.host}:{self.port}/{self.database}"


def _postgres_bin(program: str) -> str:
    found = shutil.which(program) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{program}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{program} not found: install Debian's postgresql package "
                           "(scripts/test.sh does when it is missing)")
    return found


def _server_user() -> Any:
    """The server refuses to run as root: when we are root, the `postgres` (or `nobody`)
    user's passwd entry to drop to; None otherwise."""
    if os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root with neither a postgres nor a nobody user")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A real PostgreSQL (Debian's package): initdb into a temporary directory, password
    authentication on a free loopback port, fsync off; stopped by pid."""
    root = Path(tempfile.mkdtemp(prefix="paxx-pg-"))
    root.chmod(0o755)  # the server's user must reach its directory
    data, sockets, pwfile = root / "data", root / "sockets", root / "pw"
    sockets.mkdir()
    pwfile.write_text("s3cret-pw\n")
    user = _server_user()
    as_user: dict[str, Any] = {}
    if user is not None:
        for path in (root, sockets, pwfile):
            os.chown(path, user.pw_uid, user.pw_gid)
        as_user = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    subprocess.run(
        [_postgres_bin("initdb"), "-D", str(data), "-U", "app", f"--pwfile={pwfile}",
         "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-instructions"],
        check=True, capture_output=True, **as_user,  # type: ignore[call-overload]
    )
    port = free_port()
    process = subprocess.Popen(
        [_postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(sockets),
         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **as_user,  # type: ignore[call-overload]
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run([_postgres_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                             capture_output=True).returncode != 0:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start on port {port}")
            time.sleep(0.1)
        yield PostgresServer("127.0.0.1", port, "app", "s3cret-pw", "postgres")
    finally:
        process.send_signal(signal.SIGINT)  # fast shutdown
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
