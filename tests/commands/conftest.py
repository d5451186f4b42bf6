"""Real git repositories in tmp_path, isolated from the user's git configuration."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: builds a pre-commit environment (a minute or so)")


@pytest.fixture
def git_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GIT_"):  # a hook running this suite leaks GIT_INDEX_FILE & co.
            monkeypatch.delenv(name)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def make_repo(git_env: None) -> Callable[[Path], Path]:
    """Make an empty repository at a path: empty template, fixed identity, no signing."""

    def make(path: Path) -> Path:
        template = path.parent / f"{path.name}-empty-template"
        template.mkdir(parents=True)
        path.mkdir(parents=True)
        for args in (
            ["init", "-q", "-b", "main", f"--template={template}"],
            ["config", "user.name", "Test User"],
            ["config", "user.email", "test@example.com"],
            ["config", "commit.gpgsign", "false"],
        ):
            subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)
        return path

    return make
