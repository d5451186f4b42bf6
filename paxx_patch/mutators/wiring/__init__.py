"""Wire a component into the FastAPI app module: middleware, routes, setup calls,
and startup/shutdown calls in the app's lifespan.

The bundle names what to wire as `module:name` references; this mutator writes
`app.add_middleware(Name)`, `app.add_route("/path", endpoint, include_in_schema=False)`,
`function(app)` and `await hook()` (placed by `wiring_lifespan`), plus the imports
they need. The app is either created at
module level (`app = FastAPI(...)`: the statements go after it, or after the
last `app.add_middleware`/`app.include_router`/... that follows it) or in a
factory that creates and returns it (the statements go before the `return`).
Imports go after the last top-level import above the app. libcst keeps every
byte outside the edit; what is already there is not added again. What was added
is recorded as `{"file", "imports", "lines"}` so `remove` takes out exactly that.
When the app cannot be found nothing is edited and the user is told what to add.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from paxx_patch.mutators import Context
from paxx_patch.runtime.errors import PaxxError

if TYPE_CHECKING:
    import libcst as cst

    from paxx_patch.mutators.wiring.target import Target

# calls on the app whose first argument is a URL path it serves
_ROUTE_METHODS = frozenset({
    "add_route", "add_api_route", "mount", "route", "api_route", "get", "post", "put",
    "patch", "delete", "head", "options", "trace", "websocket", "websocket_route",
})


@dataclass(frozen=True)
class _Wanted:
    code: str  # the statement, with the app's variable name filled in
    kind: Literal["middleware", "routes", "calls", "startup", "shutdown"]  # and what makes it "already there":
    key: str  # the middleware class, the URL path or the function
    module: str  # where `name` is imported from ("": no import)
    name: str
    alias: str = ""  # imported as this name: the module binds `name` to something else

    @property
    def local(self) -> str:
        return self.alias or self.name


class WiringMutator:
    name = "wiring"

    def paths(self, ctx: Context) -> Sequence[str]:
        if ctx.removing is not None:
            file = (ctx.removing.entries.get("wiring") or {}).get("file")
            return [ctx.project.path(file)] if isinstance(file, str) and file else []
        if not ctx.bundle.wiring:
            return []
        if ctx.project.app_file is None:
            unparsable = ctx.project.app_unparsable
            _by_hand(ctx, None, f"{unparsable}, so the FastAPI app it may create was not found"
                     if unparsable else "no module that creates the FastAPI app was found")
            return []
        if ctx.bundle.wiring.startup or ctx.bundle.wiring.shutdown:
            from paxx_patch.mutators.wiring.hooks import hooks_path

            # after the app module, whose edit tells whether the hooks need it
            return [ctx.project.app_file, hooks_path(ctx.project)]
        return [ctx.project.app_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        from paxx_patch.mutators.wiring.hooks import hooks_path

        if path == hooks_path(ctx.project) and path != ctx.project.app_file:
            return _hooks_module(path, old, ctx)
        if old is None:
            if ctx.removing is None:
                _by_hand(ctx, path, "the file does not exist")
            return old
        tree = _parse(path, old)
        if ctx.removing is not None:
            entry = ctx.removing.entries.get("wiring") or {}
            return _remove(path, old, entry, ctx.removing.name)
        return _add(path, old, tree, ctx)

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        where = ", ".join(changed) or ctx.project.app_file or "the app"
        if ctx.removing is not None:
            return f"unwire {ctx.removing.name} from {where}"
        return f"wire {ctx.bundle.name} into {where}"


def _hooks_module(path: str, old: bytes | None, ctx: Context) -> bytes | None:
    """The services package's `lifespan_hooks.py`, where this component's wiring calls
    it (or the installed version recorded it): written and recorded as its file."""
    from paxx_patch.mutators.wiring.hooks import HOOKS_FUNCTION, hooks_source

    relative = path[len(ctx.project.root) + 1:] if ctx.project.root else path
    lines = (ctx.entries.get("wiring") or {}).get("lines") or []
    recorded = ctx.previous is not None and relative in ctx.previous.files
    if not recorded and not any(f"{HOOKS_FUNCTION}(" in str(line) for line in lines):
        return old
    new = hooks_source(ctx.project)
    if old is not None and old != new and not recorded:
        raise PaxxError(
            f"{path} already exists and was not written by paxx-patch; wiring "
            f"{ctx.bundle.name} into the app needs that name for its lifespan hooks. Move "
            "or rename your file, or set [tool.paxx-patch] services_dir to another "
            "directory. Nothing was changed."
        )
    ctx.owned_files[path] = new
    return new


def _parse(path: str, source: bytes) -> ast.Module:
    """The module as an `ast` tree; a syntax error is the user's to fix, so say where."""
    try:
        return ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as e:
        from paxx_patch.discover import syntax_error

        raise syntax_error(path, e, "cannot parse the app module, so the component cannot be "
                                    "wired into it") from e


def _render(ctx: Context, app: str, bound: dict[str, str] | None = None) -> list[_Wanted]:
    """The statements the bundle asks for, for an app called `app`; a name the module
    binds to something else already (`bound`) is imported under an alias."""
    from paxx_patch.bundle.render import render_string

    bound = bound or {}

    def reference(key: str, text: str) -> tuple[str, str, str]:
        value = render_string(ctx.bundle, text, ctx.template_context, f"wiring.{key}").strip()
        module, _, name = value.rpartition(":")
        if not name.isidentifier() or not all(p.isidentifier() for p in module.split(".") if module):
            raise PaxxError(
                f"{ctx.bundle.toml_path}: key `wiring.{key}`: {text!r} renders to "
                f"{value!r}, which is not a reference such as `package.module:name`. "
                "Fix the bundle."
            )
        theirs = bound.get(name, f"{module}.{name}")
        return module, name, "" if theirs == f"{module}.{name}" else _alias(name)

    wiring = ctx.bundle.wiring
    wanted = []
    for text in wiring.middleware:
        module, name, alias = reference("middleware", text)
        local = alias or name
        wanted.append(_Wanted(f"{app}.add_middleware({local})", "middleware", name, module, name, alias))
    for url, text in wiring.routes:
        module, name, alias = reference(f"routes.{url}", text)
        code = ctx.project.style.quoted(
            f"{app}.add_route({json.dumps(url)}, {alias or name}, include_in_schema=False)")
        wanted.append(_Wanted(code, "routes", url, module, name, alias))
    for text in wiring.calls:
        module, name, alias = reference("calls", text)
        wanted.append(_Wanted(f"{alias or name}({app})", "calls", name, module, name, alias))
    for phase in ("startup", "shutdown"):
        for text in getattr(wiring, phase):
            module, name, alias = reference(phase, text)
            wanted.append(_Wanted(f"await {alias or name}()", phase, name, module, name, alias))
    return wanted


def _hooks_call(ctx: Context, app: str, hooks: Sequence[_Wanted], bound: dict[str, str]) -> _Wanted:
    """`add_lifespan_hooks(app, shutdown=[...])`: the hooks composed around the app's
    own lifespan, wherever that lifespan is defined."""
    from paxx_patch.mutators.wiring.hooks import HOOKS_FUNCTION, hooks_module

    module = hooks_module(ctx.project)
    phases = [
        f"{phase}=[{', '.join(h.local for h in hooks if h.kind == phase)}]"
        for phase in ("startup", "shutdown") if any(h.kind == phase for h in hooks)
    ]
    ours = bound.get(HOOKS_FUNCTION, f"{module}.{HOOKS_FUNCTION}") == f"{module}.{HOOKS_FUNCTION}"
    alias = "" if ours else _alias(HOOKS_FUNCTION)
    code = f"{alias or HOOKS_FUNCTION}({app}, {', '.join(phases)})"
    return _Wanted(code, "calls", HOOKS_FUNCTION, module, HOOKS_FUNCTION, alias)


def _imports(
    wanted: Sequence[_Wanted], tree: ast.Module | None = None, combine_as: bool = False,
    line_length: int = 88,
) -> list[str]:
    """`from module import a, b` lines for `wanted`, without what `tree` binds already;
    `b as c` on a line of its own unless the sorter combines them (isort's
    combine-as-imports); one name per line in parentheses when the line is too long."""
    have = bindings(tree) if tree is not None else {}
    names: dict[str, list[str]] = {}
    for item in wanted:
        if item.module and have.get(item.local) != f"{item.module}.{item.name}":
            listed = names.setdefault(item.module, [])
            spelled = f"{item.name} as {item.alias}" if item.alias else item.name
            if spelled not in listed:
                listed.append(spelled)
    from paxx_patch.edit.import_order import name_key, wrapped

    lines = []
    for module, listed in names.items():
        groups = [listed] if combine_as else [
            *([plain] if (plain := [n for n in listed if " as " not in n]) else []),
            *([n] for n in listed if " as " in n)]
        for group in groups:
            ordered = sorted(group, key=lambda n: name_key(n.split()[0]))
            line = f"from {module} import {', '.join(ordered)}"
            lines.append(wrapped(module, ordered) if len(line) > line_length and len(ordered) > 1 else line)
    return lines


def bindings(tree: ast.Module) -> dict[str, str]:
    """What each top-level name of the module stands for: the dotted name an import
    binds it to, or `<module>` for what the module defines itself."""
    bound: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom) and node.level == 0:
            _bind_import(node, bound)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound[node.name] = "<module>"
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    bound[target.id] = "<module>"
    return bound


def _bind_import(node: ast.Import | ast.ImportFrom, bound: dict[str, str]) -> None:
    """The names an import binds, each to the dotted name it stands for (a relative
    import's only to a module of the project's own)."""
    if isinstance(node, ast.ImportFrom):
        for a in node.names:
            bound[a.asname or a.name] = f"{node.module}.{a.name}" if node.level == 0 and node.module else "<local>"
        return
    for a in node.names:
        bound[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]


def _local_bindings(func: ast.FunctionDef | ast.AsyncFunctionDef) -> dict[str, str]:
    """The names a function binds in its own scope (imports, assignments), not those of
    functions or classes nested in it."""
    bound: dict[str, str] = {}
    pending: list[ast.AST] = list(func.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            if not isinstance(node, ast.Lambda):
                bound[node.name] = "<local>"
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            _bind_import(node, bound)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound[node.id] = "<local>"
        pending.extend(ast.iter_child_nodes(node))
    return bound


def _resolved(dotted: str, bound: dict[str, str]) -> str:
    """`metrics.MetricsMiddleware` as the full dotted name the module's imports make of it."""
    head, _, rest = dotted.partition(".")
    base = bound.get(head)
    if base is None or base == "<module>":
        return dotted if base is None else f"<module>.{dotted}"
    return f"{base}.{rest}" if rest else base


def _alias(name: str) -> str:
    """The name ours is imported as where the module's own `name` is something else."""
    return f"Paxx{name}" if name[:1].isupper() else f"paxx_{name}"


def _by_hand(ctx: Context, path: str | None, why: str) -> None:
    """Tell the user the exact lines to add, once."""
    wanted = _render(ctx, "app")
    message = (
        f"{ctx.bundle.name}: could not wire the component into the FastAPI app"
        f"{f' in {path}' if path else ''} ({why}); nothing was changed there. Add these "
        f"lines by hand, {_by_hand_lines(wanted)}"
    )
    if message not in ctx.warnings:
        ctx.warnings.append(message)


def _by_hand_lines(wanted: Sequence[_Wanted]) -> str:
    imports = "\n".join(f"    {line}" for line in _imports(wanted))
    text = f"the imports at the top of the module:\n\n{imports}\n"
    statements = "\n".join(f"    {w.code}" for w in wanted if w.kind not in ("startup", "shutdown"))
    if statements:
        text += f"\nthese after the app is created (`app = FastAPI(...)`):\n\n{statements}\n"
    for phase, where in (("startup", "before its `yield`"), ("shutdown", "after its `yield`")):
        hooks = "\n".join(f"    {w.code}" for w in wanted if w.kind == phase)
        if hooks:
            text += f"\nand these in the app's lifespan, {where}:\n\n{hooks}\n"
    return text


def _hands_out(tree: ast.Module, app: str, services: str) -> bool:
    """Is the app passed to a function of the project's own (`register_startup_event(app)`,
    `setup(app=app)`), one that could register event handlers on it?"""
    bound = bindings(tree)
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        values = [*call.args, *(k.value for k in call.keywords)]
        if not any(isinstance(v, ast.Name) and v.id == app for v in values):
            continue
        func = _dotted(call.func) or ""
        if func.startswith(f"{app}.") or _resolved(func, bound).startswith(f"{services}."):
            continue  # the app's own methods, and what paxx-patch wired
        return True
    return False


def _lifespan(
    ctx: Context, path: str, module: cst.Module, hooks: Sequence[_Wanted], tree: ast.Module
) -> cst.Module | None:
    """`module` with the hooks in the app's own lifespan, or None where that lifespan
    cannot be edited in place (then they are composed around it)."""
    from paxx_patch.mutators.wiring import lifespan as wiring_lifespan
    from paxx_patch.mutators.wiring.imports import add_imports
    from paxx_patch.mutators.wiring.target import find_target

    target = find_target(module, ctx.project.app_name)
    assert target is not None
    wanted = [wiring_lifespan.Hook(h.kind, h.local) for h in hooks]  # type: ignore[arg-type]
    result, imports, why = wiring_lifespan.add_hooks(
        module, target, wanted, may_create=not _hands_out(tree, target.app, ctx.project.services_package))
    return None if why is not None else add_imports(result, imports)


def _add(path: str, old: bytes, tree: ast.Module, ctx: Context) -> bytes:
    import libcst as cst

    module = _parse_cst(path, old)
    from paxx_patch.mutators.wiring.target import find_target

    target = find_target(module, ctx.project.app_name)
    if target is None:
        why = "no `app = FastAPI(...)` at module level and no function that creates and returns one"
        _by_hand(ctx, path, why)
        return old
    bound = bindings(tree)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    awaited = {ast.dump(ast.Expr(n)) for n in ast.walk(tree) if isinstance(n, ast.Await)}
    added = []
    # inside a factory, a name it imports or assigns itself (anywhere in its body) is
    # that name wherever our statements use it there: ours is imported under an alias
    factory = tree.body[target.factory] if target.factory is not None and len(tree.body) == len(
        module.body) else None
    scope = {**bound, **_local_bindings(factory)} if isinstance(factory, ast.FunctionDef | ast.AsyncFunctionDef) \
        else bound
    for item in _render(ctx, target.app, scope):
        exact = _dump(item.code)
        if exact in awaited or any(ast.dump(ast.Expr(call)) == exact for call in calls):
            continue
        if item.kind in ("startup", "shutdown") and _composed(calls, item, bound):
            continue
        similar = next((c for c in calls if _same_key(c, item, target.app, bound)), None)
        if similar is None and item.kind == "routes" and item.key in ctx.routes_elsewhere:
            moved = _elsewhere(ctx, path, item, None, target.app)
            if not any(ast.dump(ast.Expr(call)) == _dump(moved.code) for call in calls):
                added.append(moved)
        elif similar is None:
            added.append(item)
        elif item.kind == "routes" and not _serves_ours(similar, item, bound):
            moved = _elsewhere(ctx, path, item, similar, target.app)
            if not any(ast.dump(ast.Expr(call)) == _dump(moved.code) for call in calls):
                added.append(moved)
        elif (note := (
            f"{ctx.bundle.name}: {path}:{similar.lineno} already has "
            f"`{ast.unparse(similar)}`; left it as it is instead of adding `{item.code}`."
        )) not in ctx.notes:
            ctx.notes.append(note)
    if not added:
        return old
    hooks = [item for item in added if item.kind in ("startup", "shutdown")]
    placed = list(added)  # what the module holds afterwards, imports included
    in_place = bool(hooks) and _lifespan(ctx, path, module, hooks, tree) is not None
    if hooks and not in_place:  # composed around the app's own lifespan instead
        added = [item for item in added if item not in hooks]
        added.append(_hooks_call(ctx, target.app, hooks, bound))
        placed = [*placed, added[-1]]
    imports = _imports(placed, tree, ctx.project.style.combine_as_imports, ctx.project.style.line_length)
    # the imports first, where the tree read from the same bytes says; then the lifespan
    # (whose own imports go among the standard library's) and the statements
    module = _with_imports(module, tree, imports, ctx.project.own_packages(), target.top_level)
    if in_place:
        edited = _lifespan(ctx, path, module, hooks, tree)
        assert edited is not None
        module = edited
    target = find_target(module, ctx.project.app_name)
    assert target is not None
    config = module.config_for_parsing
    statements = [
        cst.parse_statement(item.code, config=config) for item in added if item not in hooks
    ]
    body = _insert_statements(module, target, statements, ctx.bundle.name)
    shared = [line for line in _imports([i for i in placed if i.name == _hooks_name()], None,
                                        ctx.project.style.combine_as_imports, ctx.project.style.line_length)
              if line not in imports]  # another component's import: recorded, not written
    ctx.entries["wiring"] = {
        "file": path,  # the lock records it relative to the project
        "imports": [*imports, *shared],
        "lines": [item.code for item in added],
    }
    return module.with_changes(body=body).bytes


def _with_imports(
    module: cst.Module, tree: ast.Module, imports: Sequence[str], first_party: frozenset[str], limit: int
) -> cst.Module:
    """`module` with the import `lines`, each where isort would put it among the imports
    above statement `limit` (the app or its factory)."""
    import libcst as cst

    from paxx_patch.mutators.wiring.target import import_position

    config = module.config_for_parsing
    body = list(module.body)
    if len(tree.body) != len(module.body):  # `a; b` lines: the two trees count them differently
        at = import_position(module, limit)
        body[at:at] = [cst.parse_statement(line, config=config) for line in imports]
        return module.with_changes(body=body)
    from paxx_patch.edit.import_order import place
    from paxx_patch.mutators.wiring.imports import noqa_like

    spots = sorted(
        ((place(tree, line.split()[1], first_party, limit), line) for line in imports),
        key=lambda s: (s[0].index, s[1]), reverse=True,
    )
    for n, (spot, line) in enumerate(spots):
        statement = cst.parse_statement(line, config=config)
        neighbour = body[spot.index - 1 if spot.after_previous else spot.index] if body else None
        statement = noqa_like(statement, neighbour)
        # of several new lines starting one block, only the first has the blank line
        joined = n + 1 < len(spots) and spots[n + 1][0].index == spot.index
        if spot.new_block and not joined:
            statement = statement.with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        following = body[spot.index] if spot.index < len(body) else None
        if not spot.after_previous and isinstance(
            following, cst.SimpleStatementLine | cst.BaseCompoundStatement
        ):
            # it goes right above `following`: the blank lines above that are above it now
            lead = list(following.leading_lines)
            cut = next((i for i, line in enumerate(lead) if line.comment is not None), len(lead))
            if cut and not spot.new_block:
                statement = statement.with_changes(leading_lines=lead[:cut])
                body[spot.index] = following.with_changes(leading_lines=lead[cut:])
        if spot.blank_after and spot.index < len(body):
            following = body[spot.index]
            if isinstance(following, cst.SimpleStatementLine | cst.BaseCompoundStatement):
                body[spot.index] = following.with_changes(
                    leading_lines=[cst.EmptyLine(indent=False), *following.leading_lines]
                )
        body[spot.index:spot.index] = [statement]
    return module.with_changes(body=body)


def _composed(calls: Sequence[ast.Call], hook: _Wanted, bound: dict[str, str]) -> bool:
    """Is `hook` among the calls an `add_lifespan_hooks(app, ...)` of the module composes?"""
    for call in calls:
        func = _dotted(call.func) or ""
        if not _resolved(func, bound).endswith(f".{_hooks_name()}"):
            continue
        for keyword in call.keywords:
            if keyword.arg == hook.kind and isinstance(keyword.value, ast.List | ast.Tuple) and any(
                isinstance(e, ast.Name) and e.id == hook.local for e in keyword.value.elts
            ):
                return True
    return False


def _hooks_name() -> str:
    from paxx_patch.mutators.wiring.hooks import HOOKS_FUNCTION

    return HOOKS_FUNCTION


def _serves_ours(route: ast.Call, item: _Wanted, bound: dict[str, str]) -> bool:
    """Does the app's route for `item`'s path already serve our endpoint?"""
    endpoint = route.args[1] if len(route.args) > 1 else None
    dotted = _dotted(endpoint) if endpoint is not None else None
    return dotted is not None and _resolved(dotted, bound) == f"{item.module}.{item.name}"


def _elsewhere(ctx: Context, path: str, item: _Wanted, theirs: ast.Call | None, app: str) -> _Wanted:
    """The route on a path of its own where the app serves `item.key` already (in the
    app module: `theirs`; else in another module of its package), said so."""
    free = f"/paxx{item.key}"
    code = ctx.project.style.quoted(
        f"{app}.add_route({json.dumps(free)}, {item.local}, include_in_schema=False)")
    where = (f"{path}:{theirs.lineno}" if theirs is not None else ctx.routes_elsewhere[item.key].split(": ")[0])
    shown = ast.unparse(theirs) if theirs is not None else ctx.routes_elsewhere[item.key].split(": ", 1)[1]
    ctx.warnings.append(
        f"{ctx.bundle.name}: {where} already serves {item.key} "
        f"(`{shown}`), so {ctx.bundle.name}'s endpoint is at {free}: "
        f"`{code}`. Point whatever reads {item.key} at {free}, or take one of the two out."
    )
    return _Wanted(code, "routes", free, item.module, item.name, item.alias)


def _insert_statements(
    module: cst.Module,
    target: Target,
    statements: list[cst.SimpleStatementLine | cst.BaseCompoundStatement],
    component: str,
) -> list[cst.SimpleStatementLine | cst.BaseCompoundStatement]:
    """The module's body with `statements` where the target says, under `# component`."""
    import libcst as cst

    body = list(module.body)
    if not statements:
        return body
    statements[0] = statements[0].with_changes(leading_lines=[
        cst.EmptyLine(indent=False), cst.EmptyLine(comment=cst.Comment(f"# {component}")),
    ])
    if target.factory is None:
        body[target.insert_at:target.insert_at] = statements
        return body
    outer = body[target.factory]
    if target.method is not None:  # `self.app = FastAPI()` in a method of this class
        assert isinstance(outer, cst.ClassDef) and isinstance(outer.body, cst.IndentedBlock)
        methods = [*outer.body.body]
        method = methods[target.method]
        assert isinstance(method, cst.FunctionDef)
        methods[target.method] = _inserted(method, target.insert_at, statements)
        body[target.factory] = outer.with_changes(body=outer.body.with_changes(body=methods))
        return body
    assert isinstance(outer, cst.FunctionDef)
    body[target.factory] = _inserted(outer, target.insert_at, statements)
    return body


def _inserted(
    func: cst.FunctionDef, at: int, statements: list[cst.SimpleStatementLine | cst.BaseCompoundStatement],
) -> cst.FunctionDef:
    import libcst as cst

    assert isinstance(func.body, cst.IndentedBlock)
    inner = [*func.body.body]
    inner[at:at] = statements
    return func.with_changes(body=func.body.with_changes(body=inner))


def _parse_cst(path: str, source: bytes) -> cst.Module:
    import libcst as cst

    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as e:
        raise PaxxError(
            f"{path}:{e.raw_line}: cannot parse the app module ({e.message}), so the "
            "component cannot be wired into it. Fix the syntax error and commit it, "
            "then run paxx-patch again."
        ) from e


def _dump(code: str) -> str:
    return ast.dump(ast.parse(code.strip()).body[0])


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _same_key(call: ast.Call, item: _Wanted, app: str, bound: dict[str, str]) -> bool:
    """Does `call` already do what `item` would (our middleware, our setup call, or any
    route on the same path)? A name of the user's that only looks like ours is not."""
    func = _dotted(call.func) or ""
    first = call.args[0] if call.args else None
    ours = f"{item.module}.{item.name}"
    if item.kind in ("calls", "startup", "shutdown"):  # `setup_tracing(app)`, `close_redis()`
        return func.rpartition(".")[2] in (item.name, item.local) and _resolved(func, bound) == ours
    if item.kind == "middleware":
        name = _dotted(first) if first is not None else None
        return func == f"{app}.add_middleware" and name is not None and _resolved(name, bound) == ours
    return (
        func.startswith(f"{app}.") and func.split(".")[-1] in _ROUTE_METHODS
        and isinstance(first, ast.Constant) and first.value == item.key
    )


def _remove(path: str, old: bytes, entry: dict[str, Any], component: str) -> bytes:
    """Take out the statements and imports `entry` records; skip those no longer there.
    An import whose names something left in the module still uses (the lifespan hooks'
    function, which another component calls too) stays."""
    module = _parse_cst(path, old)
    lines = _dumps(entry.get("lines"))
    result, removed = _prune(module, lines, component)
    if entry.get("imports"):
        used = {node.id for node in ast.walk(ast.parse(result.code)) if isinstance(node, ast.Name)}
        unused = [line for line in entry["imports"] if not used & _bound_by(str(line))]
        result, dropped = _prune(result, _dumps(unused), component)
        removed += dropped
    if not removed:
        return old
    if any(str(line).startswith("await ") for line in entry.get("lines") or []):
        from paxx_patch.mutators.wiring.lifespan import remove_scaffolding

        result = remove_scaffolding(result)
    return result.bytes


def _dumps(recorded: Any) -> list[str]:
    dumps = []
    for line in recorded or []:
        try:
            dumps.append(_dump(str(line)))
        except (SyntaxError, IndexError):
            continue  # not code paxx-patch wrote: nothing of it to take out
    return dumps


def _bound_by(line: str) -> set[str]:
    """The names an import line binds."""
    try:
        nodes = ast.parse(line.strip()).body
    except SyntaxError:
        return set()
    return {a.asname or a.name.split(".")[0] for node in nodes for a in getattr(node, "names", [])}


def _prune(module: cst.Module, pending: list[str], component: str) -> tuple[cst.Module, int]:
    """`module` without the statements whose dumps are `pending`, and how many went."""
    import libcst as cst

    pending = list(pending)
    if not pending:
        return module, 0
    empty = cst.Module([])
    ours = f"# {component}"

    def keep(stmt: cst.SimpleStatementLine) -> bool:
        if len(stmt.body) != 1:
            return True
        try:
            dump = _dump(empty.code_for_node(stmt.body[0]))
        except SyntaxError:
            return True
        if dump in pending:
            pending.remove(dump)
            return False
        return True

    def prune(body: Sequence[cst.BaseStatement]) -> tuple[list[cst.BaseStatement], list[cst.EmptyLine]]:
        kept: list[cst.BaseStatement] = []
        carried: list[cst.EmptyLine] = []  # the user's comments above a removed line
        blanks: list[cst.EmptyLine] = []  # the block's blank line, held by a removed import
        for stmt in body:
            if isinstance(stmt, cst.SimpleStatementLine) and not keep(stmt):
                carried += [
                    line for line in stmt.leading_lines
                    if line.comment is not None and line.comment.value != ours
                ]
                if isinstance(stmt.body[0], cst.Import | cst.ImportFrom) and not blanks:
                    blanks = [line for line in stmt.leading_lines if line.comment is None]
                continue
            if (carried or blanks) and isinstance(stmt, cst.SimpleStatementLine | cst.BaseCompoundStatement):
                own = list(stmt.leading_lines)
                lead = blanks if blanks and not any(line.comment is None for line in own[:1]) else []
                stmt = stmt.with_changes(leading_lines=[*lead, *carried, *own])
                carried, blanks = [], []
            kept.append(stmt)
        return kept, carried

    class Pruner(cst.CSTTransformer):
        def leave_IndentedBlock(
            self, original: cst.IndentedBlock, updated: cst.IndentedBlock
        ) -> cst.IndentedBlock:
            body, carried = prune(updated.body)
            return updated.with_changes(body=body, footer=[*carried, *updated.footer])

        def leave_Module(self, original: cst.Module, updated: cst.Module) -> cst.Module:
            body, carried = prune(updated.body)
            return updated.with_changes(body=body, footer=[*carried, *updated.footer])

    before = len(pending)
    result = module.visit(Pruner())
    return result, before - len(pending)
