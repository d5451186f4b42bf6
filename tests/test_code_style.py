"""The project's formatter and import-sorter configuration, and generated modules laid
out to pass it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from paxx_patch.discover.style import CodeStyle, find_style
from paxx_patch.import_order import separate_kinds
from tests.conftest import SAMPLE, git, init_repo


class Files:
    """A FileReader over a dict, as discovery reads the base commit."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = {k: v.encode() for k, v in files.items()}

    def load(self, paths: object) -> None:
        pass

    def get(self, path: str) -> bytes | None:
        return self.files.get(path)

    def listing(self) -> str:
        return "\0".join(self.files)


def style_of(files: dict[str, str]) -> CodeStyle:
    import tomllib

    pyproject = tomllib.loads(files.get("pyproject.toml", ""))
    return find_style(Files(files), "", pyproject)


@pytest.mark.parametrize(("files", "expected"), [
    ({}, CodeStyle()),
    ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n[tool.ruff.lint.isort]\nlines-between-types = 1\n"},
     CodeStyle(100, 1, "pyproject.toml")),
    # the older spelling, without `lint.`
    ({"pyproject.toml": "[tool.ruff]\nline-length = 120\n[tool.ruff.isort]\nlines-between-types = 2\n"},
     CodeStyle(120, 2, "pyproject.toml")),
    # ruff.toml is what ruff reads when both are there; black's width then does not count
    ({"pyproject.toml": "[tool.ruff]\nline-length = 100\n[tool.black]\nline-length = 110\n",
      "ruff.toml": "line-length = 79\n[lint.isort]\nlines-between-types = 1\n"},
     CodeStyle(79, 1, "ruff.toml")),
    ({"pyproject.toml": "[tool.black]\nline-length = 99\n[tool.isort]\nlines_between_types = 1\n"},
     CodeStyle(99, 1, "pyproject.toml")),
    # values no formatter keeps are typos: the defaults stand
    ({"pyproject.toml": "[tool.ruff]\nline-length = 0\n[tool.ruff.lint.isort]\nlines-between-types = true\n"},
     CodeStyle(88, 0, "pyproject.toml")),
])
def test_the_style_is_read_where_ruff_black_and_isort_keep_it(files: dict[str, str], expected: CodeStyle) -> None:
    assert style_of(files) == expected


BLOCK = """\
\"\"\"Doc.\"\"\"

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import redis
from redis import Redis

if TYPE_CHECKING:
    import collections.abc
    from collections.abc import Callable

x = 1
"""


def test_import_kinds_are_separated_in_every_block() -> None:
    separated = separate_kinds(BLOCK, 1)
    assert "import os\n\nfrom typing import TYPE_CHECKING\n" in separated
    assert "import redis\n\nfrom redis import Redis\n" in separated
    assert "    import collections.abc\n\n    from collections.abc import Callable\n" in separated
    assert separate_kinds(separated, 1) == separated  # already separated: unchanged
    assert separate_kinds(BLOCK, 0) == BLOCK


def test_generated_modules_follow_the_projects_isort_options(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    repo = init_repo(tmp_path / "app", SAMPLE)
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + '[tool.ruff.lint]\nselect = ["I"]\n'
                         "[tool.ruff.lint.isort]\nlines-between-types = 1\n")
    git(repo, "commit", "-qam", "isort: a blank line between import kinds")
    code, out, err = run(repo, "add", "redis", "storage", "metrics", "--commit", "-q")
    assert code == 0, out + err
    generated = sorted(str(p) for p in (repo / "services").glob("*.py"))
    assert len(generated) >= 4
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", *generated],
                          cwd=repo, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "import weakref\n\nfrom decimal import Decimal\n" in (repo / "services/cache.py").read_text()
    code, out, err = run(repo, "verify")
    assert code == 0, out + err
