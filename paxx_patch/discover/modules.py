"""Python modules of the base commit, parsed on demand, and names looked up across them."""

from __future__ import annotations

import ast
import posixpath

from paxx_patch.discover import FileReader, decode
from paxx_patch.discover.tree import Tree
from paxx_patch.runtime.errors import PaxxError

SEARCH_DEPTH = 6  # imports followed to find a definition


class Modules:
    """Parsed modules of the base commit, opened on demand, and name lookups across them."""

    def __init__(self, files: FileReader, tree: Tree) -> None:
        self.files = files
        self.tree = tree
        self._parsed: dict[str, ast.Module | None] = {}
        self.syntax_errors: dict[str, str] = {}  # path -> "line N: what", of those read

    def parsed(self) -> list[str]:
        """Paths of the modules read so far."""
        return [p for p, m in self._parsed.items() if m is not None]

    def parse(self, path: str) -> ast.Module | None:
        if path not in self._parsed:
            self.files.load([path])
            raw = self.files.get(path)
            try:
                self._parsed[path] = ast.parse(decode(path, raw)) if raw is not None else None
            except SyntaxError as e:
                self._parsed[path] = None  # not ours to judge here; the mutators will say
                self.syntax_errors[path] = f"line {e.lineno}: {e.msg}"
            except (PaxxError, ValueError):
                self._parsed[path] = None
        return self._parsed[path]

    def source_of(self, path: str, node: ast.ImportFrom) -> str | None:
        """The file an import statement in `path` reads from."""
        if node.level == 0:
            return self.tree.resolve(node.module or "", near=path)
        base = posixpath.dirname(path)
        for _ in range(node.level - 1):
            base = posixpath.dirname(base)
        tail = (node.module or "").replace(".", "/")
        stem = f"{base}/{tail}" if base and tail else base or tail
        for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
            if candidate in self.tree:
                return candidate
        return None

    def module_named(self, path: str, name: str) -> str | None:
        """The project module file `name` is bound to in `path` (`from . import config`,
        `import app.core.config as config`), or None."""
        module = self.parse(path)
        for node in module.body if module else []:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name and alias.name != "*":
                        inner = ast.ImportFrom(module=".".join(filter(None, [node.module, alias.name])),
                                               names=[], level=node.level)
                        return self.source_of(path, inner)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name:
                        return self.tree.resolve(alias.name, near=path)
        return None

    def lookup(self, path: str, name: str, depth: int = 0) -> tuple[str, ast.AST] | None:
        """Where `name`, as seen in module `path`, is defined: (file, node); for a name
        imported from outside the project, (module name, the ImportFrom)."""
        module = self.parse(path)
        if module is None or depth > SEARCH_DEPTH:
            return None
        for node in module.body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == name:
                return path, node
        for node in module.body:
            if isinstance(node, ast.Assign | ast.AnnAssign) and name in targets(node):
                return path, node
        for node in module.body:
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        source = self.source_of(path, node)
                        if source is None:
                            return f"{node.module}", node
                        return self.lookup(source, alias.name, depth + 1) or (f"{node.module}", node)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if (alias.asname or alias.name.split(".")[0]) == name:
                        return alias.name, node
        for node in module.body:  # `from .settings import *` in a package's __init__
            if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
                source = self.source_of(path, node)
                found = self.lookup(source, name, depth + 1) if source else None
                if found is not None:
                    return found
        return None


def targets(node: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]
