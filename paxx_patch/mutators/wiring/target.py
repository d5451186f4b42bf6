"""Where in the app module the wiring goes: the app object and its factory.

The app is created at module level (`app = FastAPI(...)`; statements go after it,
or after the last later top-level statement that configures it) or in a factory
that creates and returns it (statements go before the `return`). A class of the
module deriving from FastAPI makes apps as FastAPI does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    app_class: str = "FastAPI"  # the class the app is an instance of ("": made by another call)
    method: int | None = None  # made in this method of the class `factory` (`self.app = FastAPI()`)


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


def app_classes(module: cst.Module) -> frozenset[str]:
    """FastAPI and the module's classes deriving from it, directly or through each other."""
    classes = {"FastAPI"}
    for stmt in module.body:
        if isinstance(stmt, cst.ClassDef) and any(_called(b.value) in classes for b in stmt.bases):
            classes.add(stmt.name.value)
    return frozenset(classes)


def _called(node: cst.BaseExpression) -> str | None:
    return node.value if isinstance(node, cst.Name) else node.attr.value if isinstance(
        node, cst.Attribute) else None


def find_target(module: cst.Module, app_name: str | None) -> Target | None:
    classes = app_classes(module)
    apps: dict[str, tuple[int, str]] = {}
    factories: dict[str, Target] = {}
    made_by: dict[str, str] = {}  # `app = create_app()`: app -> create_app
    called: dict[str, int] = {}  # `app = builder.build()`: made by a call of unknown kind
    for i, stmt in enumerate(module.body):
        # `app = FastAPI()`, also inside `if settings.debug:`, `try:` or `with` blocks
        made = next((m for inner in _walk_statements(stmt) if (m := _assigned_app(inner, classes))), None)
        if made is not None:
            apps.setdefault(made[0], (i, made[1]))
        elif isinstance(stmt, cst.FunctionDef):
            target = _factory(stmt, i, classes)
            if target is not None:
                factories[stmt.name.value] = target
        elif isinstance(stmt, cst.ClassDef) and stmt.name.value not in classes:
            target = _in_a_method(stmt, i, classes)
            if target is not None:
                factories[stmt.name.value] = target
        elif isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Assign):
            assign = stmt.body[0]
            if (
                isinstance(assign.value, cst.Call) and isinstance(assign.value.func, cst.Name)
                and isinstance(assign.targets[0].target, cst.Name)
            ):
                made_by[assign.targets[0].target.value] = assign.value.func.value
            if isinstance(assign.value, cst.Call) and isinstance(assign.targets[0].target, cst.Name):
                called.setdefault(assign.targets[0].target.value, i)
    if app_name in made_by and made_by[app_name] in factories:
        app_name = made_by[app_name]
    if app_name in called and app_name not in apps and app_name not in factories:
        # the module the app runs from makes it by a call we cannot look into: what
        # configures it goes right after, and its lifespan is composed, not edited
        index = called[app_name]
        return Target(app=app_name, factory=None, insert_at=_configured_until(module, app_name, index),
                      top_level=index, app_class="")
    if app_name not in apps and app_name not in factories:
        if len(apps) + len(factories) != 1:
            return None
        app_name = next(iter([*apps, *factories]))
    if app_name in factories:
        return factories[app_name]
    assert app_name is not None
    index, app_class = apps[app_name]
    return Target(app=app_name, factory=None, insert_at=_configured_until(module, app_name, index),
                  top_level=index, app_class=app_class)


def _configured_until(module: cst.Module, app: str, index: int) -> int:
    """After the statement `index` that makes the app and the statements that follow and
    configure it."""
    insert_at = index + 1
    for j in range(index + 1, len(module.body)):
        if _configures(module.body[j], app):
            insert_at = j + 1
    return before_catch_all(module.body, index + 1, insert_at, app)


def before_catch_all(body: Sequence[cst.BaseStatement], start: int, end: int, app: str) -> int:
    """`end`, or the first statement in [start, end) that mounts something on the app at
    "" or "/" (a single-page frontend's `StaticFiles(html=True)`, a sub-application):
    Starlette matches routes in order, so a route added after it is never reached."""
    return next((j for j in range(start, end) if any(
        _mounts_everything(node, app) for node in _walk(body[j]))), end)


def _mounts_everything(node: cst.CSTNode, app: str) -> bool:
    if not (_configures_app(node, app) and isinstance(node, cst.Call)
            and isinstance(node.func, cst.Attribute) and node.func.attr.value == "mount"):
        return False
    path = next((a.value for a in node.args if a.keyword is not None and a.keyword.value == "path"),
                node.args[0].value if node.args and node.args[0].keyword is None else None)
    return isinstance(path, cst.SimpleString) and path.evaluated_value in ("", "/")


def _app_class(node: cst.BaseExpression | None, classes: frozenset[str]) -> str | None:
    """The class `node` calls when it makes an app (FastAPI or a subclass), else None."""
    if not isinstance(node, cst.Call):
        return None
    name = _called(node.func)
    return name if name in classes else None


def _assigned_app(stmt: cst.BaseStatement, classes: frozenset[str]) -> tuple[str, str] | None:
    """`NAME = FastAPI(...)` (or `NAME: FastAPI = FastAPI(...)`) -> (NAME, its class)."""
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    for small in stmt.body:
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, made = small.targets[0].target, _app_class(small.value, classes)
        elif isinstance(small, cst.AnnAssign):
            target, made = small.target, _app_class(small.value, classes)
        else:
            continue
        if made is not None and isinstance(target, cst.Name):
            return target.value, made
    return None


def _factory(func: cst.FunctionDef, index: int, classes: frozenset[str]) -> Target | None:
    """A function that makes `NAME = FastAPI(...)` (at the top of its body or inside
    its `if`/`with`/`try` blocks, under any name) and returns NAME. The statements go
    before the first statement after the app is made that can return it, so they run
    on every path out, also when the `return` sits in a block."""
    if not isinstance(func.body, cst.IndentedBlock):
        return None
    body = func.body.body
    for at, stmt in enumerate(body):
        made = next((m for inner in _walk_statements(stmt) if (m := _assigned_app(inner, classes))), None)
        if made is None:
            continue
        name = made[0]
        returning = next((j for j in range(at, len(body)) if _returns(body[j], name)), None)
        if returning is None or returning == at:  # none, or only in the block that makes it
            return None
        return Target(app=name, factory=index, insert_at=before_catch_all(body, at + 1, returning, name),
                      top_level=index, app_class=made[1])
    return None


def _in_a_method(cls: cst.ClassDef, index: int, classes: frozenset[str]) -> Target | None:
    """A class one of whose methods makes `self.NAME = FastAPI(...)` at its top level
    (an API server object that starts uvicorn itself): the statements go after that and
    the statements configuring it."""
    if not isinstance(cls.body, cst.IndentedBlock):
        return None
    for m, method in enumerate(cls.body.body):
        if not isinstance(method, cst.FunctionDef) or not isinstance(method.body, cst.IndentedBlock):
            continue
        params = method.params.params
        me = params[0].name.value if params else None
        body = method.body.body
        for at, stmt in enumerate(body):
            if not isinstance(stmt, cst.SimpleStatementLine) or not isinstance(stmt.body[0], cst.Assign):
                continue
            assign = stmt.body[0]
            made = _app_class(assign.value, classes)
            target = assign.targets[0].target
            if made and me and isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                    and target.value.value == me:
                app = f"{me}.{target.attr.value}"
                insert_at = at + 1
                for j in range(at + 1, len(body)):
                    if _configures(body[j], app):
                        insert_at = j + 1
                insert_at = before_catch_all(body, at + 1, insert_at, app)
                return Target(app=app, factory=index, insert_at=insert_at, top_level=index,
                              app_class=made, method=m)
    return None


def _returns(stmt: cst.BaseStatement, name: str) -> bool:
    """Does `stmt` (or a block of it, not a nested function) `return NAME`?"""
    return any(
        isinstance(inner, cst.SimpleStatementLine) and any(
            isinstance(small, cst.Return) and isinstance(small.value, cst.Name)
            and small.value.value == name for small in inner.body)
        for inner in _walk_statements(stmt)
    )


def _walk_statements(stmt: cst.BaseStatement) -> Iterator[cst.BaseStatement]:
    """`stmt` and the statements of its blocks, not those of nested functions or classes."""
    yield stmt
    if isinstance(stmt, cst.FunctionDef | cst.ClassDef | cst.SimpleStatementLine):
        return
    for child in stmt.children:
        yield from _inner_statements(child)


def _inner_statements(node: cst.CSTNode) -> Iterator[cst.BaseStatement]:
    if isinstance(node, cst.BaseStatement):
        yield from _walk_statements(node)
        return
    for child in node.children:
        yield from _inner_statements(child)


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
                _is_app(arg.value, app) and not arg.keyword for arg in small.value.args
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
        and _is_app(node.func.value, app) and node.func.attr.value in _CONFIG_METHODS
    )


def _is_app(node: cst.BaseExpression, app: str) -> bool:
    """Is `node` the app: its name, or `self.app` for an app a method makes?"""
    if isinstance(node, cst.Name):
        return node.value == app
    return isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) and (
        f"{node.value.value}.{node.attr.value}" == app)
