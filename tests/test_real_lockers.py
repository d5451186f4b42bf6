"""Lock refresh with the real lockers (uv, Poetry, pdm) against the package index.

All three are the ones of the locked test environment (requirements/test.txt), run
from its bin directory. Each test makes a
project the way its tool does, locks it with that tool, lets the lock age (an upper
bound on fastapi lifted after locking, so the lock holds a release older than the
newest), and checks that `add redis` leaves a lock the tool itself accepts, with
redis in it and every earlier pin kept.

The index is reached as pip reaches it here: its `index-url` (pip's configuration and
PIP_* variables) is handed to each locker in that locker's own terms; without one,
every locker uses the same default index as pip. pip's extra indexes are left out:
each locker ranks several indexes its own way, so the pins would depend on which
index holds what. Everything the lockers keep (caches, logs) goes into the session's
temporary directory; the test's $HOME must stay empty.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REDIS_REQUIREMENT, git, init_repo

pytestmark = pytest.mark.index

BIN = Path(sys.executable).parent
OLD_FASTAPI = "fastapi>=0.110,<0.111"  # what the project said when it was locked
FASTAPI = "fastapi>=0.110"  # what it says now: newer releases exist but are not taken
PIP_KEY = re.compile(r"^(?:global|install|download|:env:)\.([a-z-]+)='(.*)'$")

SOURCES = {
    "README.md": "# svc\n",
    "settings.py": (
        "from pydantic_settings import BaseSettings\n\n\n"
        "class Settings(BaseSettings):\n    app_name: str = \"svc\"\n\n\nsettings = Settings()\n"
    ),
    "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    "docker-compose.yml": "services:\n  api:\n    build: .\n",
}
PEP621 = (
    '[project]\nname = "svc"\nversion = "0.1.0"\ndescription = "A service"\n'
    'readme = "README.md"\nrequires-python = ">=3.11"\n'
    'dependencies = [\n    "{fastapi}",\n    "pydantic-settings>=2",\n]\n'
)
PYPROJECT = {
    # `uv init --app`
    "uv": PEP621,
    # `pdm init` of an application: no build backend
    "pdm": PEP621 + "\n[tool.pdm]\ndistribution = false\n",
    # Poetry 1's `poetry new`, still the most common shape of a Poetry project
    "poetry": (
        '[tool.poetry]\nname = "svc"\nversion = "0.1.0"\ndescription = "A service"\n'
        'authors = ["Dev <dev@example.com>"]\nreadme = "README.md"\npackage-mode = false\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nfastapi = "{version}"\n'
        'pydantic-settings = ">=2"\n'
    ),
    # Poetry 2's `poetry new`: PEP 621 metadata, Poetry as the build backend
    "poetry-pep621": PEP621 + (
        '\n[tool.poetry]\npackage-mode = false\n\n'
        '[build-system]\nrequires = ["poetry-core>=2.0.0,<3.0.0"]\n'
        'build-backend = "poetry.core.masonry.api"\n'
    ),
}


@dataclass(frozen=True)
class Tool:
    program: str
    lock_name: str
    lock: tuple[str, ...]  # the no-update form
    check: tuple[str, ...]


TOOLS = {
    "uv": Tool("uv", "uv.lock", ("uv", "lock"), ("uv", "lock", "--check")),
    "poetry": Tool("poetry", "poetry.lock", ("poetry", "lock"), ("poetry", "check", "--lock")),
    "pdm": Tool("pdm", "pdm.lock", ("pdm", "lock", "--update-reuse"), ("pdm", "lock", "--check")),
}


def pip_settings() -> dict[str, str]:
    """pip's effective settings (its configuration files and PIP_* variables), read only."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                         text=True, timeout=60).stdout
    settings = {}
    for line in out.splitlines():
        m = PIP_KEY.match(line.strip())
        if m:
            settings[m.group(1)] = m.group(2)
    return settings


@dataclass
class Lockers:
    root: Path
    bin: Path  # the three lockers, and nothing else
    env: dict[str, str]  # what every locker is run with
    versions: dict[str, str] = field(default_factory=dict)

    def need(self, program: str) -> None:
        if program not in self.versions:
            out = subprocess.run([str(self.bin / program), "--version"], capture_output=True,
                                 text=True, env={**os.environ, **self.env}, timeout=120)
            assert out.returncode == 0, f"{program} --version: {out.stderr}"
            self.versions[program] = out.stdout.strip()


@pytest.fixture(scope="session")
def lockers(tmp_path_factory: pytest.TempPathFactory) -> Lockers:
    root = tmp_path_factory.mktemp("lockers")
    (root / "bin").mkdir()
    for program in TOOLS:
        if not (BIN / program).exists():
            pytest.fail(f"{program} is part of the locked test environment but "
                        f"{BIN / program} is missing")
        (root / "bin" / program).symlink_to(BIN / program)
    settings = pip_settings()
    env = {
        "XDG_CACHE_HOME": str(root / "cache"),
        "XDG_STATE_HOME": str(root / "state"),  # pdm's logs
        "UV_CACHE_DIR": str(root / "cache" / "uv"),
        "POETRY_CACHE_DIR": str(root / "cache" / "poetry"),
        "POETRY_VIRTUALENVS_PATH": str(root / "poetry-venvs"),
        "PDM_CACHE_DIR": str(root / "cache" / "pdm"),
        "PDM_CHECK_UPDATE": "false",
        "UV_PYTHON_DOWNLOADS": "never",
    }
    if "cert" in settings:
        env["SSL_CERT_FILE"] = env["REQUESTS_CA_BUNDLE"] = settings["cert"]
    if "index-url" in settings:
        env["UV_DEFAULT_INDEX"] = env["PDM_PYPI_URL"] = settings["index-url"]
    return Lockers(root, root / "bin", env)


@pytest.fixture
def locker_env(lockers: Lockers, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Lockers:
    """The lockers on PATH, their caches in the session's directory, temporary files here."""
    for key, value in lockers.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PATH", f"{lockers.bin}{os.pathsep}{os.environ['PATH']}")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    return lockers


def tool_run(cwd: Path, command: tuple[str, ...], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), cwd=cwd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def pyproject(kind: str, fastapi: str) -> str:
    text = PYPROJECT[kind]
    if kind == "poetry":
        text = text.replace("{version}", fastapi.removeprefix("fastapi"))
    else:
        text = text.replace("{fastapi}", fastapi)
    url = os.environ.get("PDM_PYPI_URL")  # pip's index-url, when it has one
    if kind.startswith("poetry") and url:
        text += f'\n[[tool.poetry.source]]\nname = "index"\nurl = "{url}"\npriority = "primary"\n'
    return text


def aged_project(kind: str, tool: Tool, directory: Path) -> dict[str, str]:
    """The project's files and the lock its tool made before fastapi's bound was lifted."""
    directory.mkdir()
    (directory / "README.md").write_text(SOURCES["README.md"])
    for fastapi in (OLD_FASTAPI, FASTAPI):
        (directory / "pyproject.toml").write_text(pyproject(kind, fastapi))
        proc = tool_run(directory, tool.lock)
        assert proc.returncode == 0, f"{' '.join(tool.lock)} failed:\n{proc.stdout}\n{proc.stderr}"
    return {**SOURCES, "pyproject.toml": pyproject(kind, FASTAPI),
            tool.lock_name: (directory / tool.lock_name).read_text()}


def pins(lock: str) -> dict[str, str]:
    return {p["name"]: p["version"] for p in tomllib.loads(lock)["package"] if "version" in p}


def committed(repo: Path, directory: Path) -> Path:
    """The files of HEAD, unpacked: the tool's check judges what was committed."""
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=repo, capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(archive.stdout)) as tar:
        tar.extractall(directory, filter="data")
    return directory


KINDS = ["uv", "poetry", "poetry-pep621", "pdm"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_dependencies_commit_carries_the_lock_its_tool_accepts(
    kind: str, tmp_path: Path, locker_env: Lockers, run: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tool = TOOLS[kind.split("-")[0]]
    locker_env.need(tool.program)
    files = aged_project(kind, tool, tmp_path / "locking")
    before = pins(files[tool.lock_name])
    assert before["fastapi"].startswith("0.110.") and "redis" not in before
    repo = init_repo(tmp_path / "svc", files)
    venvs = tmp_path / "venvs"  # where Poetry and pdm keep the virtualenvs they make
    monkeypatch.setenv("POETRY_VIRTUALENVS_PATH", str(venvs / "poetry"))
    monkeypatch.setenv("PDM_VENV_LOCATION", str(venvs / "pdm"))

    code, out, err = run(repo, "add", "redis", "--commit")

    assert code == 0, err
    assert "warning:" not in out, out
    sha = git(repo, "log", "--format=%H", "--grep=Paxx-Mutator: dependencies").strip()
    assert sorted(git(repo, "show", "--name-only", "--format=", sha).split()) == sorted(
        ["pyproject.toml", tool.lock_name])
    after = pins((repo / tool.lock_name).read_text())
    assert Requirement(REDIS_REQUIREMENT).specifier.contains(Version(after["redis"]))
    assert {name: after.get(name) for name in before} == before  # nothing else moved
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert sorted(os.listdir(os.environ["HOME"])) == []
    assert sorted(os.listdir(tempfile.gettempdir())) == []  # the locker's copy is gone
    assert not venvs.exists() or not any(venvs.rglob("*")), "a virtualenv outlived the copy"
    check = tool_run(committed(repo, tmp_path / "check"), tool.check)
    assert check.returncode == 0, f"{' '.join(tool.check)}:\n{check.stdout}\n{check.stderr}"


@pytest.mark.parametrize("kind", ["uv", "poetry", "pdm"])
def test_an_offline_locker_lands_the_change_and_names_the_command(
    kind: str, tmp_path: Path, locker_env: Lockers, run: Callable[..., tuple[int, str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The index unreachable (a proxy that refuses, nothing cached): the real locker fails."""
    tool = TOOLS[kind]
    locker_env.need(tool.program)
    repo = init_repo(tmp_path / "svc", aged_project(kind, tool, tmp_path / "locking"))
    lock = (repo / tool.lock_name).read_bytes()
    for cache in ("XDG_CACHE_HOME", "UV_CACHE_DIR", "POETRY_CACHE_DIR", "PDM_CACHE_DIR"):
        monkeypatch.setenv(cache, str(tmp_path / "empty-cache" / cache))
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{s.getsockname()[1]}"
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(proxy, refused)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)

    code, out, err = run(repo, "add", "redis", "--commit")

    assert code == 0, err
    assert REDIS_REQUIREMENT.split(">")[0] in (repo / "pyproject.toml").read_text()
    assert (repo / tool.lock_name).read_bytes() == lock
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    command = " ".join(tool.lock)
    assert warning.startswith(f"warning: {tool.lock_name} was not refreshed (`{command}` failed: ")
    assert warning.endswith(f"Run `{command}` and commit {tool.lock_name}.")
    reason = warning.split("failed: ", 1)[1]
    assert "connect" in reason.lower() and " -v" not in reason, reason  # the tool's error, not its hint
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert sorted(os.listdir(tempfile.gettempdir())) == []


def test_an_unsatisfiable_lock_lands_the_change_and_names_the_command(
    tmp_path: Path, locker_env: Lockers, run: Callable[..., tuple[int, str, str]]
) -> None:
    """The project constrains redis below what the bundle needs: uv finds no solution."""
    tool = TOOLS["uv"]
    locking = tmp_path / "locking"
    locking.mkdir()
    files = {**SOURCES, "pyproject.toml": pyproject("uv", FASTAPI)
             + '\n[tool.uv]\nconstraint-dependencies = ["redis<5"]\n'}
    for name, text in files.items():
        (locking / name).write_text(text)
    assert tool_run(locking, tool.lock).returncode == 0
    repo = init_repo(tmp_path / "svc", {**files, "uv.lock": (locking / "uv.lock").read_text()})

    code, out, err = run(repo, "add", "redis", "--commit")

    assert code == 0, err
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert warning.startswith("warning: uv.lock was not refreshed (`uv lock` failed: ")
    assert "unsatisfiable" in warning
    assert warning.endswith("Run `uv lock` and commit uv.lock.")
    assert git(repo, "show", "--name-only", "--format=", "HEAD~0").strip() != "uv.lock"
    assert git(repo, "status", "--porcelain", "--ignored") == ""
