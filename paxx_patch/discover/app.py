"""The module that creates the FastAPI app, and the name of the app or its factory.

`main.py` is often a shim (`from app.factory import create_app; app = create_app()`):
the shim is followed to the module that defines the factory, since that is where
middleware and routes are added.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence

from paxx_patch.discover import FileReader, module_name, module_paths, parse_python
from paxx_patch.errors import PaxxError

CANDIDATES = ("main.py", "app/main.py", "app.py", "src/main.py", "app/app.py")
SHIM_DEPTH = 3  # a shim of a shim of a shim is as far as anyone goes


def find_app(
    files: FileReader, here: Callable[[str], str], configured: str | None,
    in_package: Sequence[str] = (),
) -> tuple[str | None, str | None]:
    """(repository path of the module, name of the app or factory), or (None, None)."""
    if configured:
        module, _, name = configured.partition(":")
        paths = [here(p) for p in module_paths(module)]
        files.load(paths)
        path = next((p for p in paths if files.get(p) is not None), None)
        if path is None:
            raise PaxxError(
                f"{here('pyproject.toml')}: [tool.paxx-patch] app = {configured!r} names "
                f"{paths[0]}, which is not in the repository. Fix the setting."
            )
        tree = parse_python(path, files.get(path) or b"")
        followed = _follow(files, here, module, tree, name or "app")
        return followed or (path, name or "app")
    files.load(map(here, in_package))
    for candidate in (*CANDIDATES, *in_package):
        path = here(candidate)
        raw = files.get(path)
        if raw is None:
            continue
        tree = parse_python(path, raw)
        found = _app_in_module(tree)
        if found:
            return path, found
        followed = _follow(files, here, module_name(candidate), tree, None)
        if followed:
            return followed
    return None, None


def _is_fastapi_call(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "FastAPI")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "FastAPI")
    )


def _factory(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == name
        and any(_is_fastapi_call(n) for n in ast.walk(node))
    ), None)


def _app_in_module(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_fastapi_call(node.value):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                return target.id
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            _is_fastapi_call(n) for n in ast.walk(node)
        ):
            return node.name
    return None


def _follow(
    files: FileReader, here: Callable[[str], str], module: str, tree: ast.Module, name: str | None
) -> tuple[str, str] | None:
    """From `app = create_app()` with `create_app` imported, to the module defining it."""
    for called in _module_level_calls(tree, name):
        current, current_tree, wanted = module, tree, called
        for _ in range(SHIM_DEPTH):
            source = _imported_from(current_tree, current, wanted)
            if source is None:
                break
            current, wanted = source
            paths = [here(p) for p in (*module_paths(current), current.replace(".", "/") + "/__init__.py")]
            files.load(paths)
            path = next((p for p in paths if files.get(p) is not None), None)
            if path is None:
                break
            current_tree = parse_python(path, files.get(path) or b"")
            if _factory(current_tree, wanted) is not None:
                return path, wanted
    return None


def _module_level_calls(tree: ast.Module, name: str | None) -> list[str]:
    """Functions called to make module-level names: `app = create_app()` -> create_app."""
    return [
        node.value.func.id for node in tree.body
        if isinstance(node, ast.Assign) and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name) and name in (None, node.targets[0].id)
        and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
    ]


def _imported_from(tree: ast.Module, module: str, name: str) -> tuple[str, str] | None:
    """(module, original name) `name` is imported from in `tree` (the module `module`)."""
    for node in tree.body:
        if not isinstance(node, ast.ImportFrom):
            continue
        for alias in node.names:
            if (alias.asname or alias.name) != name:
                continue
            if node.level == 0:
                return (node.module or "", alias.name) if node.module else None
            package = module.split(".")[: -node.level]
            return ".".join([*package, *([node.module] if node.module else [])]), alias.name
    return None
