"""Where in the app module the wiring goes: the app object and its factory.

The app is created at module level (`app = FastAPI(...)`; statements go after it,
or after the last later top-level statement that configures it) or in a factory
that creates and returns it (statements go before the `return`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

# calls on the app that configure it: new statements are grouped after the last one
_CONFIG_METHODS = frozenset({
    "add_middleware", "include_router", "mount", "add_route", "add_api_route",
    "add_websocket_route", "add_api_websocket_route", "add_exception_handler",
    "add_event_handler",
})


@dataclass(frozen=True)
class Target:
    app: str  # the app's variable name where the statements go
    factory: int | None  # index of the factory function in the module, if any
    insert_at: int  # statements go before this index of the body they go into
    top_level: int  # index of the module statement that creates the app


def import_position(module: cst.Module, limit: int) -> int:
    """Index after the last top-level import above `limit` (or after the docstring)."""
    last = None
    for i, stmt in enumerate(module.body[:limit]):
        if isinstance(stmt, cst.SimpleStatementLine) and any(
            isinstance(s, cst.Import | cst.ImportFrom) for s in stmt.body
        ):
            last = i
    if last is not None:
        return last + 1
    return 1 if module.get_docstring() is not None else 0


def find_target(module: cst.Module, app_name: str | None) -> Target | None:

    apps: dict[str, int] = {}
    factories: dict[str, Target] = {}
    made_by: dict[str, str] = {}  # `app = create_app()`: app -> create_app
    for i, stmt in enumerate(module.body):
        name = _assigned_app(stmt)
        if name is not None:
            apps.setdefault(name, i)
        elif isinstance(stmt, cst.FunctionDef):
            target = _factory(stmt, i)
            if target is not None:
                factories[stmt.name.value] = target
        elif isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
            assign = stmt.body[0]
            if (
                isinstance(assign.value, cst.Call) and isinstance(assign.value.func, cst.Name)
                and isinstance(assign.targets[0].target, cst.Name)
            ):
                made_by[assign.targets[0].target.value] = assign.value.func.value
    if app_name in made_by and made_by[app_name] in factories:
        app_name = made_by[app_name]
    if app_name not in apps and app_name not in factories:
        if len(apps) + len(factories) != 1:
            return None
        app_name = next(iter([*apps, *factories]))
    if app_name in factories:
        return factories[app_name]
    assert app_name is not None
    index = apps[app_name]
    insert_at = index + 1
    for j in range(index + 1, len(module.body)):
        if _configures(module.body[j], app_name):
            insert_at = j + 1
    return Target(app=app_name, factory=None, insert_at=insert_at, top_level=index)


def _is_fastapi(node: cst.BaseExpression | None) -> bool:

    if not isinstance(node, cst.Call):
        return False
    func = node.func
    return (isinstance(func, cst.Name) and func.value == "FastAPI") or (
        isinstance(func, cst.Attribute) and func.attr.value == "FastAPI"
    )


def _assigned_app(stmt: cst.BaseStatement) -> str | None:
    """`NAME = FastAPI(...)` (or `NAME: FastAPI = FastAPI(...)`) -> NAME."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    for small in stmt.body:
        if isinstance(small, cst.Assign) and len(small.targets) == 1 and _is_fastapi(small.value):
            target = small.targets[0].target
            if isinstance(target, cst.Name):
                return target.value
        if (
            isinstance(small, cst.AnnAssign) and _is_fastapi(small.value)
            and isinstance(small.target, cst.Name)
        ):
            return small.target.value
    return None


def _factory(func: cst.FunctionDef, index: int) -> Target | None:
    """A function whose body creates `NAME = FastAPI(...)` and later `return NAME`."""
    if not isinstance(func.body, cst.IndentedBlock):
        return None
    local = None
    for i, stmt in enumerate(func.body.body):
        if local is None:
            local = _assigned_app(stmt)
        elif isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Return):
            value = stmt.body[0].value
            if isinstance(value, cst.Name) and value.value == local:
                return Target(app=local, factory=index, insert_at=i, top_level=index)
    return None


def _walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        yield from _walk(child)


def _configures(stmt: cst.BaseStatement, app: str) -> bool:
    """Is `stmt` a call like `app.include_router(...)` or `setup(app)`, or a block
    (such as `if settings.debug:`) with `app.add_middleware(...)` and the like?"""
    if isinstance(stmt, cst.SimpleStatementLine):
        return any(
            isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and any(
                isinstance(arg.value, cst.Name) and arg.value.value == app and not arg.keyword
                for arg in small.value.args
            )
            for small in stmt.body
        ) or any(_configures_app(node, app) for node in _walk(stmt))
    if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
        return False
    if isinstance(stmt, cst.If) and "__main__" in cst.Module([]).code_for_node(stmt.test):
        return False
    return any(_configures_app(node, app) for node in _walk(stmt))


def _configures_app(node: cst.CSTNode, app: str) -> bool:

    return (
        isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
        and isinstance(node.func.value, cst.Name) and node.func.value.value == app
        and node.func.attr.value in _CONFIG_METHODS
    )
