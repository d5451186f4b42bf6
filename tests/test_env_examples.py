"""Which env example gets the variables: not a frontend's beside the app, and a
monorepo's above the project when the project has none of its own."""

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
