"""The postgis component in a repository: the postgres service, whatever its name and
tag, switched to the PostGIS image of its major version in the quotes it was written
in, geoalchemy2 added, and `remove` putting the image back byte for byte."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from tests.conftest import git, init_repo

SETTINGS = ('from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n'
            '    app_name: str = "svc"\n\n\nsettings = Settings()\n')
PYPROJECT = ('[project]\nname = "svc"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
             'dependencies = ["fastapi>=0.110", "pydantic-settings>=2.0"]\n')
COMPOSE = '''services:
  api:
    build: .
  db:
    image: "postgres:16.4-alpine"   # our database
    healthcheck:
      test: ["CMD", "pg_isready"]
'''


def _project(tmp_path: Path, compose: str | None = COMPOSE) -> Path:
    files = {"pyproject.toml": PYPROJECT, "settings.py": SETTINGS,
             "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n"}
    if compose is not None:
        files["docker-compose.yml"] = compose
    return init_repo(tmp_path / "svc", files)


def test_add_postgis_switches_the_database_image_and_remove_puts_it_back(tmp_path: Path, run) -> None:
    repo = _project(tmp_path)
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, err
    assert "postgres is added first: postgis requires it." in out
    text = (repo / "docker-compose.yml").read_text()
    assert '    image: "postgis/postgis:16-3.5-alpine"   # our database\n' in text
    services = YAML(typ="safe").load(text)["services"]
    # the app reaches the database under the name it has here
    assert services["api"]["environment"]["DATABASE_URL"] == "postgresql+asyncpg://app@db:5432/app"
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "geoalchemy2>=" in (repo / "pyproject.toml").read_text()
    assert (repo / "services" / "geo.py").is_file()
    assert run(repo, "verify")[0] == 0
    with_postgres = git(repo, "rev-parse", "HEAD~4^{tree}").strip()

    code, _, err = run(repo, "remove", "postgis", "--commit")
    assert code == 0, err
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == with_postgres
    assert '    image: "postgres:16.4-alpine"   # our database\n' in (repo / "docker-compose.yml").read_text()


def test_a_postgres_image_of_no_major_version_is_left_with_a_warning(tmp_path: Path, run) -> None:
    repo = _project(tmp_path, COMPOSE.replace('"postgres:16.4-alpine"', "postgres"))
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, err
    assert "service 'db' runs postgres, whose tag names no major version" in out
    assert "postgis/postgis:MAJOR-3.5" in out
    assert "    image: postgres   # our database\n" in (repo / "docker-compose.yml").read_text()


def test_the_postgres_service_postgres_adds_is_switched_too(tmp_path: Path, run) -> None:
    repo = _project(tmp_path, None)
    code, _, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, err
    services = YAML(typ="safe").load((repo / "docker-compose.yml").read_text())["services"]
    assert services["postgres"]["image"] == "postgis/postgis:17-3.5-alpine"
    assert services["pgadmin"]["image"].startswith("dpage/pgadmin4")
    code, _, err = run(repo, "remove", "postgis", "postgres", "--commit")
    assert code == 0, err
    assert not (repo / "docker-compose.yml").exists()


def test_a_database_built_from_a_dockerfile_is_named_in_the_warning(tmp_path: Path, run) -> None:
    built = COMPOSE.replace('    image: "postgres:16.4-alpine"   # our database\n', "    build: ./db\n").replace(
        "  db:", "  postgres:")
    repo = _project(tmp_path, built)
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, err
    assert ("service 'postgres' is built from a Dockerfile, not run from an image; base that "
            "Dockerfile on postgis/postgis:MAJOR-3.5") in out
    assert "no service runs the image" not in out


def _alembic(repo: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "alembic", *args], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def test_alembics_template_imports_geoalchemy2_and_remove_takes_it_out(tmp_path: Path, run) -> None:
    """`alembic init` makes the project's migrations; after `add postgis` the revisions
    Alembic writes import geoalchemy2; `remove` leaves the template as it was."""
    repo = _project(tmp_path)
    _alembic(repo, "init", "alembic")
    _commit_all(repo, "migrations")
    template = repo / "alembic" / "script.py.mako"
    before = template.read_bytes()
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, out + err
    text = template.read_text()
    assert "import sqlalchemy as sa\nimport geoalchemy2\n${imports if imports else \"\"}\n" in text, text
    subjects = git(repo, "log", "--format=%s", "-8").splitlines()
    assert "paxx(postgis): import geoalchemy2 in alembic/script.py.mako" in subjects
    _alembic(repo, "revision", "-m", "shops")
    revision = next((repo / "alembic" / "versions").glob("*_shops.py"))
    compile(revision.read_bytes(), str(revision), "exec")
    assert "\nimport geoalchemy2\n" in revision.read_text()
    revision.unlink()
    assert run(repo, "verify")[0] == 0

    code, out, err = run(repo, "remove", "postgis", "--commit")
    assert code == 0, out + err
    assert template.read_bytes() == before
    assert "paxx(postgis): remove import geoalchemy2 from alembic/script.py.mako" in git(
        repo, "log", "--format=%s", "-8").splitlines()


def test_the_template_alembics_pyproject_config_names_is_the_one_edited(tmp_path: Path, run) -> None:
    repo = _project(tmp_path)
    _alembic(repo, "init", "--template", "pyproject", "db/migrations")
    assert "script_location" in (repo / "pyproject.toml").read_text()
    decoy = repo / "docs" / "example" / "script.py.mako"
    decoy.parent.mkdir(parents=True)
    decoy.write_bytes((repo / "db" / "migrations" / "script.py.mako").read_bytes())
    _commit_all(repo, "migrations")
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, out + err
    assert "import geoalchemy2\n" in (repo / "db" / "migrations" / "script.py.mako").read_text()
    assert "geoalchemy2" not in decoy.read_text()
    found = run(repo, "detect")[1]
    assert "db/migrations/script.py.mako" in found and "script_location = %(here)s/db/migrations" in found, found


def test_a_template_that_imports_geoalchemy2_already_is_left_alone(tmp_path: Path, run) -> None:
    repo = _project(tmp_path)
    _alembic(repo, "init", "alembic")
    template = repo / "alembic" / "script.py.mako"
    template.write_text(template.read_text().replace("import sqlalchemy as sa\n",
                                                     "import sqlalchemy as sa\nfrom geoalchemy2 import Geography\n"))
    _commit_all(repo, "migrations")
    before = template.read_bytes()
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, out + err
    assert template.read_bytes() == before
    assert not any("script.py.mako" in s for s in git(repo, "log", "--format=%s", "-12").splitlines())
    assert run(repo, "remove", "postgis", "--commit")[0] == 0
    assert template.read_bytes() == before


def test_several_templates_none_configured_is_a_warning_and_nothing_edited(tmp_path: Path, run) -> None:
    repo = _project(tmp_path)
    _alembic(repo, "init", "oss/migrations")
    template = (repo / "oss" / "migrations" / "script.py.mako").read_bytes()
    (repo / "ee" / "migrations").mkdir(parents=True)
    (repo / "ee" / "migrations" / "script.py.mako").write_bytes(template)
    ini = repo / "alembic.ini"
    ini.write_text(ini.read_text().replace("script_location = %(here)s/oss/migrations",
                                           "script_location = /app/oss/migrations"))
    _commit_all(repo, "migrations")
    code, out, err = run(repo, "add", "postgis", "--commit")
    assert code == 0, out + err
    assert ("postgis: Alembic's script_location points at none of the project's 2 revision templates "
            "(ee/migrations/script.py.mako, oss/migrations/script.py.mako), so none was edited: add "
            "`import geoalchemy2` to the one your migrations are written from") in out + err
    assert (repo / "oss" / "migrations" / "script.py.mako").read_bytes() == template
    assert (repo / "ee" / "migrations" / "script.py.mako").read_bytes() == template
