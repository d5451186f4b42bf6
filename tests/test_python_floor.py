"""A project that allows or builds on a Python older than the generated code needs
is told so, naming the file and line that say it; one that needs 3.11 is told nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import init_repo

APP = "from fastapi import FastAPI\n\napp = FastAPI()\n"
PEP621 = '[project]\nname = "app"\nversion = "0"\nrequires-python = "{}"\ndependencies = ["fastapi"]\n'
POETRY = ('[tool.poetry]\nname = "app"\nversion = "0"\n\n[tool.poetry.dependencies]\n'
          'python = "{}"\nfastapi = "*"\n')
DOCKERFILE = "FROM python:3.12 AS build\nCOPY . /src\n\nFROM {}\nCOPY . /app\nCMD [\"uvicorn\", \"main:app\"]\n"


def warnings(run: Callable[..., tuple[int, str, str]], repo: Path) -> list[str]:
    code, out, err = run(repo, "add", "redis", "--dry-run", "--json")
    assert code == 0, err
    return [w for w in json.loads(out)["warnings"] if "need Python" in w]


@pytest.mark.parametrize(("pyproject", "says"), [
    (PEP621.format(">=3.8"), "pyproject.toml allows Python >=3.8"),
    (PEP621.format(">=3.9,<4"), "pyproject.toml allows Python >=3.9,<4"),
    (POETRY.format("^3.10"), "pyproject.toml allows Python ^3.10"),
    (POETRY.format(">=3.8 || ^3.12"), "pyproject.toml allows Python >=3.8 || ^3.12"),
])
def test_a_declared_older_python_is_named(tmp_path: Path, run: Callable[..., tuple[int, str, str]],
                                          pyproject: str, says: str) -> None:
    repo = init_repo(tmp_path / "app", {"main.py": APP, "pyproject.toml": pyproject})
    found = warnings(run, repo)
    assert len(found) == 1 and says in found[0] and 'requires-python = ">=3.11"' in found[0]


@pytest.mark.parametrize("pyproject", [PEP621.format(">=3.11"), PEP621.format("~=3.12"),
                                       POETRY.format("^3.11"), POETRY.format("3.12.*")])
def test_a_python_new_enough_is_not_mentioned(tmp_path: Path, run: Callable[..., tuple[int, str, str]],
                                              pyproject: str) -> None:
    repo = init_repo(tmp_path / "app", {"main.py": APP, "pyproject.toml": pyproject})
    assert warnings(run, repo) == []


def test_the_image_that_runs_is_the_last_stage(tmp_path: Path, run: Callable[..., tuple[int, str, str]]) -> None:
    files = {"main.py": APP, "pyproject.toml": PEP621.format(">=3.11"),
             "Dockerfile": DOCKERFILE.format("docker.io/library/python:3.9-slim")}
    found = warnings(run, init_repo(tmp_path / "old", files))
    assert len(found) == 1 and "Dockerfile:4 builds on python:3.9" in found[0]
    assert "pyproject.toml" not in found[0]
    files["Dockerfile"] = "FROM python:3.9 AS deps\nCOPY . /src\n\nFROM python:3.12-slim\nCOPY . /app\n"
    assert warnings(run, init_repo(tmp_path / "new", files)) == []
