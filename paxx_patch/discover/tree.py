"""The base commit's file names, listed once, and the scans that pick candidates.

Discovery never opens every file: names decide which few are worth reading
(modules called like settings or an app, files a Dockerfile or compose file
points at), and only a small project is read in full. The listing itself is one
`git ls-tree -r`; what is opened stays the same size however large the
repository grows.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable

# directories that hold no part of the running app
IGNORED_DIRS = frozenset({
    "tests", "test", "testing", "docs", "doc", "node_modules", "site-packages", "migrations",
    "alembic", "frontend", "examples", "example", "e2e", "benchmarks", "fixtures", "venv",
    "__pycache__", "dist", "build", "vendor", "third_party",
})
READ_ALL_BELOW = 1500  # a project with fewer Python files is read in full
SETTINGS_NAME = re.compile(r"(?i)(conf|setting|environ|\benv\b)")
APP_NAME = re.compile(
    r"(?i)(^|/)(main|app|server|application|asgi|api|factory|setup|registrar|web|create_app|"
    r"__init__|run|start|core)\.py$"
)


def ignored(path: str) -> bool:
    """Tests, docs, migrations, vendored code, hidden and template directories."""
    parts = path.split("/")[:-1]
    return any(p in IGNORED_DIRS or p.startswith((".", "{{")) for p in parts)


class Tree:
    def __init__(self, paths: Iterable[str]) -> None:
        self.paths = list(paths)
        self._set = set(self.paths)
        self.python = [p for p in self.paths if p.endswith(".py") and not ignored(p)]

    def __contains__(self, path: str) -> bool:
        return path in self._set

    def under(self, root: str, paths: Iterable[str]) -> list[str]:
        prefix = f"{root}/" if root else ""
        return [p for p in paths if p.startswith(prefix)]

    def candidates(self, root: str, name: re.Pattern[str]) -> list[str]:
        """Python files under `root` worth opening: all of them in a small project,
        else those whose path matches `name`."""
        files = self.under(root, self.python) or self.python
        if len(files) < READ_ALL_BELOW:
            return files
        return [p for p in files if name.search(p)]

    def resolve(self, module: str, near: str = "") -> str | None:
        """The file of dotted `module` (`app.core.config`), matched by path suffix;
        of several, the one closest to `near`."""
        if not module:
            return None
        tail = module.replace(".", "/")
        found = [
            p for p in self.python
            if p in (f"{tail}.py", f"{tail}/__init__.py")
            or p.endswith((f"/{tail}.py", f"/{tail}/__init__.py"))
        ]
        if not found:
            return None
        return min(found, key=lambda p: (-common_depth(p, near), len(p)))

    def named(self, pattern: re.Pattern[str], root: str = "") -> list[str]:
        return [p for p in self.under(root, self.paths) if pattern.search(p)]


def common_depth(a: str, b: str) -> int:
    """How many leading directories `a` and `b` share."""
    n = 0
    for x, y in zip(a.split("/")[:-1], b.split("/")[:-1], strict=False):
        if x != y:
            break
        n += 1
    return n


def import_root(path: str, module: str) -> str | None:
    """The directory `module` is imported from, given the file `path` it lives in."""
    tail = module.replace(".", "/")
    for suffix in (f"{tail}.py", f"{tail}/__init__.py"):
        if path == suffix:
            return ""
        if path.endswith("/" + suffix):
            return path[: -len(suffix) - 1]
    return None


def dotted(path: str, root: str) -> str:
    """`backend/app/core/config.py` under root `backend` -> `app.core.config`."""
    relative = posixpath.relpath(path, root or ".").removesuffix(".py")
    return relative.removesuffix("/__init__").replace("/", ".")
