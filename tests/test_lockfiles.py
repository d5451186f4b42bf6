"""The project's package lock moves with its dependencies, by its own locker.

Real `uv lock` runs, offline: its only package source is a directory of small wheels
made here (`UV_NO_INDEX` + `UV_FIND_LINKS`), so the lock it writes is real and
`uv lock --check` can judge it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from paxx_patch.plan.package_locks import failure_reason
from tests.conftest import REDIS_REQUIREMENT, git, init_repo

UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))

PROJECT = {
    "pyproject.toml": (
        '[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = [\n    "fastapi>=0.110",\n]\n'
    ),
    "settings.py": (
        "from pydantic_settings import BaseSettings\n\n\n"
        "class Settings(BaseSettings):\n    app_name: str = \"svc\"\n\n\nsettings = Settings()\n"
    ),
    "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    "docker-compose.yml": "services:\n  api:\n    build: .\n",
}


def make_wheel(directory: Path, name: str, version: str) -> None:
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{dist}/RECORD"])
    with zipfile.ZipFile(directory / f"{name}-{version}-py3-none-any.whl", "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """uv resolves from a directory of wheels only, offline."""
    if not Path(UV).exists():
        pytest.fail(f"uv is part of the locked test environment but {UV} is missing")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    requirement = REDIS_REQUIREMENT.removeprefix("redis>=")
    for name, version in (("fastapi", "0.110.0"), ("redis", requirement)):
        make_wheel(wheels, name, version)
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("UV_FIND_LINKS", str(wheels))
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    monkeypatch.setenv("PATH", f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}")
    return wheels


@pytest.fixture
def uv_project(tmp_path: Path, local_index: Path) -> Path:
    repo = init_repo(tmp_path / "svc", PROJECT)
    subprocess.run([UV, "lock", "-q"], cwd=repo, check=True)
    git(repo, "add", "uv.lock")
    git(repo, "commit", "-qm", "lock")
    make_wheel(local_index, "fastapi", "0.200.0")  # released after the lock: must stay unused
    return repo


def uv_lock_check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([UV, "lock", "--check"], cwd=repo, capture_output=True, text=True)


def test_dependencies_commit_carries_the_refreshed_uv_lock(uv_project: Path, run) -> None:
    before = (uv_project / "uv.lock").read_text()
    assert 'name = "redis"' not in before
    code, out, err = run(uv_project, "add", "redis", "--commit")
    assert code == 0, err
    assert "warning:" not in out
    lock = (uv_project / "uv.lock").read_text()
    assert 'name = "redis"' in lock
    assert 'version = "0.110.0"' in lock and "0.200.0" not in lock  # existing pins are kept
    check = uv_lock_check(uv_project)
    assert check.returncode == 0, check.stderr
    # in the dependencies commit itself, next to pyproject.toml
    sha = git(uv_project, "log", "--format=%H", "--grep=Paxx-Mutator: dependencies").strip()
    changed = git(uv_project, "show", "--name-only", "--format=", sha).split()
    assert sorted(changed) == ["pyproject.toml", "uv.lock"]
    assert "Install the new dependency (`uv sync`)" in out
    assert git(uv_project, "status", "--porcelain") == ""


def test_remove_refreshes_the_lock_again(uv_project: Path, run) -> None:
    original = (uv_project / "uv.lock").read_text()
    assert run(uv_project, "add", "redis", "--commit")[0] == 0
    code, _, err = run(uv_project, "remove", "redis", "--commit")
    assert code == 0, err
    assert (uv_project / "uv.lock").read_text() == original
    assert uv_lock_check(uv_project).returncode == 0


def test_no_lock_lands_the_change_and_names_the_command(uv_project: Path, run) -> None:
    before = (uv_project / "uv.lock").read_bytes()
    code, out, _ = run(uv_project, "add", "redis", "--commit", "--no-lock")
    assert code == 0
    assert (uv_project / "uv.lock").read_bytes() == before
    assert REDIS_REQUIREMENT in (uv_project / "pyproject.toml").read_text()
    assert "warning: uv.lock was not refreshed (--no-lock). Run `uv lock` and commit uv.lock." in out


def test_a_failing_locker_is_a_warning_with_the_command(uv_project: Path, run, monkeypatch) -> None:
    monkeypatch.setenv("UV_FIND_LINKS", str(uv_project / "nowhere"))  # redis cannot be found
    before = (uv_project / "uv.lock").read_bytes()
    code, out, _ = run(uv_project, "add", "redis", "--commit")
    assert code == 0
    assert (uv_project / "uv.lock").read_bytes() == before
    warning = next(line for line in out.splitlines() if line.startswith("warning:"))
    assert "uv.lock was not refreshed (`uv lock` failed:" in warning
    assert warning.endswith("Run `uv lock` and commit uv.lock.")


def test_an_absent_locker_is_named(tmp_path: Path, run, monkeypatch) -> None:
    files = dict(PROJECT)
    files["pyproject.toml"] = (
        '[tool.poetry]\nname = "svc"\nversion = "0.1.0"\ndescription = ""\nauthors = []\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nfastapi = ">=0.110"\n'
    )
    files["poetry.lock"] = "# an existing lock\n"
    repo = init_repo(tmp_path / "svc", files)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    (empty / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(empty))
    code, out, _ = run(repo, "add", "redis", "--commit")
    assert code == 0
    assert (repo / "poetry.lock").read_text() == "# an existing lock\n"
    assert ("warning: poetry.lock was not refreshed (poetry is not installed); it no longer "
            "matches the new dependencies. Run `poetry lock` and commit poetry.lock.") in out
    assert "Install the new dependency (`poetry install`)" in out


def test_a_project_without_a_lock_gets_no_lock_and_no_warning(tmp_path: Path, run, local_index) -> None:
    repo = init_repo(tmp_path / "svc", PROJECT)
    code, out, _ = run(repo, "add", "redis", "--commit")
    assert code == 0
    assert not (repo / "uv.lock").exists()
    assert "warning:" not in out
    assert "Install the new dependency (`pip install -e .`)" in out


# what the lockers print when they fail, as they print it (the index's host changed)
POETRY_OFFLINE = """Creating virtualenv svc in /tmp/paxx-patch-lock-1/.venv

All attempts to connect to index.example.org failed.

Probable Causes:
    - the server is not responding to requests at the moment
    - the hostname cannot be resolved by your DNS
    - your network is not connected to the internet

You can also run your poetry command with -v to see more information.
"""
PDM_OFFLINE = """See /tmp/state/pdm/log/pdm-lock-a9f35q0x.log for detailed debug log.
[ConnectError]: [Errno 111] Connection refused
WARNING: Add '-v' to see the detailed traceback
"""
UV_OFFLINE = """Using CPython 3.11.7 interpreter at: /usr/bin/python3
error: Request failed after 3 retries in 4.5s
  cause: Failed to fetch: https://index.example.org/simple/redis/
  cause: tcp connect error
  cause: Connection refused (os error 111)
"""
UV_NO_SOLUTION = """Using CPython 3.11.7 interpreter at: /usr/bin/python3
  × No solution found when resolving dependencies:
  ╰─▶ Because your project depends on redis>=5.0.2 and redis<5, we can conclude that your project's requirements are unsatisfiable.
"""


@pytest.mark.parametrize("output, reason", [
    (POETRY_OFFLINE, "All attempts to connect to index.example.org failed."),
    (PDM_OFFLINE, "[ConnectError]: [Errno 111] Connection refused"),
    (UV_OFFLINE, "error: Request failed after 3 retries in 4.5s cause: Connection refused (os error 111)"),
    (UV_NO_SOLUTION, ("× No solution found when resolving dependencies: Because your project depends "
                      "on redis>=5.0.2 and redis<5, we can conclude that your project's requirements "
                      "are unsatisfiable.")),
    ("one line\n", "one line"),
    ("", "no output"),
], ids=["poetry-offline", "pdm-offline", "uv-offline", "uv-no-solution", "plain", "silent"])
def test_the_warning_quotes_the_lockers_reason_not_its_hint(output: str, reason: str) -> None:
    assert failure_reason(output.encode()) == reason


# `poetry export` output (poetry-plugin-export): no header, every package pinned
EXPORTED = (
    'anyio==4.4.0 ; python_version >= "3.11" and python_version < "4.0" \\\n'
    "    --hash=sha256:5aadc6a1bbb7cdb0bede386cac5e2940f5e2ff3aa20277e991cf028e0585ce94 \\\n"
    "    --hash=sha256:c1b2d8f46a8a812513012e1107cb0e68c17159a7a594208005a57dc776e1bdc7\n"
    'fastapi==0.110.3 ; python_version >= "3.11" and python_version < "4.0" \\\n'
    "    --hash=sha256:fd7600612f755e4050beb74001310b5a7e1796d149c2ee363124abdfa0289d32\n"
)
POETRY2 = (
    '[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n\n'
    '[tool.poetry]\npackage-mode = false\n\n'
    '[tool.poetry.dependencies]\nfastapi = ">=0.110"\n'
)


def poetry_without_poetry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    repo = init_repo(tmp_path / "svc", {**PROJECT, "poetry.lock": "# an existing lock\n", **files})
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    (empty / "git").symlink_to(shutil.which("git") or "/usr/bin/git")
    monkeypatch.setenv("PATH", str(empty))
    return repo


@pytest.mark.parametrize("requirements, command", [
    (EXPORTED, "`poetry export -f requirements.txt -o requirements.txt`"),
    ("\n".join(line for line in EXPORTED.splitlines() if "--hash" not in line).replace(" \\", "") + "\n",
     "`poetry export --without-hashes -f requirements.txt -o requirements.txt`"),
], ids=["hashes", "without-hashes"])
def test_an_exported_requirements_file_is_left_alone_and_noted(
    tmp_path: Path, run, monkeypatch, requirements: str, command: str
) -> None:
    """Poetry 2: [tool.poetry.dependencies] beside a [project] table without dependencies."""
    repo = poetry_without_poetry(tmp_path, monkeypatch, {
        "pyproject.toml": POETRY2, "requirements.txt": requirements})
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert (repo / "requirements.txt").read_text() == requirements
    assert f'redis = "{REDIS_REQUIREMENT.removeprefix("redis")}"' in (repo / "pyproject.toml").read_text()
    assert ("note: redis: requirements.txt pins every package like `poetry export` output, so "
            "the dependencies went into pyproject.toml; once poetry.lock is refreshed, "
            f"regenerate requirements.txt ({command}, from poetry-plugin-export).") in out
    assert "warning: poetry.lock was not refreshed (poetry is not installed)" in out


def test_a_hand_written_requirements_file_in_a_poetry_project_is_not_noted(
    tmp_path: Path, run, monkeypatch
) -> None:
    repo = poetry_without_poetry(tmp_path, monkeypatch, {
        "pyproject.toml": POETRY2, "requirements.txt": "fastapi>=0.110\n"})
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert (repo / "requirements.txt").read_text() == "fastapi>=0.110\n"
    assert "poetry export" not in out


def test_the_lock_of_a_uv_workspace_the_project_is_a_member_of_is_named(tmp_path: Path, run) -> None:
    files = {f"api/{name}": text for name, text in PROJECT.items() if name != "docker-compose.yml"}
    files["pyproject.toml"] = '[tool.uv.workspace]\nmembers = ["api"]\n'
    files["uv.lock"] = "version = 1\n"
    repo = init_repo(tmp_path / "ws", files)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert REDIS_REQUIREMENT in (repo / "api" / "pyproject.toml").read_text()
    assert (repo / "uv.lock").read_text() == "version = 1\n"
    assert ("warning: uv.lock (the lock of the workspace api/pyproject.toml is a member of) was "
            "not refreshed; it no longer matches the new dependencies. Run `uv lock` and commit "
            "uv.lock.") in out


# Poetry 2 keeps the dependencies in [tool.poetry.dependencies] and says so with
# `dynamic = ["dependencies"]` (the form Poetry 2's documentation gives for projects
# that keep Poetry-only constraints); no setuptools table, no requirements.txt
POETRY2_DYNAMIC = (
    '[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    'dynamic = ["dependencies"]\n\n'
    '[tool.poetry]\npackage-mode = false\n\n'
    '[tool.poetry.dependencies]\nfastapi = ">=0.110"\n'
)


def test_poetry2_dynamic_dependencies_go_into_poetrys_table_and_the_lock_is_named(
    tmp_path: Path, run, monkeypatch
) -> None:
    """It used to write a new requirements.txt nobody reads and leave poetry.lock stale in silence."""
    repo = poetry_without_poetry(tmp_path, monkeypatch, {"pyproject.toml": POETRY2_DYNAMIC})
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert not (repo / "requirements.txt").exists()
    pyproject = (repo / "pyproject.toml").read_text()
    assert pyproject == POETRY2_DYNAMIC + f'redis = "{REDIS_REQUIREMENT.removeprefix("redis")}"\n'
    assert ("warning: poetry.lock was not refreshed (poetry is not installed); it no longer "
            "matches the new dependencies. Run `poetry lock` and commit poetry.lock.") in out
    # the no-op twin: a second run changes nothing and warns of nothing
    head = git(repo, "rev-parse", "HEAD")
    code, out, _ = run(repo, "add", "redis", "--commit")
    assert code == 0 and git(repo, "rev-parse", "HEAD") == head
    assert "warning:" not in out


def test_every_lock_beside_the_pyproject_is_refreshed_or_named(
    tmp_path: Path, run, local_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A project moving from Poetry to uv keeps both locks: uv.lock is refreshed by uv,
    and poetry.lock, whose locker is not installed, is named (it was left stale in silence)."""
    bin_dir = tmp_path / "bin"  # uv and git on PATH, the test environment's poetry not
    bin_dir.mkdir()
    (bin_dir / "uv").symlink_to(Path(UV).resolve())
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    repo = init_repo(tmp_path / "svc", {**PROJECT, "poetry.lock": "# an existing lock\n"})
    subprocess.run([UV, "lock", "-q"], cwd=repo, check=True)
    git(repo, "add", "uv.lock")
    git(repo, "commit", "-qm", "lock")
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert 'name = "redis"' in (repo / "uv.lock").read_text()
    assert (repo / "poetry.lock").read_text() == "# an existing lock\n"
    assert ("warning: poetry.lock was not refreshed (poetry is not installed); it no longer "
            "matches the new dependencies. Run `poetry lock` and commit poetry.lock.") in out
    assert "uv.lock was not refreshed" not in out
    head = git(repo, "rev-parse", "HEAD")
    code, out, _ = run(repo, "add", "redis", "--commit")
    assert code == 0 and git(repo, "rev-parse", "HEAD") == head and "warning:" not in out


def test_a_poetry_lock_above_the_app_is_named_with_its_directory(tmp_path: Path, run, monkeypatch) -> None:
    """The app in backend/ with its own pyproject.toml, and a Poetry project at the root
    that depends on it by path: the root's poetry.lock cannot be refreshed from a copy of
    backend/ alone, so it is named, with the directory to run Poetry in."""
    files = {f"backend/{name}": text for name, text in PROJECT.items()}
    files["pyproject.toml"] = (
        '[tool.poetry]\nname = "platform"\nversion = "0.1.0"\ndescription = ""\nauthors = []\n\n'
        '[tool.poetry.dependencies]\npython = "^3.11"\nsvc = { path = "backend", develop = true }\n'
    )
    files["poetry.lock"] = "# the platform's lock\n"
    repo = poetry_without_poetry(tmp_path, monkeypatch, files)
    code, out, err = run(repo, "--project", "backend", "add", "redis", "--commit")
    assert code == 0, err
    assert REDIS_REQUIREMENT in (repo / "backend" / "pyproject.toml").read_text()
    assert ("warning: poetry.lock (the lock of pyproject.toml, which names backend/) was not "
            "refreshed; it no longer matches the new dependencies. Run `poetry lock` and commit "
            "poetry.lock.") in out
    code, out, _ = run(repo, "--project", "backend", "remove", "redis", "--commit")
    assert code == 0
    assert "warning: poetry.lock (the lock of pyproject.toml, which names backend/)" in out


def test_a_lock_beside_a_requirements_file_is_named_with_the_add_command(
    tmp_path: Path, run, monkeypatch
) -> None:
    """The dependencies live in requirements.txt and a uv.lock sits beside it: uv reads
    pyproject.toml, so the lock is named with the `uv add` that would put them there."""
    repo = poetry_without_poetry(tmp_path, monkeypatch, {
        "requirements.txt": "fastapi>=0.110\n", "uv.lock": "version = 1\n"})
    git(repo, "rm", "-q", "pyproject.toml", "poetry.lock")
    git(repo, "commit", "-qm", "requirements only")
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert (repo / "requirements.txt").read_text() == f"fastapi>=0.110\n{REDIS_REQUIREMENT}\n"
    assert ("warning: uv.lock was not refreshed: the dependencies changed in requirements.txt, "
            "which uv does not read, so the lock does not have them. If uv installs this project, "
            f"run `uv add '{REDIS_REQUIREMENT}'` and commit uv.lock.") in out
    code, out, _ = run(repo, "remove", "redis", "--commit")
    assert code == 0
    assert "run `uv remove redis` and commit uv.lock." in out


@pytest.mark.parametrize("copy", ["ADD . .", "COPY . /app", "COPY requirements.txt ."])
def test_a_requirements_file_the_image_installs_beside_the_project_table_is_named(
    tmp_path: Path, run, copy: str
) -> None:
    """pyproject.toml lists the dependencies, the Dockerfile installs requirements.txt: the
    image would lack the new ones, so the note says where else they must go."""
    dockerfile = f"FROM python:3.12-slim\nWORKDIR /app\n{copy}\nRUN pip install -r requirements.txt\n"
    repo = init_repo(tmp_path / "svc", {**PROJECT, "requirements.txt": "fastapi==0.115.0\n",
                                        "Dockerfile": dockerfile})
    code, out, err = run(repo, "add", "redis", "--commit", "--no-lock")
    assert code == 0, out + err
    assert "redis" in (repo / "pyproject.toml").read_text()
    assert ("the image installs requirements.txt (its Dockerfile runs `pip install -r`), and the "
            "dependencies went into pyproject.toml, which lists them: add them to requirements.txt "
            "too, or the image lacks them.") in out
