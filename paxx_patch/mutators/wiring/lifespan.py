"""The components' startup and shutdown hooks, composed into the app's lifespan.

A bundle names async functions without arguments (`[wiring] shutdown =
["pkg.cache:close_redis"]`); this module writes `await close_redis()` where the
app runs its shutdown code, knowing nothing about the other components:

- `FastAPI(lifespan=NAME)` with `NAME` an `@asynccontextmanager` function of the
  module: startup hooks go right before its `yield`, shutdown hooks at the end of
  the `finally:` around the `yield`, or else at the end of the function (after
  the user's own shutdown code, which may still use the component);
- `@app.on_event("startup"/"shutdown")` async handlers: at the end of the handler;
- no lifespan and no handlers: a lifespan function is created above the app (or
  its factory) and passed as `lifespan=`;
- an app made by a FastAPI subclass of the module that passes an
  `@asynccontextmanager` method of its own as the lifespan
  (`super().__init__(lifespan=self._lifespan)`): the hooks go into that method.
  A new lifespan is never passed to a subclass: it could replace the class's own.

`remove_scaffolding` takes out a created lifespan again once no hook is left in it.
Anything else (a lifespan built by a call, sync handlers) is left to the user.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import libcst as cst

from paxx_patch.mutators.wiring.imports import alias_name, drop_import, import_root
from paxx_patch.mutators.wiring.target import Target

_CREATED_NAMES = ("lifespan", "app_lifespan", "components_lifespan")
# the docstring of a lifespan paxx-patch creates (projects that select pydocstyle ask
# every public function for one)
CREATED_DOCSTRING = "Start the app's services, and close them at shutdown."
_SCAFFOLD_IMPORTS = (("collections.abc", "AsyncIterator"), ("contextlib", "asynccontextmanager"))


@dataclass(frozen=True)
class Hook:
    phase: Literal["startup", "shutdown"]
    name: str  # the function awaited, imported by the caller

    @property
    def code(self) -> str:
        return f"await {self.name}()"


def _walk(node: cst.CSTNode, *, nested: bool = True) -> Iterator[cst.CSTNode]:
    yield node
    for child in node.children:
        if nested or not isinstance(child, cst.FunctionDef | cst.Lambda | cst.ClassDef):
            yield from _walk(child, nested=nested)


def _app_call(module: cst.Module, target: Target) -> cst.Call | None:
    """The `FastAPI(...)` call that creates the target app."""
    stmt = module.body[target.top_level]
    if isinstance(stmt, cst.FunctionDef) and isinstance(stmt.body, cst.IndentedBlock):
        calls = (_assigned_call(inner, target.app) for inner in stmt.body.body)
        return next((call for call in calls if call is not None), None)
    return _assigned_call(stmt, target.app)


def _assigned_call(stmt: cst.CSTNode, app: str) -> cst.Call | None:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    for small in stmt.body:
        if isinstance(small, cst.Assign | cst.AnnAssign) and isinstance(small.value, cst.Call):
            targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
            if any(isinstance(t, cst.Name) and t.value == app for t in targets):
                return small.value
    return None


def _keyword(call: cst.Call, name: str) -> cst.Arg | None:
    return next((a for a in call.args if a.keyword is not None and a.keyword.value == name), None)


def _functions(module: cst.Module, target: Target) -> list[cst.FunctionDef]:
    """Function definitions at module level and in the app's factory."""
    found = [s for s in module.body if isinstance(s, cst.FunctionDef)]
    if target.factory is not None:
        factory = module.body[target.factory]
        assert isinstance(factory, cst.FunctionDef) and isinstance(factory.body, cst.IndentedBlock)
        found += [s for s in factory.body.body if isinstance(s, cst.FunctionDef)]
    return found


def _decorator_name(decorator: cst.Decorator) -> str:
    node = decorator.decorator
    if isinstance(node, cst.Call):
        node = node.func
    return node.attr.value if isinstance(node, cst.Attribute) else getattr(node, "value", "")


def _handler_phase(func: cst.FunctionDef, app: str) -> str | None:
    """"startup"/"shutdown" for an `@app.on_event(...)` handler."""
    for decorator in func.decorators:
        node = decorator.decorator
        if (
            isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute)
            and isinstance(node.func.value, cst.Name) and node.func.value.value == app
            and node.func.attr.value == "on_event" and node.args
            and isinstance(node.args[0].value, cst.SimpleString)
        ):
            return node.args[0].value.evaluated_value  # type: ignore[return-value]
    return None


def _statements(hooks: Sequence[Hook], config: cst.PartialParserConfig) -> list[cst.SimpleStatementLine]:
    parsed = [cst.parse_statement(hook.code, config=config) for hook in hooks]
    return [stmt for stmt in parsed if isinstance(stmt, cst.SimpleStatementLine)]


def _append(block: cst.IndentedBlock, new: Sequence[cst.SimpleStatementLine]) -> cst.IndentedBlock:
    """`new` at the end of `block`; comment lines left below its last statement stay above them."""
    if not new:
        return block
    footer = [line for line in block.footer if line.comment is not None]
    rest = [line for line in block.footer if line.comment is None]
    first = new[0].with_changes(leading_lines=[*footer, *new[0].leading_lines])
    return block.with_changes(body=[*block.body, first, *new[1:]], footer=rest)


def _contains_yield(node: cst.CSTNode) -> bool:
    return any(isinstance(n, cst.Yield) for n in _walk(node, nested=False))


def _edit_lifespan(func: cst.FunctionDef, hooks: Sequence[Hook], config: cst.PartialParserConfig) -> cst.FunctionDef | None:
    assert isinstance(func.body, cst.IndentedBlock)
    body = list(func.body.body)
    at = next((i for i, s in enumerate(body) if _contains_yield(s)), None)
    if at is None:
        return None
    startup = _statements([h for h in hooks if h.phase == "startup"], config)
    shutdown = _statements([h for h in hooks if h.phase == "shutdown"], config)
    holder = body[at]
    if startup and isinstance(holder, cst.SimpleStatementLine):
        # comments above the `yield` ("# startup: ...") stay above the new lines
        startup[0] = startup[0].with_changes(leading_lines=holder.leading_lines)
        holder = body[at] = holder.with_changes(leading_lines=[])
    if isinstance(holder, cst.Try) and holder.finalbody is not None and isinstance(holder.body, cst.IndentedBlock):
        inner = list(holder.body.body)
        j = next(i for i, s in enumerate(inner) if _contains_yield(s))
        yielding = inner[j]
        if startup and isinstance(yielding, cst.SimpleStatementLine):
            startup[0] = startup[0].with_changes(leading_lines=yielding.leading_lines)
            inner[j] = yielding.with_changes(leading_lines=[])
        inner[j:j] = startup
        final = holder.finalbody
        assert isinstance(final.body, cst.IndentedBlock)
        body[at] = holder.with_changes(
            body=holder.body.with_changes(body=inner),
            finalbody=final.with_changes(body=_append(final.body, shutdown)),
        )
        return func.with_changes(body=func.body.with_changes(body=body))
    body[at:at] = startup
    return func.with_changes(body=_append(func.body.with_changes(body=body), shutdown))


def _is_async_context_manager(func: cst.FunctionDef) -> bool:
    return func.asynchronous is not None and any(
        _decorator_name(d) == "asynccontextmanager" for d in func.decorators
    )


def add_hooks(
    module: cst.Module, target: Target, hooks: Sequence[Hook], *, may_create: bool = True
) -> tuple[cst.Module, list[tuple[str, str]], str | None]:
    """The module with `hooks` in the app's lifespan, the imports the edit needs
    besides the hooks' own ((module, name) pairs), or why it could not be done.
    `may_create`: no code of the app's own is handed the app, so none can register
    `on_event` handlers that a new `lifespan=` would silence."""
    config = module.config_for_parsing
    call = _app_call(module, target)
    if call is None:
        return module, [], "the call that creates the app was not found"
    lifespan = _keyword(call, "lifespan")
    functions = _functions(module, target)
    if lifespan is not None:
        func = next(
            (f for f in functions if isinstance(lifespan.value, cst.Name)
             and f.name.value == lifespan.value.value and _is_async_context_manager(f)),
            None,
        )
        edited = _edit_lifespan(func, hooks, config) if func is not None else None
        if func is None or edited is None:
            return module, [], (
                f"its lifespan `{cst.Module([]).code_for_node(lifespan.value)}` is not an "
                "@asynccontextmanager function of this module with a `yield`"
            )
        return _replace(module, func, edited), [], None
    if target.app_class != "FastAPI":
        return _subclass_lifespan(module, target.app_class, hooks, config)
    handlers = {
        phase: [f for f in functions if _handler_phase(f, target.app) == phase]
        for phase in ("startup", "shutdown")
    }
    if handlers["startup"] or handlers["shutdown"] or _keyword(call, "on_shutdown") or _keyword(call, "on_startup"):
        edits: dict[cst.CSTNode, cst.CSTNode] = {}
        for phase in ("startup", "shutdown"):
            wanted = [h for h in hooks if h.phase == phase]
            if not wanted:
                continue
            usable = [f for f in handlers[phase] if f.asynchronous is not None]
            if not usable:
                return module, [], (
                    f"it runs on_event handlers but has no async `@{target.app}.on_event(\"{phase}\")` one"
                )
            func = usable[-1]
            assert isinstance(func.body, cst.IndentedBlock)
            edits[func] = func.with_changes(body=_append(func.body, _statements(wanted, config)))
        return _replace_all(module, edits), [], None
    if not may_create:
        return module, [], (
            "the app is handed to code of its own, which may register on_event handlers "
            "that a new lifespan would silence"
        )
    return _create_lifespan(module, target, call, hooks)


def _subclass_lifespan(
    module: cst.Module, class_name: str, hooks: Sequence[Hook], config: cst.PartialParserConfig
) -> tuple[cst.Module, list[tuple[str, str]], str | None]:
    classes = {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}
    seen: set[str] = set()
    queue = [class_name]
    while queue:  # the class, then its bases of this module
        name = queue.pop(0)
        cls = classes.get(name)
        if cls is None or name in seen:
            continue
        seen.add(name)
        code = cst.Module([]).code_for_node(cls)
        for stmt in cls.body.body:
            if (
                isinstance(stmt, cst.FunctionDef) and _is_async_context_manager(stmt)
                and re.search(rf"""lifespan['"]?\s*[,=]\s*self\.{stmt.name.value}\b""", code)
            ):
                edited = _edit_lifespan(stmt, hooks, config)
                if edited is not None:
                    return _replace(module, stmt, edited), [], None
        queue += [b.value.value for b in cls.bases if isinstance(b.value, cst.Name)]
    return module, [], (
        f"the app is made by {class_name}, a FastAPI subclass, and no @asynccontextmanager "
        "method of it with a `yield` is passed as its lifespan; a new lifespan passed to it "
        "could replace one it sets itself"
    )


def _replace_all(module: cst.Module, edits: dict[cst.CSTNode, cst.CSTNode]) -> cst.Module:
    class Replace(cst.CSTTransformer):
        def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> cst.CSTNode:  # type: ignore[override]
            return edits.get(original, updated)

    result = module.visit(Replace())
    assert isinstance(result, cst.Module)
    return result


def _replace(module: cst.Module, old: cst.CSTNode, new: cst.CSTNode) -> cst.Module:
    result = module.deep_replace(old, new)
    assert isinstance(result, cst.Module)
    return result


def _module_names(module: cst.Module) -> set[str]:
    names = set()
    for node in _walk(module):
        if isinstance(node, cst.Name):
            names.add(node.value)
    for stmt in module.body:
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            names.add(stmt.name.value)
    return names


def _bound_names(module: cst.Module) -> set[str]:
    """The names the module's own top-level statements bind (imports, definitions,
    assignments): `contextlib.asynccontextmanager` elsewhere binds no `asynccontextmanager`."""
    names: set[str] = set()
    for stmt in _top_level(module.body):
        if isinstance(stmt, cst.FunctionDef | cst.ClassDef):
            names.add(stmt.name.value)
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and not isinstance(small.names, cst.ImportStar):
                names.update(_alias_binding(alias) for alias in small.names)
            elif isinstance(small, cst.Import):
                names.update(_alias_binding(alias).split(".")[0] for alias in small.names)
            elif isinstance(small, cst.Assign | cst.AnnAssign):
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                names.update(t.value for t in targets if isinstance(t, cst.Name))
    return names


def _top_level(body: Sequence[cst.BaseStatement]) -> Iterator[cst.BaseStatement]:
    """The statements that run when the module is imported: those inside a top-level
    `try` (`try: from typing import X / except ImportError: ...`) or `if` too, but for
    `if TYPE_CHECKING:`, whose names do not exist at run time."""
    for stmt in body:
        yield stmt
        blocks: list[cst.BaseSuite] = []
        if isinstance(stmt, cst.Try):
            blocks = [stmt.body, *(h.body for h in stmt.handlers)]
            blocks += [b.body for b in (stmt.orelse, stmt.finalbody) if b is not None]
        elif isinstance(stmt, cst.If) and "TYPE_CHECKING" not in cst.Module([]).code_for_node(stmt.test):
            blocks = [stmt.body]
            if isinstance(stmt.orelse, cst.Else):
                blocks.append(stmt.orelse.body)
        for block in blocks:
            if isinstance(block, cst.IndentedBlock):
                yield from _top_level(block.body)


def _alias_binding(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return alias_name(alias)


def _create_lifespan(
    module: cst.Module, target: Target, call: cst.Call, hooks: Sequence[Hook]
) -> tuple[cst.Module, list[tuple[str, str]], str | None]:
    config = module.config_for_parsing
    taken = _module_names(module)
    name = next((n for n in _CREATED_NAMES if n not in taken), None)
    if name is None:
        return module, [], "the names it would give a new lifespan are taken"
    fastapi = cst.Module([]).code_for_node(call.func)
    nl = config.default_newline
    startup = "".join(f"    {h.code}{nl}" for h in hooks if h.phase == "startup")
    shutdown = "".join(f"    {h.code}{nl}" for h in hooks if h.phase == "shutdown")
    source = (
        f"@asynccontextmanager{nl}async def {name}(_app: {fastapi}) -> AsyncIterator[None]:{nl}"
        f'    """{CREATED_DOCSTRING}"""{nl}{startup}    yield{nl}{shutdown}'
    )
    func = cst.parse_statement(source, config=config)
    blank = cst.EmptyLine(indent=False)
    func = func.with_changes(leading_lines=[blank, blank])
    new_call = call.with_changes(args=_with_argument(call, name))
    result = _replace(module, call, new_call)
    body = list(result.body)
    after = body[target.top_level]
    blanks = next(
        (i for i, line in enumerate(after.leading_lines) if line.comment is not None),
        len(after.leading_lines),
    )
    # Two blank lines after a function; those missing belong to the function (its
    # block's footer), so taking the function out again restores the layout exactly.
    assert isinstance(func, cst.FunctionDef) and isinstance(func.body, cst.IndentedBlock)
    func = func.with_changes(body=func.body.with_changes(footer=[blank] * max(0, 2 - blanks)))
    body[target.top_level:target.top_level] = [func]
    bound = _bound_names(module)
    needed = [pair for pair in _SCAFFOLD_IMPORTS if pair[1] not in bound]
    return result.with_changes(body=body), needed, None


def _with_argument(call: cst.Call, name: str) -> list[cst.Arg]:
    no_space = cst.AssignEqual(
        whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
    )
    new = cst.Arg(keyword=cst.Name("lifespan"), value=cst.Name(name), equal=no_space)
    args = list(call.args)
    if not args:
        return [new]
    last = args[-1]
    if isinstance(last.comma, cst.Comma) and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace):
        # one argument per line with a trailing comma: the new one goes on its own line
        after = last.comma.whitespace_after
        indent = call.whitespace_before_args
        indent_line = indent.last_line if isinstance(indent, cst.ParenthesizedWhitespace) else cst.SimpleWhitespace("    ")
        args[-1] = last.with_changes(comma=last.comma.with_changes(
            whitespace_after=after.with_changes(last_line=indent_line)
        ))
        closing = cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(), empty_lines=[], indent=after.indent,
            last_line=after.last_line,
        )
        return [*args, new.with_changes(comma=cst.Comma(whitespace_after=closing))]
    args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
    return [*args, new.with_changes(comma=last.comma)]


def _is_created_and_empty(stmt: cst.BaseStatement) -> bool:
    """A lifespan `_create_lifespan` made, exactly as made, whose hooks are all gone again."""
    if not (isinstance(stmt, cst.FunctionDef) and stmt.name.value in _CREATED_NAMES):
        return False
    if not isinstance(stmt.body, cst.IndentedBlock) or any(line.comment for line in stmt.body.footer):
        return False
    code = cst.Module([]).code_for_node(
        stmt.with_changes(leading_lines=[], body=stmt.body.with_changes(footer=[]))
    )
    return re.fullmatch(
        rf"@asynccontextmanager\r?\nasync def {stmt.name.value}\(_?app: [\w.]+\) -> "
        rf'AsyncIterator\[None\]:\r?\n(    """{re.escape(CREATED_DOCSTRING)}"""\r?\n)?    yield\r?\n',
        code,
    ) is not None


def _without_argument(args: Sequence[cst.Arg], index: int) -> list[cst.Arg]:
    kept = list(args)
    removed = kept.pop(index)
    if index == len(kept) and kept:  # it was the last: the one before takes its ending
        before = kept[-1]
        if not isinstance(removed.comma, cst.Comma):
            kept[-1] = before.with_changes(comma=cst.MaybeSentinel.DEFAULT)
        elif isinstance(before.comma, cst.Comma) and isinstance(
            before.comma.whitespace_after, cst.ParenthesizedWhitespace
        ) and isinstance(removed.comma.whitespace_after, cst.ParenthesizedWhitespace):
            ending = removed.comma.whitespace_after
            kept[-1] = before.with_changes(comma=before.comma.with_changes(
                whitespace_after=before.comma.whitespace_after.with_changes(
                    indent=ending.indent, last_line=ending.last_line
                )
            ))
        else:
            kept[-1] = before.with_changes(comma=removed.comma)
    return kept


def remove_scaffolding(module: cst.Module) -> cst.Module:
    """Take out a lifespan paxx-patch created once it only yields, the `lifespan=`
    that passes it, and its imports when nothing else uses them."""
    empty = {s.name.value for s in module.body if isinstance(s, cst.FunctionDef) and _is_created_and_empty(s)}
    if not empty:
        return module

    class Unpass(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.Call:
            for i, arg in enumerate(updated.args):
                if (
                    arg.keyword is not None and arg.keyword.value == "lifespan"
                    and isinstance(arg.value, cst.Name) and arg.value.value in empty
                ):
                    return updated.with_changes(args=_without_argument(updated.args, i))
            return updated

    result = module.visit(Unpass())
    body: list[cst.BaseStatement] = []
    dropped = False
    for stmt in result.body:
        if _is_created_and_empty(stmt):
            dropped = True
            continue
        if dropped and isinstance(stmt, cst.SimpleStatementLine) and body and isinstance(
            body[-1], cst.SimpleStatementLine
        ):
            # the two blank lines a function needed after it: between plain
            # statements (imports and `app = FastAPI()`) one is the usual layout
            lines = list(stmt.leading_lines)
            while len(lines) > 1 and lines[0].comment is None and lines[1].comment is None:
                del lines[0]
            stmt = stmt.with_changes(leading_lines=lines)
        dropped = False
        body.append(stmt)
    result = result.with_changes(body=body)
    used = {
        node.value for stmt in result.body if import_root(stmt) is None
        for node in _walk(stmt) if isinstance(node, cst.Name)
    }
    for source, name in _SCAFFOLD_IMPORTS:
        if name not in used:
            result = drop_import(result, source, name)
    return result
