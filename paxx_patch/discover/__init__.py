"""How `paxx_patch.discover.project` reads the target project: a few known paths, parsed.

The modules here find one convention each (the settings class, the app, the
dependency file); `paxx_patch.discover.project` puts their answers into a `Project`.
"""

from __future__ import annotations

import ast
import posixpath
import re
import sys
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from paxx_patch.runtime.errors import PaxxError


class FileReader(Protocol):
    def load(self, paths: Iterable[str]) -> None: ...
    def get(self, path: str) -> bytes | None: ...
    def listing(self) -> str: ...  # every path of the base commit, NUL-separated


@dataclass(frozen=True)
class Finding:
    """One convention found: what, where (file:line) and by which rule."""

    convention: str  # e.g. "settings class"
    value: str  # e.g. "app.core.config:Settings"
    file: str = ""
    line: int = 0
    rule: str = ""

    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def join(root: str, relative: str) -> str:
    """`relative` (which may climb with `..`) as a repository path under `root`."""
    path = posixpath.normpath(f"{root}/{relative}" if root else relative)
    if path == ".." or path.startswith("../"):
        raise PaxxError(f"{relative}: points outside the repository; use a path inside it.")
    return "" if path == "." else path


def decode(path: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PaxxError(f"{path}: not UTF-8 text ({e}). Save it as UTF-8.") from e


def read_toml(files: FileReader, path: str) -> dict[str, Any]:
    raw = files.get(path)
    if raw is None:
        return {}
    try:
        return tomllib.loads(decode(path, raw))
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(f"{path}: not valid TOML: {e}. Fix the syntax and commit it.") from e


def syntax_error(path: str, e: SyntaxError | ValueError, what: str = "Python syntax error") -> PaxxError:
    """The one message for a Python file paxx-patch cannot parse: where, why, and the
    fix, which is another Python when the file may be written for a newer one."""
    line = getattr(e, "lineno", None)
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return PaxxError(
        f"{path}{f':{line}' if line else ''}: {what} ({getattr(e, 'msg', e)}). Fix it and "
        f"commit, then run paxx-patch again; if the file is valid in a Python newer than "
        f"{running}, the one paxx-patch runs on, run paxx-patch with that Python instead "
        f"(e.g. `uvx --python 3.13 paxx-patch ...`)."
    )


def parse_python(path: str, raw: bytes) -> ast.Module:
    try:
        return ast.parse(decode(path, raw), filename=path)
    except SyntaxError as e:
        raise syntax_error(path, e) from e


def module_path(module: str) -> str:
    """`app.core.config` -> `app/core/config.py`."""
    return module.replace(".", "/") + ".py"


def module_paths(module: str) -> list[str]:
    """Where module `module` may live: in the project directory or in a src layout."""
    return [module_path(module), "src/" + module_path(module)]


def module_name(path: str) -> str:
    """`app/core/config.py` -> `app.core.config`; `src/pkg/config.py` -> `pkg.config`
    (a package in a src layout), but `src/config.py` -> `src.config`."""
    parts = path.removesuffix(".py").split("/")
    if parts[0] == "src" and len(parts) > 2:
        parts = parts[1:]
    return ".".join(parts)


def package_candidates(pyproject: dict[str, Any], names: tuple[str, ...]) -> list[str]:
    """`names` inside the package named like the project (`shop-api` -> `shop_api/`),
    at the top and in a src layout."""
    name = pyproject.get("project", {}).get("name") or (
        pyproject.get("tool", {}).get("poetry", {}).get("name")
    )
    if not isinstance(name, str) or not name:
        return []
    package = re.sub(r"[-.]+", "_", name).lower()
    return [f"{prefix}{package}/{n}" for prefix in ("", "src/") for n in names]
