"""The tasks component in a repository: it brings redis when redis is missing, its
worker runs the app's own build with the app's environment, and redis cannot be
removed from under it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import REDIS_COMMITS, git, init_repo

PROJECT = {
    "pyproject.toml": (
        '[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
        'dependencies = [\n    "fastapi>=0.110",\n    "pydantic-settings>=2.0",\n]\n'
    ),
    "settings.py": (
        "from pydantic_settings import BaseSettings\n\n\n"
        "class Settings(BaseSettings):\n    app_name: str = \"svc\"\n\n\nsettings = Settings()\n"
    ),
    "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
    "docker-compose.yml": (
        "services:\n  api:\n    build:\n      context: .\n      dockerfile: docker/Dockerfile\n"
        "    env_file: .env\n    ports:\n      - \"127.0.0.1:8000:8000\"\n"
    ),
    ".env": "APP_NAME=svc\n",
}


def _components(repo: Path, base: str) -> list[tuple[str, str]]:
    log = git(repo, "log", "--reverse", "--format=%(trailers:key=Paxx-Component,valueonly)"
              "%x00%(trailers:key=Paxx-Mutator,valueonly)", f"{base}..HEAD")
    return [tuple(p.strip() for p in line.split("\0"))  # type: ignore[misc]
            for line in log.strip().split("\n\n") if line.strip()]


def _compose(repo: Path) -> dict:  # type: ignore[type-arg]
    return YAML(typ="safe").load((repo / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def add_after_redis(tmp_path: Path, run, component: str) -> tuple[Path, list[str]]:
    """`add COMPONENT` on PROJECT, which brings redis first: the repository, and the
    mutators that made the component's own commits."""
    repo = init_repo(tmp_path / "svc", PROJECT)
    base = git(repo, "rev-parse", "HEAD").strip()
    code, out, err = run(repo, "add", component, "--commit")
    assert code == 0, err
    assert f"redis is added first: {component} requires it." in out
    return repo, [m for c, m in _components(repo, base) if c == component]


def remove_leaves_redis_alone(tmp_path: Path, run, repo: Path, component: str) -> None:
    """`remove COMPONENT` commits for it only, and leaves the tree `add redis` makes."""
    before = git(repo, "rev-parse", "HEAD").strip()
    code, _, err = run(repo, "remove", component, "--commit")
    assert code == 0, err
    assert {c for c, _ in _components(repo, before)} == {component}
    alone = init_repo(tmp_path / "alone", PROJECT)
    assert run(alone, "add", "redis", "--commit")[0] == 0
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == git(alone, "rev-parse", "HEAD^{tree}").strip()


def test_add_tasks_brings_redis_first_and_remove_gives_back_the_tree(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "svc", PROJECT)
    base = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    code, out, err = run(repo, "add", "tasks", "--commit")
    assert code == 0, err
    assert "redis is added first: tasks requires it." in out
    rows = _components(repo, base)
    components = [c for c, _ in rows]
    assert components == ["redis"] * components.count("redis") + ["tasks"] * components.count("tasks")
    # no env commit: a committed .env stands where .env.example would go
    assert [m for c, m in rows if c == "tasks"] == [
        "files", "compose", "dependencies", "settings", "wiring", "lock"]
    services = _compose(repo)["services"]
    worker = services["worker"]
    # the app's own build, environment file and environment, waiting for redis
    assert worker["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    assert worker["env_file"] == ".env"
    assert worker["environment"] == {"REDIS_URL": "redis://redis:6379/0"}
    assert worker["command"] == ["arq", "services.tasks.WorkerSettings"]
    assert worker["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert "ports" not in worker and worker["healthcheck"]["test"][:3] == ["CMD", "arq", "--check"]
    # the app does not wait for the worker
    assert services["api"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    main = (repo / "main.py").read_text()
    assert "await close_tasks()" in main and "await close_redis()" in main
    assert "arq>=" in (repo / "pyproject.toml").read_text()
    assert "tasks_queue_name: str = " in (repo / "settings.py").read_text()
    assert run(repo, "verify")[0] == 0
    assert git(repo, "status", "--porcelain") == ""

    head = git(repo, "rev-parse", "HEAD").strip()
    code, out, err = run(repo, "add", "tasks", "--commit")
    assert code == 0, err
    assert "Nothing to change." in out and git(repo, "rev-parse", "HEAD").strip() == head

    # redis last even when named first: nothing is left requiring what goes
    code, _, err = run(repo, "remove", "redis", "tasks", "--commit")
    assert code == 0, err
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == tree
    removed = _components(repo, head)
    assert [c for c, _ in removed] == sorted((c for c, _ in removed), key=["tasks", "redis"].index)


def test_add_tasks_where_redis_is_installed_adds_tasks_only(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, out, err = run(sample_repo, "add", "tasks", "--commit")
    assert code == 0, err
    assert "added first" not in out and "already installed" not in out
    assert {c for c, _ in _components(sample_repo, base)} == {"tasks"}
    assert "TASKS_QUEUE_NAME=arq:queue" in (sample_repo / ".env.example").read_text()
    worker = _compose(sample_repo)["services"]["worker"]
    # the sample's app waits for its database too: so does the worker
    assert worker["depends_on"] == {"db": {"condition": "service_healthy"},
                                    "redis": {"condition": "service_healthy"}}
    assert worker["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert run(sample_repo, "verify")[0] == 0
    code, _, err = run(sample_repo, "remove", "tasks", "--commit")
    assert code == 0, err
    assert git(sample_repo, "rev-parse", "HEAD^{tree}").strip() == git(
        sample_repo, "rev-parse", f"{base}^{{tree}}").strip()


def test_remove_redis_is_refused_while_tasks_is_installed(sample_repo: Path, run, state) -> None:
    assert run(sample_repo, "add", "tasks", "--commit")[0] == 0
    assert git(sample_repo, "rev-list", "--count", "HEAD").strip() == str(1 + REDIS_COMMITS + 7)
    before = state(sample_repo)
    code, out, err = run(sample_repo, "remove", "redis", "--commit")
    assert code == 2, out + err
    assert "tasks is installed and requires redis" in err
    assert "Remove tasks first (`paxx-patch remove tasks`)" in err
    assert "`paxx-patch remove tasks redis`" in err and "nothing was changed" in err
    assert state(sample_repo) == before


def test_a_project_without_an_app_service_gets_no_worker(tmp_path: Path, run) -> None:
    files = {k: v for k, v in PROJECT.items() if k != "docker-compose.yml"}
    repo = init_repo(tmp_path / "svc", files)
    code, out, err = run(repo, "add", "tasks", "--commit")
    assert code == 0, err
    assert "has no service that runs your app" in out and "worker runs the way your app does" in out
    assert "by hand" not in out + err
    assert "arq " in out  # the next steps say how to start it
    services = _compose(repo)["services"]
    assert set(services) == {"redis"}
    assert run(repo, "verify")[0] == 0


def _bundle(root: Path, name: str, requires: list[str]) -> Path:
    directory = root / name
    (directory / "templates").mkdir(parents=True)
    (directory / "bundle.toml").write_text(
        f'name = "{name}"\nversion = "1.0.0"\ndescription = "d"\nrequires = {requires!r}\n'
        .replace("'", '"'))
    return directory


def test_requires_names_known_bundles_without_cycles(tmp_path: Path) -> None:
    import pytest

    from paxx_patch.bundle import load_bundle_dir
    from paxx_patch.runtime.errors import PaxxError

    _bundle(tmp_path, "one", ["two"])
    _bundle(tmp_path, "two", ["one"])
    with pytest.raises(PaxxError, match=r"two/bundle.toml: key `requires`: 'one' makes a cycle "
                       r"\(one -> two -> one\)"):
        load_bundle_dir(tmp_path / "one")
    _bundle(tmp_path, "three", ["nosuch"])
    with pytest.raises(PaxxError, match="key `requires`: 'nosuch' is not a known component"):
        load_bundle_dir(tmp_path / "three")
    # found beside it, or on the search path (the built-in redis)
    _bundle(tmp_path, "four", ["redis", "five"])
    _bundle(tmp_path, "five", [])
    assert load_bundle_dir(tmp_path / "four").requires == ("redis", "five")


def test_the_worker_it_adds_is_not_taken_for_the_app_by_the_next_component(tmp_path: Path, run) -> None:
    """The api service says nothing that tells it from the worker (its ports and command
    live in a file it extends): the worker runs `arq`, so it is not the app."""
    compose = "services:\n  api:\n    build: .\n"
    repo = init_repo(tmp_path / "svc", {**PROJECT, "docker-compose.yml": compose})
    assert run(repo, "add", "tasks", "--commit", "--no-lock")[0] == 0
    assert _compose(repo)["services"]["worker"]["build"] == "."
    code, out, err = run(repo, "add", "storage", "--commit", "--no-lock")
    assert code == 0, out + err
    assert "several services build the app" not in out + err
    services = _compose(repo)["services"]
    assert services["api"]["environment"]["STORAGE_BACKEND"] == "s3"  # beside the compose MinIO


def _with_own_redis(healthcheck: str) -> dict[str, str]:
    return {**PROJECT, "docker-compose.yml": PROJECT["docker-compose.yml"] + (
        "  redis:\n    image: redis:7-alpine\n" + healthcheck)}


def test_the_worker_waits_for_a_redis_without_healthcheck_to_start_not_to_be_healthy(
        tmp_path: Path, run) -> None:
    """The project's own redis has no healthcheck: `service_healthy` on it would stop
    `docker compose up` ("dependency redis has no healthcheck"); the worker waits for it
    to start, as the app does. One with a healthcheck is waited for to be healthy."""
    repo = init_repo(tmp_path / "plain", _with_own_redis(""))
    code, _, err = run(repo, "add", "tasks", "--commit")
    assert code == 0, err
    services = _compose(repo)["services"]
    assert "healthcheck" not in services["redis"]
    assert services["worker"]["depends_on"]["redis"] == {"condition": "service_started"}
    assert services["api"]["depends_on"]["redis"] == {"condition": "service_started"}

    checked = init_repo(tmp_path / "checked", _with_own_redis(
        "    healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"ping\"]\n"))
    code, _, err = run(checked, "add", "tasks", "--commit")
    assert code == 0, err
    assert _compose(checked)["services"]["worker"]["depends_on"]["redis"] == {"condition": "service_healthy"}
