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

from paxx_patch.errors import PaxxError
from paxx_patch.mutators import Context

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


class WiringMutator:
    name = "wiring"

    def paths(self, ctx: Context) -> Sequence[str]:
        if ctx.removing is not None:
            file = (ctx.removing.entries.get("wiring") or {}).get("file")
            return [ctx.project.path(file)] if isinstance(file, str) and file else []
        if not ctx.bundle.wiring:
            return []
        if ctx.project.app_file is None:
            _by_hand(ctx, None, "no module that creates the FastAPI app was found")
            return []
        return [ctx.project.app_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
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


def _parse(path: str, source: bytes) -> ast.Module:
    """The module as an `ast` tree; a syntax error is the user's to fix, so say where."""
    try:
        return ast.parse(source, filename=path)
    except (SyntaxError, ValueError) as e:
        line = getattr(e, "lineno", None)
        raise PaxxError(
            f"{path}{f':{line}' if line else ''}: cannot parse the app module "
            f"({getattr(e, 'msg', e)}), so the component cannot be wired into it. Fix "
            "the syntax error and commit it, then run paxx-patch again."
        ) from e


def _render(ctx: Context, app: str) -> list[_Wanted]:
    """The statements the bundle asks for, for an app called `app`."""
    from paxx_patch.render import render_string

    def reference(key: str, text: str) -> tuple[str, str]:
        value = render_string(ctx.bundle, text, ctx.template_context, f"wiring.{key}").strip()
        module, _, name = value.rpartition(":")
        if not name.isidentifier() or not all(p.isidentifier() for p in module.split(".") if module):
            raise PaxxError(
                f"{ctx.bundle.toml_path}: key `wiring.{key}`: {text!r} renders to "
                f"{value!r}, which is not a reference such as `package.module:name`. "
                "Fix the bundle."
            )
        return module, name

    wiring = ctx.bundle.wiring
    wanted = []
    for text in wiring.middleware:
        module, name = reference("middleware", text)
        wanted.append(_Wanted(f"{app}.add_middleware({name})", "middleware", name, module, name))
    for url, text in wiring.routes:
        module, name = reference(f"routes.{url}", text)
        code = ctx.project.style.quoted(f"{app}.add_route({json.dumps(url)}, {name}, include_in_schema=False)")
        wanted.append(_Wanted(code, "routes", url, module, name))
    for text in wiring.calls:
        module, name = reference("calls", text)
        wanted.append(_Wanted(f"{name}({app})", "calls", name, module, name))
    for phase in ("startup", "shutdown"):
        for text in getattr(wiring, phase):
            module, name = reference(phase, text)
            wanted.append(_Wanted(f"await {name}()", phase, name, module, name))
    return wanted


def _imports(wanted: Sequence[_Wanted], tree: ast.Module | None = None) -> list[str]:
    """`from module import a, b` lines for `wanted`, without what `tree` imports already."""
    have = {
        (node.module, a.name) for node in (tree.body if tree else [])
        if isinstance(node, ast.ImportFrom) and node.level == 0
        for a in node.names if a.asname is None
    }
    names: dict[str, list[str]] = {}
    for item in wanted:
        if item.module and (item.module, item.name) not in have:
            listed = names.setdefault(item.module, [])
            if item.name not in listed:
                listed.append(item.name)
    return [f"from {module} import {', '.join(listed)}" for module, listed in names.items()]


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


def _lifespan(
    ctx: Context, path: str, module: cst.Module, hooks: Sequence[_Wanted]
) -> tuple[cst.Module, bool]:
    """`module` with the hooks in the app's lifespan, and whether that was possible."""
    from paxx_patch.mutators.wiring import lifespan as wiring_lifespan
    from paxx_patch.mutators.wiring.target import find_target

    target = find_target(module, ctx.project.app_name)
    assert target is not None
    wanted = [wiring_lifespan.Hook(h.kind, h.name) for h in hooks]  # type: ignore[arg-type]
    result, imports, why = wiring_lifespan.add_hooks(module, target, wanted)
    if why is not None:
        message = (
            f"{ctx.bundle.name}: could not add its startup/shutdown calls to the app's "
            f"lifespan in {path} ({why}). Add them by hand, {_by_hand_lines(hooks)}"
        )
        if message not in ctx.notes:
            ctx.notes.append(message)
        return module, False
    from paxx_patch.mutators.wiring.imports import add_imports

    return add_imports(result, imports), True


def _add(path: str, old: bytes, tree: ast.Module, ctx: Context) -> bytes:
    import libcst as cst

    module = _parse_cst(path, old)
    from paxx_patch.mutators.wiring.target import find_target, import_position

    target = find_target(module, ctx.project.app_name)
    if target is None:
        why = "no `app = FastAPI(...)` at module level and no function that creates and returns one"
        _by_hand(ctx, path, why)
        return old
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
    awaited = {ast.dump(ast.Expr(n)) for n in ast.walk(tree) if isinstance(n, ast.Await)}
    added = []
    for item in _render(ctx, target.app):
        exact = _dump(item.code)
        if exact in awaited or any(ast.dump(ast.Expr(call)) == exact for call in calls):
            continue
        similar = next((c for c in calls if _same_key(c, item, target.app)), None)
        if similar is None:
            added.append(item)
        elif (note := (
            f"{ctx.bundle.name}: {path}:{similar.lineno} already has "
            f"`{ast.unparse(similar)}`; left it as it is instead of adding `{item.code}`."
        )) not in ctx.notes:
            ctx.notes.append(note)
    if not added:
        return old
    hooks = [item for item in added if item.kind in ("startup", "shutdown")]
    if hooks:
        module, done = _lifespan(ctx, path, module, hooks)
        if not done:
            added = [item for item in added if item not in hooks]
            if not added:
                return old
        target = find_target(module, ctx.project.app_name)
        assert target is not None
    config = module.config_for_parsing
    statements = [
        cst.parse_statement(item.code, config=config) for item in added if item not in hooks
    ]
    body = _insert_statements(module, target, statements, ctx.bundle.name)
    imports = _imports(added, tree)
    first_party = ctx.project.own_packages()
    if len(tree.body) == len(module.body):
        from paxx_patch.import_order import place

        spots = sorted(
            ((place(tree, line.split()[1], first_party, target.top_level), line) for line in imports),
            key=lambda s: (s[0].index, s[1]), reverse=True,
        )
        for n, (spot, line) in enumerate(spots):
            statement = cst.parse_statement(line, config=config)
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
    else:  # `a; b` lines: the two trees count statements differently
        at = import_position(module, target.top_level)
        body[at:at] = [cst.parse_statement(line, config=config) for line in imports]
    ctx.entries["wiring"] = {
        "file": path,  # the lock records it relative to the project
        "imports": imports,
        "lines": [item.code for item in added],
    }
    return module.with_changes(body=body).bytes


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
    func = body[target.factory]
    assert isinstance(func, cst.FunctionDef) and isinstance(func.body, cst.IndentedBlock)
    inner = [*func.body.body]
    inner[target.insert_at:target.insert_at] = statements
    body[target.factory] = func.with_changes(body=func.body.with_changes(body=inner))
    return body


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


def _same_key(call: ast.Call, item: _Wanted, app: str) -> bool:
    """Does `call` already do what `item` would (same middleware, path or setup call)?"""
    func = _dotted(call.func) or ""
    first = call.args[0] if call.args else None
    if item.kind in ("calls", "startup", "shutdown"):  # `setup_tracing(app)`, `close_redis()`
        return func.rpartition(".")[2] == item.key
    if item.kind == "middleware":
        name = _dotted(first) if first is not None else None
        return func == f"{app}.add_middleware" and (name or "").rpartition(".")[2] == item.key
    return (
        func.startswith(f"{app}.") and func.split(".")[-1] in _ROUTE_METHODS
        and isinstance(first, ast.Constant) and first.value == item.key
    )


def _remove(path: str, old: bytes, entry: dict[str, Any], component: str) -> bytes:
    """Take out the statements and imports `entry` records; skip those no longer there."""
    import libcst as cst

    pending = []
    for key in ("lines", "imports"):
        for line in entry.get(key) or []:
            try:
                pending.append(_dump(str(line)))
            except (SyntaxError, IndexError):
                continue  # not code paxx-patch wrote: nothing of it to take out
    if not pending:
        return old
    module = _parse_cst(path, old)
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
    if len(pending) == before:
        return old
    if any(str(line).startswith("await ") for line in entry.get("lines") or []):
        from paxx_patch.mutators.wiring.lifespan import remove_scaffolding

        result = remove_scaffolding(result)
    return result.bytes
