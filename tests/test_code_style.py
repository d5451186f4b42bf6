"""The project's formatter and import-sorter configuration, and generated modules laid
out to pass it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from paxx_patch.discover.style import CodeStyle, find_style
from paxx_patch.edit.import_order import separate_kinds
from paxx_patch.edit.quotes import prefer_single_quotes
from tests.conftest import ROOT, SAMPLE, git, init_repo


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
    ({"ruff.toml": '[format]\nquote-style = "single"\n'}, CodeStyle(88, 0, "ruff.toml", "single")),
    ({"pyproject.toml": '[tool.ruff.format]\nquote-style = "preserve"\n'},
     CodeStyle(88, 0, "pyproject.toml", "double")),
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


def test_generated_modules_pass_ruff_format_with_single_quotes(
    tmp_path: Path, run: Callable[..., tuple[int, str, str]]
) -> None:
    # the sample project keeps line-length = 100; this one also wants single quotes
    repo = init_repo(tmp_path / "app", SAMPLE)
    pyproject = repo / "pyproject.toml"
    # docstring-code-format: ruff also formats the examples in reST `::` blocks
    pyproject.write_text(pyproject.read_text() + '[tool.ruff.format]\nquote-style = "single"\n'
                         'docstring-code-format = true\n'
                         '[tool.ruff.lint]\nselect = ["E", "F", "I", "Q"]\n'
                         '[tool.ruff.lint.flake8-quotes]\ninline-quotes = "single"\n')
    edited = ["settings.py", "main.py"]  # the fields and the wiring go into these
    subprocess.run([sys.executable, "-m", "ruff", "format", "--no-cache", *edited], cwd=repo, check=True,
                   capture_output=True)
    git(repo, "commit", "-qam", "single quotes")
    code, out, err = run(repo, "add", "redis", "storage", "metrics", "logging", "tasks", "--commit", "-q")
    assert code == 0, out + err
    generated = sorted(str(p) for p in (repo / "services").glob("*.py"))
    assert len(generated) >= 6
    generated += edited
    assert "redis_url: str = 'redis://" in (repo / "settings.py").read_text()
    for command in (["format", "--check", "--diff"], ["check"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *command, "--no-cache", *generated],
                              cwd=repo, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "_clients = weakref.WeakKeyDictionary" in (repo / "services/cache.py").read_text()
    assert '"""' in (repo / "services/cache.py").read_text()  # docstrings keep double quotes
    code, out, err = run(repo, "verify")
    assert code == 0, out + err


QUOTED = '''\
"""Doc "x"."""
x = "a"  # "comment"
y = f"{x!r}: b" + f"{x}" + rb"\\d"
z = "it's" + f"{'k'}"


def f() -> dict[str, str]:
    """Docstring."""
    return {"k": "v", "t": """triple"""}
'''


def _newer_pythons() -> list[str]:
    """Python 3.12+ interpreters on PATH, or in $PYENV_ROOT when PATH has only shims."""
    found = [p for p in (shutil.which(f"python3.{minor}") for minor in (12, 13, 14)) if p]
    root = os.environ.get("PYENV_ROOT")
    if root:
        found += sorted(str(p) for p in Path(root).glob("versions/3.1[2-9]*/bin/python3"))
    usable = []
    for python in found:
        probe = subprocess.run([python, "-c", "import sys; assert sys.version_info >= (3, 12)"],
                               capture_output=True, check=False)
        if probe.returncode == 0:
            usable.append(python)
    return usable


def test_single_quotes_are_the_same_under_each_tokenizer() -> None:
    # f-strings are one token up to Python 3.11 and several from 3.12: every
    # interpreter here must give the same text (and the one running this, the expected)
    source = QUOTED
    expected = source.replace('x = "a"', "x = 'a'").replace('f"{x!r}: b" + f"{x}" + rb"\\d"',
                                                             "f'{x!r}: b' + f'{x}' + rb'\\d'")
    expected = expected.replace('{"k": "v", "t"', "{'k': 'v', 't'")
    assert prefer_single_quotes(source) == expected
    script = "import sys; from paxx_patch.edit.quotes import prefer_single_quotes as p; " \
             "sys.stdout.write(p(sys.stdin.read()))"
    tried = 0
    for python in _newer_pythons():
        done = subprocess.run([python, "-c", script], input=source, capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)
        if done.returncode != 0 and "No module named" in done.stderr:
            continue
        assert done.returncode == 0, done.stderr
        assert done.stdout == expected, python
        tried += 1
    if not tried:
        pytest.skip("no python3.12 or python3.13 here to tokenize f-strings the newer way")
