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


# A vector-search app: its database is PostgreSQL with pgvector, under the name `db`,
# and the backend has its own DATABASE_URL with the credentials of that service.
VECTOR_COMPOSE = '''services:
  db:
    image: pgvector/pgvector:pg17
    ports:
      - "5432:5432"
    environment:
      POSTGRES_USER: postgres
      POSTGRES_PASSWORD: postgres
      POSTGRES_DB: surf
    volumes:
      - postgres_data:/var/lib/postgresql/data
  backend:
    build: .
    environment:
      DATABASE_URL: postgresql+asyncpg://postgres:postgres@db:5432/surf
    depends_on:
      - db
volumes:
  postgres_data:
'''


def test_a_database_of_the_same_server_is_used_and_the_apps_own_url_kept(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "svc", {**PROJECT, "docker-compose.yml": VECTOR_COMPOSE})
    before = git(repo, "rev-parse", "HEAD^{tree}").strip()
    code, out, err = run(repo, "add", "postgres", "--commit")
    assert code == 0, out + err
    text = (repo / "docker-compose.yml").read_text()
    services = YAML(typ="safe").load(text)["services"]
    # no second PostgreSQL publishing 5432 and mounting postgres_data beside the first
    assert "postgres" not in services and set(services) == {"db", "backend", "pgadmin"}
    assert services["pgadmin"]["depends_on"] == {"db": {"condition": "service_started"}}
    # the backend's own URL holds its password: ours would replace it
    assert services["backend"]["environment"] == {
        "DATABASE_URL": "postgresql+asyncpg://postgres:postgres@db:5432/surf"}
    assert "service 'db' already runs the postgres server (pgvector/pgvector:pg17)" in out + err
    assert "It sets POSTGRES_DB, POSTGRES_PASSWORD, POSTGRES_USER otherwise than 'postgres' would" in out + err
    assert "service 'backend' sets DATABASE_URL itself" in out + err and "DATABASE_PASSWORD is not added" in out + err
    assert compose_config(repo).returncode == 0
    lock = (repo / "paxx-patch.lock").read_text()
    assert 'postgres = "db"' in lock
    code, out, err = run(repo, "remove", "postgres", "--commit")
    assert code == 0, out + err
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == before


def test_the_next_steps_name_the_service_that_stands_in(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "svc", {**PROJECT, "docker-compose.yml": VECTOR_COMPOSE})
    code, out, err = run(repo, "add", "postgres", "--commit")
    assert code == 0, out + err
    assert "`docker compose up -d db`" in out and "up -d postgres`" not in out, out
