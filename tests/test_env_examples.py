"""Which env example and which compose service get the variables: not a frontend's
beside the app, and a monorepo's env example above the project when it has none."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import init_repo

SETTINGS = ("from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n"
            "    app_name: str = \"svc\"\n\n\nsettings = Settings()\n")
PYPROJECT = ('[project]\nname = "svc"\nversion = "0.1.0"\n'
             'dependencies = ["fastapi>=0.110", "pydantic-settings>=2.0"]\n')
MAIN = "from fastapi import FastAPI\n\napp = FastAPI()\n"


def test_a_frontends_env_example_is_not_the_apps(tmp_path: Path, run) -> None:
    frontend = "NEXT_PUBLIC_API_URL=http://localhost:8000\n"
    repo = init_repo(tmp_path / "svc", {
        "pyproject.toml": PYPROJECT, "settings.py": SETTINGS, "main.py": MAIN,
        "web/package.json": '{"name": "web"}\n', "web/.env.local.example": frontend,
    })
    code, out, err = run(repo, "add", "redis", "--commit", "--no-lock")
    assert code == 0, out + err
    assert (repo / "web" / ".env.local.example").read_text() == frontend
    assert "REDIS_URL=" in (repo / ".env.example").read_text()


def test_a_monorepos_env_example_above_the_project_is_used(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "mono", {
        "README.md": "# platform\n", ".env.example": "# the platform's variables\nLOG_LEVEL=info\n",
        "py/pyproject.toml": PYPROJECT, "py/settings.py": SETTINGS, "py/main.py": MAIN,
    })
    code, out, err = run(repo, "add", "redis", "--commit", "--no-lock")
    assert code == 0, out + err
    assert not (repo / "py" / ".env.example").exists()
    text = (repo / ".env.example").read_text()
    assert text.startswith("# the platform's variables\nLOG_LEVEL=info\n") and "\nREDIS_URL=" in text


COMPOSE_WITH_FRONTEND = '''services:
  web-ui:
    build:
      context: .
      dockerfile: docker/Dockerfile.ui
    ports:
      - "3000:3000"
  backend:
    build:
      context: .
      dockerfile: docker/Dockerfile.api
    ports:
      - "8080:8080"
'''


def test_a_frontend_built_from_a_node_image_is_not_the_app_service(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "svc", {
        "pyproject.toml": PYPROJECT, "settings.py": SETTINGS, "main.py": MAIN,
        "docker-compose.yml": COMPOSE_WITH_FRONTEND,
        "docker/Dockerfile.ui": "# the frontend\nFROM node:20-alpine AS deps\nCOPY web-ui .\n",
        "docker/Dockerfile.api": "FROM python:3.12-slim\nCOPY . .\nCMD uvicorn main:app\n",
    })
    code, out, err = run(repo, "add", "redis", "--commit", "--no-lock")
    assert code == 0, out + err
    assert "several services build the app" not in out + err
    from ruamel.yaml import YAML

    services = YAML(typ="safe").load((repo / "docker-compose.yml").read_text())["services"]
    assert services["backend"]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert "environment" not in services["web-ui"]
