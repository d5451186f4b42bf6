"""The base commit's file names, listed once, and the scans that pick candidates.

Discovery never opens every file: names decide which few are worth reading
(modules called like settings or an app, files a Dockerfile or compose file
points at), and only a small project is read in full. The listing is one
`git ls-tree -r`, kept as one string: every lookup is a substring search of it
(C speed), never a Python loop over every path, so what discovery costs stays
flat however large the repository grows.
"""

from __future__ import annotations

import posixpath
import re
import sys
from collections.abc import Iterable

# directories that hold no part of the running app
IGNORED_DIRS = frozenset({
    "tests", "test", "testing", "docs", "doc", "node_modules", "site-packages", "migrations",
    "alembic", "frontend", "examples", "example", "e2e", "benchmarks", "fixtures", "venv",
    "__pycache__", "dist", "build", "vendor", "third_party",
})
READ_ALL_BELOW = 1500  # a project with fewer Python files is read in full
SETTINGS_NAME = re.compile(r"(?i)(conf|setting|environ|\benv\b)[^/]*(/.*)?\.py$")
SETTINGS_NEEDLES = ("conf", "setting", "environ", "env")
# a small project is read in full; in a large one these names are read, after the
# run commands' targets (which find most apps wherever they are)
APP_NAMES = ("main", "app", "server", "application", "asgi", "api", "factory")
APP_NAME = re.compile(rf"(?i)(^|/)({'|'.join(APP_NAMES)})\.py$")
APP_NEEDLES = tuple(f"{n}.py" for n in APP_NAMES)


def ignored(path: str) -> bool:
    """Tests, docs, migrations, vendored code, hidden and template directories."""
    parts = path.split("/")[:-1]
    return any(p in IGNORED_DIRS or p.startswith((".", "{{")) for p in parts)


class Tree:
    def __init__(self, listing: str) -> None:
        """`listing`: the paths, NUL-separated, as `git ls-tree -r -z --name-only` gives them."""
        self._raw = "\0" + listing.strip("\0") + "\0"
        self._lower = self._raw.lower()
        self._found: dict[str, bool] = {}
        self._resolved: dict[tuple[str, str], str | None] = {}
        self._searched: dict[tuple[str, bool], list[str]] = {}
        self.python_count = self._raw.count(".py\0")
        self._python: list[str] | None = None

    def __contains__(self, path: str) -> bool:
        if path not in self._found:
            self._found[path] = f"\0{path}\0" in self._raw
        return self._found[path]

    def has_prefix(self, directory: str) -> bool:
        return f"\0{directory.rstrip('/')}/" in self._raw

    def top_level_modules(self, directory: str) -> set[str]:
        """The names importable from `directory` as the import root: its `.py` files
        and the directories under it that hold Python files (what isort and ruff find
        on their source paths)."""
        prefix = re.escape(f"{directory.rstrip('/')}/" if directory else "")
        found = re.finditer(rf"\0{prefix}([A-Za-z_]\w*)(?:\.py\0|/[^\0]*\.py\0)", self._raw)
        return {m.group(1) for m in found}

    def small(self) -> bool:
        return self.python_count < READ_ALL_BELOW

    def python(self) -> list[str]:
        """Every Python file outside tests and the like (a small project's only)."""
        if self._python is None:
            self._python = [
                p for p in self._raw.split("\0") if p.endswith(".py") and not ignored(p)
            ]
        return self._python

    def _hits(self, needle: str, lower: bool = False) -> list[str]:
        """The paths that contain `needle`."""
        key = (needle, lower)
        if key not in self._searched:
            self._searched[key] = self._search(needle, lower)
        return self._searched[key]

    def _search(self, needle: str, lower: bool) -> list[str]:
        text = self._lower if lower else self._raw
        out = []
        at = text.find(needle)
        while at != -1:
            start = text.rfind("\0", 0, at) + 1
            end = text.find("\0", at)
            out.append(self._raw[start:end])
            at = text.find(needle, end)
        return out

    def named(self, pattern: re.Pattern[str], needles: Iterable[str], root: str = "") -> list[str]:
        """Paths under `root` matching `pattern`; each one contains one of `needles`
        (lower case), which is what is searched for."""
        prefix = f"{root}/" if root else ""
        found = {p for n in needles for p in self._hits(n, lower=True)}
        return sorted(p for p in found if p.startswith(prefix) and pattern.search(p))

    def candidates(self, root: str, pattern: re.Pattern[str], needles: Iterable[str]) -> list[str]:
        """Python files under `root` worth opening: all of them in a small project,
        else those whose path matches `pattern`."""
        if self.small():
            files = self.python()
            prefix = f"{root}/" if root else ""
            return [p for p in files if p.startswith(prefix)] or files
        named = [p for p in self.named(pattern, needles, root) if not ignored(p)]
        return named or [p for p in self.named(pattern, needles) if not ignored(p)]

    def ending(self, suffix: str) -> list[str]:
        """Paths that are `suffix` or end with `/suffix`."""
        return [p for p in self._hits(suffix) if p == suffix or p.endswith(f"/{suffix}")]

    def resolve(self, module: str, near: str = "") -> str | None:
        """The file of dotted `module` (`app.core.config`), matched by path suffix;
        of several, the one closest to `near`."""
        if not module or module.split(".")[0] in sys.stdlib_module_names:
            return None
        key = (module, near)
        if key not in self._resolved:
            tail = module.replace(".", "/")
            found = [
                p for p in self._hits(tail)  # one search finds both spellings of the module
                if p in (f"{tail}.py", f"{tail}/__init__.py")
                or p.endswith((f"/{tail}.py", f"/{tail}/__init__.py"))
                if not ignored(p)
            ]
            self._resolved[key] = min(
                found, key=lambda p: (-common_depth(p, near), len(p))
            ) if found else None
        return self._resolved[key]

    def any_template_dirs(self) -> bool:
        """Paths with `{{ ... }}`: a cookiecutter or copier template, not a project."""
        return "{{" in self._raw


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
