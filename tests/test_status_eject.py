"""status --json and eject on a real install."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import REDIS_VERSION, git


def test_status_json_reports_versions_drift_and_discovery(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    (sample_repo / "services" / "cache.py").write_text("# changed\n")
    code, out, err = run(sample_repo, "status", "--json")
    assert code == 0, err
    info = json.loads(out)
    redis = info["components"]["redis"]
    assert redis["version"] == REDIS_VERSION and redis["bundled_version"] == REDIS_VERSION
    assert redis["update_available"] is False
    assert redis["modified"] == ["services/cache.py"] and redis["missing"] == []
    assert redis["files"] == ["services/__init__.py", "services/cache.py"]
    project = info["project"]
    assert project["settings_file"] == "settings.py" and project["settings_class"] == "Settings"
    assert project["settings_import"] == "from settings import settings"
    assert project["compose_file"] == "docker-compose.yml"
    assert project["dependency_file"] == "pyproject.toml" and project["dependency_style"] == "pep621"
    assert project["app_file"] == "main.py" and project["app_name"] == "app"
    # not configured, but the lock says which service got redis's environment
    assert project["app_service"] == "app"


def test_status_with_nothing_installed(sample_repo: Path, run) -> None:
    code, out, _err = run(sample_repo, "status", "--json")
    assert code == 0 and json.loads(out)["components"] == {}


def test_eject_commits_the_lock_and_verify_stops_checking(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    cache = sample_repo / "services" / "cache.py"
    cache.write_text(cache.read_text() + "# mine\n")
    assert run(sample_repo, "verify")[0] == 1
    code, _out, err = run(sample_repo, "eject", "redis", "services/cache.py")
    assert code == 0, err
    assert git(sample_repo, "log", "-1", "--format=%s") == "paxx(redis): eject services/cache.py\n"
    assert git(sample_repo, "status", "--porcelain") == " M services/cache.py\n"
    assert run(sample_repo, "verify")[0] == 0
    info = json.loads(run(sample_repo, "status", "--json")[1])
    assert info["components"]["redis"]["ejected"] == ["services/cache.py"]
    # a second eject changes nothing
    head = git(sample_repo, "rev-parse", "HEAD")
    assert run(sample_repo, "eject", "redis", "services/cache.py")[0] == 0
    assert git(sample_repo, "rev-parse", "HEAD") == head


def test_eject_of_a_file_the_component_does_not_own(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    code, _out, err = run(sample_repo, "eject", "redis", "main.py")
    assert code == 2 and "not a file of this component" in err


def test_eject_during_a_rebase_offers_only_what_eject_can_do(sample_repo: Path, run, state) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    (sample_repo / ".git" / "rebase-merge").mkdir()
    before = state(sample_repo)
    code, out, err = run(sample_repo, "eject", "redis")
    assert code == 2, out + err
    assert "a rebase is in progress" in err and "git rebase --abort" in err
    assert "--branch" not in err and "-o DIR" not in err  # eject has neither
    assert state(sample_repo) == before
    # add, which has them, still offers them
    code, _, err = run(sample_repo, "add", "storage", "--commit")
    assert code == 2 and "--branch NAME or -o DIR" in err


def test_list_and_show(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "redis", "--commit")[0] == 0
    rows = json.loads(run(sample_repo, "list", "--json")[1])
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"redis", "storage", "metrics", "logging", "postgres", "tasks", "websocket", "celery", "postgis"}
    assert by_name["redis"]["installed"] == REDIS_VERSION and by_name["storage"]["installed"] is None
    shown = json.loads(run(sample_repo, "show", "storage", "--json")[1])
    assert "minio" in shown["services"] and "STORAGE_S3_SECRET_KEY" in shown["env"]
    assert shown["dependencies"] == ["aioboto3>=13.0", "aiofiles>=24.0"]
    assert shown["variables"] == {"bucket": "uploads"}
    assert shown["variable_patterns"] == {"bucket": "[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"}
