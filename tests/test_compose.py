"""The compose mutator: text insertions that keep every existing byte."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from paxx_patch.bundle import load_bundle
from paxx_patch.discover.project import Project
from paxx_patch.mutators import Context
from paxx_patch.mutators.compose import ComposeMutator, load_yaml
from paxx_patch.plan.engine import make_context
from paxx_patch.runtime.errors import PaxxError
from tests.conftest import git, init_repo

PROJECT = dataclasses.replace(Project.paxx_layout(), compose_file="compose.yaml")


def ctx(name: str = "redis", **changes: object) -> Context:
    return make_context(load_bundle(name), dataclasses.replace(PROJECT, **changes), {})


def apply(text: str | None, context: Context | None = None) -> str | None:
    out = ComposeMutator().apply("compose.yaml", None if text is None else text.encode(), context or ctx())
    return None if out is None else out.decode()


def only_gains_lines(before: str, after: str) -> bool:
    it = iter(after.splitlines())
    return all(any(line == other for other in it) for line in before.splitlines())


TRICKY = """\
# header comment — non-ASCII: café
version: "3.9"
x-common: &common
  restart: no
  environment:
    TZ: UTC
networks:
  backend: {}
services:
  web:
    <<: *common
    build: .
    ports: ["127.0.0.1:8000:8000"]
    command: >
      uvicorn main:app
      --reload
    environment:
      - DEBUG=1
    depends_on: [db]
  db:
    image: 'postgres:16'  # quoted on purpose
    profiles: ["db"]
#  old:
#    image: old
"""


def test_tricky_file_keeps_every_existing_line() -> None:
    context = ctx()
    after = apply(TRICKY, context)
    assert after is not None
    before_lines = TRICKY.splitlines()
    kept = [line for line in before_lines if line not in ("    depends_on: [db]",)]
    assert only_gains_lines("\n".join(kept), after)
    assert "  restart: no\n" in after and "'postgres:16'  # quoted on purpose" in after
    data = load_yaml("compose.yaml", after)
    assert data["services"]["redis"]["image"] == "redis:7-alpine"
    assert list(data["services"]["web"]["environment"]) == ["DEBUG=1", "REDIS_URL=redis://redis:6379/0"]
    deps = data["services"]["web"]["depends_on"]
    assert deps["db"]["condition"] == "service_started"
    assert deps["redis"]["condition"] == "service_healthy"
    assert "redis_data" in data["volumes"]
    assert any("long form" in n for n in context.notes)


def test_second_apply_is_a_no_op() -> None:
    once = apply(TRICKY)
    assert apply(once) == once


def test_missing_file_is_created() -> None:
    created = apply(None)
    assert created is not None
    assert load_yaml("compose.yaml", created)["services"]["redis"]["healthcheck"]


def test_existing_service_is_left_alone_and_reported() -> None:
    text = "services:\n  redis:\n    image: redis:6\n"
    context = ctx()
    after = apply(text, context)
    assert after is not None and "redis:6" in after and "redis:7" not in after
    assert any("already exists" in n for n in context.warnings)


def test_four_space_indentation_is_followed() -> None:
    text = "services:\n    api:\n        build: .\n"
    after = apply(text)
    assert after is not None
    assert "\n    redis:\n        image: redis:7-alpine\n" in after
    assert "\n        environment:\n            REDIS_URL: redis://redis:6379/0\n" in after


def test_crlf_and_bom_are_kept() -> None:
    text = "\ufeffservices:\r\n  db:\r\n    image: postgres\r\n"
    out = ComposeMutator().apply("compose.yaml", text.encode(), ctx())
    assert out is not None
    assert out.startswith("\ufeff".encode()) and b"\n" not in out.replace(b"\r\n", b"")


def test_malformed_yaml_names_file_and_line() -> None:
    with pytest.raises(PaxxError, match=r"compose.yaml:[34]: not valid YAML"):
        apply("services:\n  db:\n    image: [\n")


def test_env_prefix_reaches_app_environment() -> None:
    after = apply("services:\n  api:\n    build: .\n", ctx(env_prefix="SHOP_"))
    assert after is not None and "SHOP_REDIS_URL: redis://redis:6379/0" in after


def test_split_compose_files_that_run_no_app_get_the_services_in_the_dev_one(tmp_path: Path, run) -> None:
    from tests.layout_checks import Fit, assert_fits, project_repo

    repo = project_repo(tmp_path, "compose_split")
    prod = (repo / "docker-compose.prod.yml").read_text()
    note = ("note: no compose file has a service that builds or runs the app, so the "
            "components' services go into the main one, docker-compose.dev.yml (in ./)")
    assert_fits(repo, run, Fit("from app.settings import settings", "settings",
                               {"REDIS_URL": "redis_url"}, app="app.main:app", notes=(note,)))
    dev = (repo / "docker-compose.dev.yml").read_text()
    assert "  redis:\n" in dev and "  minio:\n" in dev and "  db:\n" in dev
    assert (repo / "docker-compose.prod.yml").read_text() == prod


def test_compose_files_elsewhere_that_run_no_app_pick_the_local_one_nearest(tmp_path: Path, run) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "svc"\nversion = "0.1.0"\ndependencies = ["fastapi"]\n',
        "settings.py": ("from pydantic_settings import BaseSettings\n\n\nclass Settings(BaseSettings):\n"
                        "    name: str = 'svc'\n\n\nsettings = Settings()\n"),
        "main.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
        "deploy/compose.prod.yaml": "services:\n  db:\n    image: postgres:16\n",
        "deploy/compose.local.yaml": "services:\n  db:\n    image: postgres:16\n",
        "deploy/extra/compose.yaml": "services:\n  mail:\n    image: mailhog/mailhog\n",
    }
    repo = init_repo(tmp_path / "svc", files)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, err
    assert "services go into the main one, deploy/compose.local.yaml (in deploy/)" in out
    assert "  redis:\n" in (repo / "deploy" / "compose.local.yaml").read_text()
    assert (repo / "deploy" / "compose.prod.yaml").read_text() == files["deploy/compose.prod.yaml"]
    head = git(repo, "rev-parse", "HEAD")  # the no-op twin
    code, out, _ = run(repo, "add", "redis", "--commit")
    assert code == 0 and "already installed" in out and git(repo, "rev-parse", "HEAD") == head
