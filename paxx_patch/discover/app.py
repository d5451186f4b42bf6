"""The module that creates the FastAPI app, and the name of the app or its factory.

Rules, in order:
- the ASGI target the project runs (`uvicorn pkg.main:app`, `--factory
  pkg.app:create_app`, `fastapi run pkg/main.py`, `uvicorn.run("pkg.main:app")`),
  read from Dockerfile CMD/ENTRYPOINT, compose `command`, Procfile, Makefile,
  shell scripts, `[project.scripts]` and the Python modules scanned;
- else a module-level `app = FastAPI(...)`, else a factory (a function that makes
  `FastAPI(...)` and returns it), in the modules named like an app (all modules of
  a small project), the one nearest the top first. A class of the same module
  deriving from FastAPI (`class ShopAPI(FastAPI)`) counts as FastAPI.
A module-level `app = create_app()` whose factory is imported is followed to the
module that defines it: that is where middleware and routes go.
"""

from __future__ import annotations

import ast
import re
import tomllib
from dataclasses import dataclass, replace

from paxx_patch.discover import FileReader, decode
from paxx_patch.discover.modules import Modules
from paxx_patch.discover.tree import (
    APP_NAME,
    APP_NEEDLES,
    Tree,
    common_depth,
    ignored,
    import_root,
)
from paxx_patch.runtime.errors import PaxxError

SHIM_DEPTH = 3  # a shim of a shim of a shim is as far as anyone goes
RUNNERS = re.compile(
    r"(?P<runner>uvicorn|gunicorn|hypercorn|granian|daphne|fastapi\s+(?:run|dev)|uvicorn\.run\(|"
    r"wsgi_app\s*=)"
    r"(?P<args>[^\n]*)"
)
TARGET = re.compile(r"""(?<![\w./-])['"]?(?P<module>[A-Za-z_][\w.]*):(?P<name>[A-Za-z_]\w*)(?P<call>\(\))?""")
PATH_TARGET = re.compile(r"(?<![\w./-])(?P<path>[\w./-]+\.py)\b")
COMMAND_FILES = re.compile(
    r"(?i)(^|/)([\w.-]*dockerfile[\w.-]*|[\w.-]*compose[\w.-]*\.ya?ml|procfile|makefile|"
    r"[\w-]+\.sh|pyproject\.toml|gunicorn[\w.-]*\.py)$"
)
COMMAND_NEEDLES = ("dockerfile", "compose", "procfile", "makefile", ".sh", "pyproject.toml", "gunicorn")
# `python -m orders` runs orders/__main__.py, which may start the server itself
MODULE_RUN = re.compile(r"python[\d.]*['\"]?(?:[\s,]+['\"]?-[A-Za-z]+['\"]?)*[\s,]+['\"]?-m['\"]?[\s,]+['\"]?(?P<module>[A-Za-z_][\w.]*)")
NOT_APPS = frozenset({"uvicorn", "gunicorn", "hypercorn", "granian", "daphne", "fastapi", "pip",
                      "pytest", "alembic", "celery", "arq", "venv", "ensurepip", "http"})
# modules that make a FastAPI app that is not the one deployed
STAND_INS = re.compile(
    r"(?i)(^|/|_)(mocks?|fakes?|stubs?|examples?|demos?|samples?|tests?|conftest|loadtests?)([_./]|$)")
RUN_APP = re.compile(r"^\s*(?P<name>[A-Za-z_]\w*)\s*(?:[,)]|\()")  # uvicorn.run(app, ...) or (make_app(...), ...)


@dataclass(frozen=True)
class AppFound:
    file: str
    name: str  # the module-level app, or the factory to wire inside
    line: int
    rule: str
    import_root: str | None = None  # where the run command's dotted target resolves from


def find_app(
    files: FileReader, tree: Tree, root: str, configured: str | None, modules: Modules
) -> AppFound | None:
    if configured:
        module, _, name = configured.partition(":")
        path = tree.resolve(module, near=f"{root}/x" if root else "")
        if path is None:
            raise PaxxError(
                f"[tool.paxx-patch] app = {configured!r} names {module.replace('.', '/')}.py, "
                "which is not in the repository. Fix the setting."
            )
        return _follow(modules, path, name or "app", "configured app") or AppFound(
            path, name or "app", 0, "configured app"
        )
    # a run target of a mock or load-test server comes after every other one
    targets = sorted(asgi_targets(files, tree, root), key=lambda t: STAND_INS.search(t[0]) is not None)
    for path, name, rule, target_root in targets:
        found = _follow(modules, path, name, rule)
        if found is not None:
            return replace(found, import_root=target_root)
    candidates = tree.candidates(root, APP_NAME, APP_NEEDLES)
    files.load(candidates)
    scanned = [p for p in candidates if b"FastAPI" in (files.get(p) or b"")]
    nearest = sorted(scanned, key=lambda p: (p.count("/"), p))
    # a mock or example app comes after every real one, module-level or made by a factory
    for group in ([p for p in nearest if not STAND_INS.search(p)], [p for p in nearest if STAND_INS.search(p)]):
        for path in group:
            parsed = modules.parse(path)
            app = _module_app(parsed) if parsed else None
            if app is not None:
                return AppFound(path, app[0], app[1], "module-level `= FastAPI(...)`")
        for path in group:
            parsed = modules.parse(path)
            factory = next((n for n in parsed.body if _is_factory(n, app_classes(parsed))),
                           None) if parsed else None
            if isinstance(factory, ast.FunctionDef):
                return AppFound(path, factory.name, factory.lineno, "function returning FastAPI(...)")
        for path in group:
            parsed = modules.parse(path)
            made = _made_in_a_method(parsed) if parsed else None
            if made is not None:
                return AppFound(path, made[0], made[1], "a method making `self.app = FastAPI(...)`")
    return None


def _made_in_a_method(tree: ast.Module) -> tuple[str, int] | None:
    """(class, line) of a class whose method makes `self.NAME = FastAPI(...)` (an API
    server object that runs uvicorn itself)."""
    classes = app_classes(tree)
    for node in tree.body:
        if not isinstance(node, ast.ClassDef) or node.name in classes:
            continue
        for method in node.body:
            if not isinstance(method, ast.FunctionDef) or not method.args.args:
                continue
            me = method.args.args[0].arg
            for stmt in method.body:
                if isinstance(stmt, ast.Assign) and _is_fastapi_call(stmt.value, classes) and any(
                    isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == me
                    for t in stmt.targets
                ):
                    return node.name, stmt.lineno
    return None


def asgi_targets(files: FileReader, tree: Tree, root: str) -> list[tuple[str, str, str, str | None]]:
    """(file, app or factory name, rule) of every ASGI target the project's run
    commands name, in the order found (project directory first)."""
    out: list[tuple[str, str, str, str | None]] = []
    commands = tree.named(COMMAND_FILES, COMMAND_NEEDLES)
    _targets_in(files, tree, commands, root, out)
    if not out:  # then `uvicorn.run("pkg.main:app")` in a module named like an app
        python = tree.candidates(root, APP_NAME, APP_NEEDLES)
        files.load(python)
        _targets_in(files, tree, [p for p in python if b"uvicorn.run(" in (files.get(p) or b"")],
                    root, out)
    return sorted(out, key=lambda t: -common_depth(t[0], f"{root}/x" if root else ""))


def _targets_in(
    files: FileReader, tree: Tree, sources: list[str], root: str,
    out: list[tuple[str, str, str, str | None]], depth: int = 0,
) -> None:
    sources = sorted(sources, key=lambda p: (not p.startswith(root), p.count("/")))
    files.load(sources)
    for source in sources:
        raw = files.get(source)
        if raw is None:
            continue
        text = decode(source, raw)
        if depth < SHIM_DEPTH and source.endswith("pyproject.toml"):
            # a console script (`[project.scripts] serve = "orders.cli:main"`) may start the server
            for module in _script_modules(text):
                started = tree.resolve(module, near=source)
                if started is not None:
                    _targets_in(files, tree, [started], root, out, depth + 1)
        if depth < SHIM_DEPTH:
            for m in MODULE_RUN.finditer(text):
                module = m.group("module")
                if module.split(".")[0] in NOT_APPS:
                    continue
                main = tree.resolve(f"{module}.__main__", near=source) or tree.resolve(module, near=source)
                if main is not None and main != source:
                    _targets_in(files, tree, [main], root, out, depth + 1)
        for m in RUNNERS.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            rule = f"{m.group('runner').strip('(')} target in {source}:{line}"
            args = m.group("args")
            if source.endswith(".py") and args.startswith(".run("):
                args = _call_arguments(text, m.start("args") + len(".run("))
            for t in TARGET.finditer(args):
                path = tree.resolve(t.group("module"), near=source)
                target_root = import_root(path, t.group("module")) if path else None
                if path is not None and target_root is not None:
                    out.append((path, t.group("name"), rule, target_root))
            # `uvicorn.run(app, ...)`: the regex takes it as the runner `uvicorn` and `.run(...`
            called = m.group("args").startswith(".run(")
            named = RUN_APP.match(args.removeprefix(".run(")) if called else None
            if named is not None and source.endswith(".py") and (not out or out[-1][2] != rule):
                out.append((source, named.group("name"), rule, None))
            if not out or out[-1][2] != rule:
                for p in PATH_TARGET.finditer(m.group("args")):
                    path = next((c for c in tree.ending(p.group("path").lstrip("./"))
                                 if not ignored(c)), None)
                    if path is not None:
                        out.append((path, "app", rule, None))


def _script_modules(text: str) -> list[str]:
    """The modules of a pyproject's console scripts (PEP 621 and Poetry)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    tables = [data.get("project", {}).get("scripts"), data.get("tool", {}).get("poetry", {}).get("scripts")]
    return [
        str(value).partition(":")[0] for table in tables if isinstance(table, dict)
        for value in table.values() if isinstance(value, str) and ":" in value
    ]


def _call_arguments(text: str, start: int) -> str:
    """The text of a call's arguments from `start` (after its `(`) to its `)`, over
    several lines: `uvicorn.run(\n    "pkg.web.application:get_app",\n    factory=True)`."""
    depth = 0
    for end in range(start, min(len(text), start + 2000)):
        if text[end] in "([{":
            depth += 1
        elif text[end] in ")]}":
            if depth == 0:
                return text[start:end]
            depth -= 1
    return text[start:start + 2000]


def app_classes(tree: ast.Module) -> frozenset[str]:
    """FastAPI and the module's classes that derive from it, directly or through
    each other."""
    classes = {"FastAPI"}
    for node in tree.body:  # a base is defined above the class that uses it
        if isinstance(node, ast.ClassDef) and any(_class_name(b) in classes for b in node.bases):
            classes.add(node.name)
    return frozenset(classes)


def _class_name(node: ast.expr) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(
        node, ast.Attribute) else None


def _is_fastapi_call(node: ast.AST | None, classes: frozenset[str] = frozenset({"FastAPI"})) -> bool:
    return isinstance(node, ast.Call) and _class_name(node.func) in classes


def _is_factory(node: ast.AST, classes: frozenset[str] = frozenset({"FastAPI"})) -> bool:
    return isinstance(node, ast.FunctionDef) and any(
        _is_fastapi_call(n, classes) for n in ast.walk(node))


def _module_level(body: list[ast.stmt]) -> list[ast.stmt]:
    """The statements run at import: the module's, and those of its `if`/`try`/`with`
    blocks (`if settings.debug: app = FastAPI(debug=True)`), not functions' or classes'."""
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If | ast.With | ast.AsyncWith | ast.Try | ast.TryStar):
            for block in ("body", "orelse", "finalbody"):
                out += _module_level(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                out += _module_level(handler.body)
    return out


def _module_app(tree: ast.Module) -> tuple[str, int] | None:
    classes = app_classes(tree)
    for node in _module_level(tree.body):
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_fastapi_call(node.value, classes):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                return target.id, node.lineno
    return None


def _follow(modules: Modules, path: str, name: str, rule: str) -> AppFound | None:
    """From the target `path:name` to where the app is made: the module-level
    `name = FastAPI()`, the factory `name` itself, or the factory `name = f()` calls,
    across imports."""
    for _ in range(SHIM_DEPTH + 1):
        module = modules.parse(path)
        if module is None:
            return None
        classes = app_classes(module)
        for node in _module_level(module.body):
            if isinstance(node, ast.Assign | ast.AnnAssign) and (
                _is_fastapi_call(node.value, classes) and name in _names(node)
            ):
                return AppFound(path, name, node.lineno, rule)
            if isinstance(node, ast.FunctionDef) and node.name == name and _is_factory(node, classes):
                return AppFound(path, name, node.lineno, rule)
        made = next((
            node.value.func for node in module.body
            if isinstance(node, ast.Assign | ast.AnnAssign) and name in _names(node)
            and isinstance(node.value, ast.Call)
        ), None)
        called = made.id if isinstance(made, ast.Name) else made.attr if isinstance(
            made, ast.Attribute) else None
        if called is None:
            found = modules.lookup(path, name)  # `from app.main import app` in a shim
            if found is None or found[0] == path or not found[0].endswith(".py"):
                return None
            path = found[0]
            continue
        local = next((n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == called), None)
        if local is not None:
            return AppFound(path, name, local.lineno, rule) if _is_factory(local, classes) else None
        found = modules.lookup(path, called)
        if found is None or not isinstance(found[1], ast.FunctionDef) or not found[0].endswith(".py"):
            return _only_factory(module, path, rule)
        defining = modules.parse(found[0])
        if _is_factory(found[1], app_classes(defining) if defining else frozenset({"FastAPI"})):
            return AppFound(found[0], called, found[1].lineno, rule)
        only = _only_factory(module, path, rule)
        if only is not None:
            return only
        path, name = found[0], called
    return None


def _only_factory(module: ast.Module, path: str, rule: str) -> AppFound | None:
    """The app is made by a call paxx-patch cannot follow (a registry that picks the
    edition's implementation): the module's one factory is what it calls."""
    classes = app_classes(module)
    factories = [n for n in module.body if isinstance(n, ast.FunctionDef) and _is_factory(n, classes)]
    return AppFound(path, factories[0].name, factories[0].lineno, rule) if len(factories) == 1 else None


def _names(node: ast.Assign | ast.AnnAssign) -> list[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for t in targets if isinstance(t, ast.Name)]
