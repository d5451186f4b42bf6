"""Shared fixtures: isolated git, sample repositories, repository state snapshots."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from paxx_patch.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "paxx_patch" / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_REDIS = tomllib.loads((ROOT / "bundles" / "redis" / "bundle.toml").read_text())
REDIS_VERSION: str = _REDIS["version"]  # the built-in redis bundle's version and requirement
REDIS_REQUIREMENT: str = _REDIS["dependencies"][0]
_major, _minor, _patch = REDIS_VERSION.split("-")[0].split(".")
REDIS_NEWER = f"{_major}.{int(_minor) + 1}.0"  # a version above the built-in one, for updates
DOCSTRING = '"""Return the JSON value stored under `key`, or None when there is none."""'
NEW_DOCSTRING = '"""The JSON value under `key` (None when absent)."""'
# the commits `add redis --commit` makes on the sample: files, compose, dependencies,
# settings, env, wiring (close_redis in the lifespan), lock
REDIS_COMMITS = 7


def pytest_configure(config: pytest.Config) -> None:
    """A suite started in the background of a non-interactive shell inherits SIGINT
    ignored, and so would every paxx-patch it starts: the Ctrl-C tests would then
    test nothing. Interrupts are taken back, as in a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def isolated_git(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real $HOME or global git config."""
    home = tmp_path_factory.mktemp("home")
    for key in list(os.environ):
        if key.startswith("GIT_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("EMAIL", raising=False)


def git(cwd: Path, *args: str, check: bool = True) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def init_repo(path: Path, files: dict[str, str] | Path | None = None, identity: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if isinstance(files, Path):
        shutil.copytree(files, path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    elif files:
        for name, text in files.items():
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            (path / name).write_text(text)
    git(path, "init", "-q", "--template=", "-b", "main")
    if identity:
        git(path, "config", "user.name", "Test User")
        git(path, "config", "user.email", "test@example.com")
    if files is not None:
        git(path, "add", "-A")
        git(path, "-c", "user.name=Test User", "-c", "user.email=test@example.com",
            "commit", "-q", "-m", "initial")
    return path


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """A repository holding the paxx-shaped sample project, committed."""
    return init_repo(tmp_path / "app", SAMPLE)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Call `main([...])` from a directory; returns (exit code, stdout, stderr)."""

    def call(cwd: Path, *argv: str) -> tuple[int, str, str]:
        monkeypatch.chdir(cwd)
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return call


def repo_state(path: Path) -> dict[str, str]:
    """Every byte of the repository that a failed run must leave alone.

    Hashes the working tree and the git directory directly (no git command, so
    nothing refreshes the index while looking); objects are excluded since a
    run may leave unreachable ones, and paxx-patch's own temporary refs too.
    """
    state = {}
    for file in sorted(path.rglob("*")):
        rel = file.relative_to(path).as_posix()
        if file.is_dir() or rel.startswith(".git/objects/") or "/refs/paxx-patch/" in f"/{rel}":
            continue
        if rel == ".git/packed-refs":
            text = "".join(
                line for line in file.read_text().splitlines(keepends=True)
                if "refs/paxx-patch/" not in line
            )
            state[rel] = hashlib.sha1(text.encode()).hexdigest()
            continue
        state[rel] = hashlib.sha1(file.read_bytes()).hexdigest()
    return state


@pytest.fixture
def state() -> Callable[[Path], dict[str, str]]:
    return repo_state


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port."""
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def newer(tmp_path: Path) -> Path:
    """A newer redis bundle (REDIS_NEWER) whose template changes one spot, in its own bundle dir."""
    root = tmp_path / "newer-bundles"
    shutil.copytree(ROOT / "bundles" / "redis", root / "redis")
    toml = root / "redis" / "bundle.toml"
    toml.write_text(toml.read_text().replace(f'version = "{REDIS_VERSION}"', f'version = "{REDIS_NEWER}"'))
    template = root / "redis" / "templates" / "cache.py.j2"
    text = template.read_text()
    assert DOCSTRING in text
    template.write_text(text.replace(DOCSTRING, NEW_DOCSTRING))
    return root
