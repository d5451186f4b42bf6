"""The postgres component in a repository: a project without a database gets one, exactly
removable; a project that has its own database setup is refused, untouched."""

from __future__ import annotations

import subprocess
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import git, init_repo

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
    "docker-compose.yml": "services:\n  api:\n    build: .\n    ports:\n      - \"8000:8000\"\n",
}


def compose_config(repo: Path, *profile: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker-compose", *profile, "config", "-q"], cwd=repo,
                          capture_output=True, text=True)


def test_add_then_remove_gives_back_the_tree(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "svc", PROJECT)
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    code, _, err = run(repo, "add", "postgres", "--commit")
    assert code == 0, err
    compose = YAML(typ="safe").load((repo / "docker-compose.yml").read_text())
    assert compose["services"]["postgres"]["image"].startswith("postgres:17")
    assert compose["services"]["postgres"]["ports"] == ["127.0.0.1:5432:5432"]
    assert compose["services"]["pgadmin"]["profiles"] == ["tools"]
    # the app waits for the database, not for the optional tool under a profile
    assert compose["services"]["api"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert compose["services"]["api"]["environment"]["DATABASE_URL"].startswith("postgresql+asyncpg://")
    for profile in ((), ("--profile", "tools")):
        proc = compose_config(repo, *profile)
        assert proc.returncode == 0, proc.stderr
    settings = (repo / "settings.py").read_text()
    assert "database_password: SecretStr" in settings
    assert "close_db" in (repo / "main.py").read_text()
    assert run(repo, "verify")[0] == 0
    assert "sqlalchemy[asyncio]>=2.0" in (repo / "pyproject.toml").read_text()
    code, _, err = run(repo, "remove", "postgres", "--commit")
    assert code == 0, err
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == tree


def test_a_project_with_its_own_database_is_refused(sample_repo: Path, run, state) -> None:
    before = state(sample_repo)
    code, _, err = run(sample_repo, "add", "postgres", "--commit")
    assert code == 2
    line = next(i for i, text in enumerate((sample_repo / "settings.py").read_text().splitlines(), 1)
                if text.strip().startswith("database_url:"))
    assert f"settings.py:{line}: Settings.database_url shows that the project already has its own " \
           "postgres setup" in err
    assert "nothing was changed" in err
    assert state(sample_repo) == before
