"""settings: typed fields on the pydantic-settings class, edited with libcst.

New fields go after the class's last field under a `# <component>` comment,
named in the class's style (UPPER or lower). libcst keeps every other byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import libcst as cst

from paxx_patch.bundle import SettingField
from paxx_patch.errors import PaxxError
from paxx_patch.mutators import Context
from paxx_patch.text import TextFile


def field_source(setting: SettingField, attr: str) -> str:
    if setting.secret:
        line = f'{attr}: SecretStr = SecretStr("")'
    elif setting.type == "str":
        line = f"{attr}: str = {_py_str(str(setting.default))}"
    else:
        line = f"{attr}: {setting.type} = {setting.default!r}"
    return line + (f"  # {setting.description}" if setting.description else "")


SECRET_IMPORT = "from pydantic import SecretStr\n"


def _code_without_imports(module: cst.Module) -> str:
    body = [s for s in module.body if not (
        isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], cst.Import | cst.ImportFrom)
    )]
    return module.with_changes(body=body).code


def _remove_imports(module: cst.Module, sources: set[str]) -> cst.Module:
    body = [s for s in module.body if module.code_for_node(s).strip() not in sources]
    return module.with_changes(body=body)


def _py_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SettingsMutator:
    name = "settings"

    def paths(self, ctx: Context) -> Sequence[str]:
        return [ctx.project.settings_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if old is None:
            raise PaxxError(f"{path}: the settings module is missing from the commit.")
        doc = TextFile.decode(path, old)
        try:
            module = cst.parse_module(doc.text)
        except cst.ParserSyntaxError as e:
            raise PaxxError(
                f"{path}:{e.raw_line}: Python syntax error. Fix it and commit, then run "
                "paxx-patch again."
            ) from e
        if ctx.removing is not None:
            names = set(ctx.removing.entries.get(self.name, {}).get("fields", []))
            new_module = module.visit(_RemoveFields(ctx.project.settings_class, names, ctx.bundle.name))
            imports = ctx.removing.entries.get(self.name, {}).get("imports", [])
            if imports and "SecretStr" not in _code_without_imports(new_module):
                new_module = _remove_imports(new_module, set(imports))
            return old if new_module.code == module.code else doc.encode(new_module.code)
        existing = _field_names(module, ctx.project.settings_class)
        if existing is None:
            raise PaxxError(
                f"{path}: class {ctx.project.settings_class} not found at module level. "
                'Set [tool.paxx-patch] settings = "module:ClassName".'
            )
        new_fields = []
        for setting in ctx.bundle.settings:
            attr = ctx.project.field_name(setting.name)
            if attr in existing:
                if ctx.previous is None:
                    ctx.notes.append(f"{path}: {attr} is already defined; left as it is.")
                continue
            new_fields.append((setting, attr))
        if not new_fields:
            return old
        statements = [cst.parse_statement(field_source(s, a) + "\n") for s, a in new_fields]
        first = statements[0]
        assert isinstance(first, cst.SimpleStatementLine)
        statements[0] = first.with_changes(leading_lines=[
            cst.EmptyLine(indent=False),
            cst.EmptyLine(comment=cst.Comment(f"# {ctx.bundle.name}")),
        ])
        module = module.visit(_AddFields(ctx.project.settings_class, statements))
        added_import = any(s.secret for s, _ in new_fields) and not _imports_name(module, "SecretStr")
        if added_import:
            module = _add_import(module, SECRET_IMPORT)
        code = module.code
        try:
            compile(code, path, "exec")
        except SyntaxError as e:  # pragma: no cover — libcst produced invalid code
            raise AssertionError(f"settings edit broke {path}: {e}") from e
        ctx.entries[self.name] = {
            "file": path, "class": ctx.project.settings_class,
            "fields": [a for _, a in new_fields],
            **({"imports": [SECRET_IMPORT.strip()]} if added_import else {}),
        }
        return doc.encode(code)

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} settings from {changed[0]}"
        fields = ctx.entries.get(self.name, {}).get("fields", [])
        return f"add {', '.join(fields)} to {changed[0]}"


def _is_field(stmt: Any) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.AnnAssign)
        and isinstance(stmt.body[0].target, cst.Name)
        and stmt.body[0].target.value != "model_config"
    )


def _field_names(module: Any, class_name: str) -> set[str] | None:
    """Fields of the class, including those it inherits from classes of the module."""
    classes = {s.name.value: s for s in module.body if isinstance(s, cst.ClassDef)}
    if class_name not in classes:
        return None
    names: set[str] = set()
    todo, seen = [class_name], set()
    while todo:
        cls = classes[todo.pop()]
        seen.add(cls.name.value)
        names |= {s.body[0].target.value for s in cls.body.body if _is_field(s)}  # type: ignore[union-attr]
        todo += [
            b.value.value for b in cls.bases
            if isinstance(b.value, cst.Name) and b.value.value in classes
            and b.value.value not in seen
        ]
    return names


def _imports_name(module: Any, name: str) -> bool:
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if (
                    isinstance(small, cst.ImportFrom)
                    and not isinstance(small.names, cst.ImportStar)
                    and any((a.evaluated_alias or a.evaluated_name) == name for a in small.names)
                ):
                    return True
    return False


def _add_import(module: Any, source: str) -> Any:
    body = list(module.body)
    last_import = -1
    for i, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine) and isinstance(
            stmt.body[0], cst.Import | cst.ImportFrom
        ):
            last_import = i
    body.insert(last_import + 1, cst.parse_statement(source))
    return module.with_changes(body=body)


class _AddFields(cst.CSTTransformer):
    def __init__(self, class_name: str, statements: list[Any]) -> None:
        super().__init__()
        self.class_name = class_name
        self.statements = statements

    def leave_ClassDef(self, original: Any, updated: Any) -> Any:
        if updated.name.value != self.class_name:
            return updated
        body = list(updated.body.body)
        last = max((i for i, s in enumerate(body) if _is_field(s)), default=len(body) - 1)
        body[last + 1 : last + 1] = self.statements
        return updated.with_changes(body=updated.body.with_changes(body=body))


class _RemoveFields(cst.CSTTransformer):
    def __init__(self, class_name: str, names: set[str], component: str) -> None:
        super().__init__()
        self.class_name = class_name
        self.names = names
        self.component = component

    def leave_ClassDef(self, original: Any, updated: Any) -> Any:
        if updated.name.value != self.class_name:
            return updated
        body = [
            s for s in updated.body.body
            if not (_is_field(s) and s.body[0].target.value in self.names)
        ]
        return updated.with_changes(body=updated.body.with_changes(body=body))
