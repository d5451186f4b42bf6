"""settings: typed fields on the pydantic-settings class.

New fields go after the class's last field under a `# <component>` comment,
named in the class's style (UPPER or lower). The standard library's `ast` finds
the class, its fields and the imports with their exact lines; the new lines are
inserted as text, so every other byte is kept, and the result is compiled to
prove it is still Python. (A concrete syntax tree library would do the same job
at ten times the import cost, paid on every run.)
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from paxx_patch.bundle import SettingField
from paxx_patch.errors import PaxxError
from paxx_patch.mutators import Context
from paxx_patch.text import TextFile

SECRET_IMPORT = "from pydantic import SecretStr"


def field_source(setting: SettingField, attr: str) -> str:
    if setting.secret:
        line = f'{attr}: SecretStr = SecretStr("")'
    elif setting.type == "str":
        line = f"{attr}: str = {_py_str(str(setting.default))}"
    else:
        line = f"{attr}: {setting.type} = {setting.default!r}"
    return line + (f"  # {setting.description}" if setting.description else "")


def _py_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _lines(text: str) -> list[str]:
    """Lines as `ast` counts them (str.splitlines would also split at form feeds)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _parse(path: str, text: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path)
    except SyntaxError as e:
        raise PaxxError(
            f"{path}:{e.lineno}: Python syntax error ({e.msg}). Fix it and commit, then run "
            "paxx-patch again."
        ) from e


def _fields(cls: ast.ClassDef) -> list[ast.AnnAssign]:
    return [
        s for s in cls.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        and s.target.id != "model_config"
    ]


def _name(node: ast.AnnAssign) -> str:
    assert isinstance(node.target, ast.Name)
    return node.target.id


def _field_names(classes: dict[str, ast.ClassDef], class_name: str) -> set[str]:
    """Fields of the class, including those it inherits from classes of the module."""
    names: set[str] = set()
    todo, seen = [class_name], set()
    while todo:
        cls = classes[todo.pop()]
        seen.add(cls.name)
        names |= {_name(f) for f in _fields(cls)}
        todo += [b.id for b in cls.bases
                 if isinstance(b, ast.Name) and b.id in classes and b.id not in seen]
    return names


def _imports_secret(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "SecretStr" for a in node.names)
        for node in tree.body
    )


def _import_line(tree: ast.Module) -> int:
    """Line index where a new top-level import goes: after the last one."""
    imports = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    if imports:
        return int(imports[-1].end_lineno or imports[-1].lineno)
    first = tree.body[0] if tree.body else None
    is_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    return int(first.end_lineno or 0) if first is not None and is_doc else 0


class SettingsMutator:
    name = "settings"

    def paths(self, ctx: Context) -> Sequence[str]:
        return [ctx.project.settings_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if old is None:
            raise PaxxError(f"{path}: the settings module is missing from the commit.")
        doc = TextFile.decode(path, old)
        tree = _parse(path, doc.text)
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        cls = classes.get(ctx.project.settings_class)
        if cls is None:
            raise PaxxError(
                f"{path}: class {ctx.project.settings_class} not found at module level. "
                'Set [tool.paxx-patch] settings = "module:ClassName".'
            )
        lines = _lines(doc.text)
        if ctx.removing is not None:
            text = self._remove(tree, cls, lines, ctx)
            return old if text == doc.text else doc.encode(text)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        existing = _field_names(classes, cls.name)
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
        fields = _fields(cls)
        anchor = fields[-1] if fields else cls.body[-1]
        indent = lines[anchor.lineno - 1][: anchor.col_offset]
        block = f"\n{indent}# {ctx.bundle.name}\n" + "".join(
            f"{indent}{field_source(s, a)}\n" for s, a in new_fields
        )
        inserts = [(int(anchor.end_lineno or anchor.lineno), block)]
        added_import = any(s.secret for s, _ in new_fields) and not _imports_secret(tree)
        if added_import:
            inserts.append((_import_line(tree), SECRET_IMPORT + "\n"))
        for at, text in sorted(inserts, key=lambda i: i[0], reverse=True):
            lines[at:at] = [text]
        code = "".join(lines)
        try:
            compile(code, path, "exec")
        except SyntaxError as e:
            raise PaxxError(
                f"{path}:{e.lineno}: the new fields could not be placed in {cls.name} "
                "(unusual layout). Add them by hand, or point [tool.paxx-patch] settings at "
                "another class."
            ) from e
        ctx.entries[self.name] = {
            "file": path, "class": cls.name,
            "fields": [a for _, a in new_fields],
            **({"imports": [SECRET_IMPORT]} if added_import else {}),
        }
        return doc.encode(code)

    def _remove(self, tree: ast.Module, cls: ast.ClassDef, lines: list[str], ctx: Context) -> str:
        assert ctx.removing is not None
        entry = ctx.removing.entries.get(self.name, {})
        names = set(entry.get("fields", []))
        drop: set[int] = set()
        for node in _fields(cls):
            if _name(node) in names:
                drop |= set(range(node.lineno - 1, int(node.end_lineno or node.lineno)))
        if drop:
            # the `# component` heading and the blank line paxx-patch put above it
            first = min(drop)
            if first > 0 and lines[first - 1].strip() == f"# {ctx.bundle.name}":
                drop.add(first - 1)
                if first > 1 and not lines[first - 2].strip():
                    drop.add(first - 2)
        imports = set(entry.get("imports", []))
        kept = [line for i, line in enumerate(lines) if i not in drop]
        if imports and not any("SecretStr" in line for line in kept if line.strip() not in imports):
            kept = [line for line in kept if line.strip() not in imports]
        return "".join(kept)

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} settings from {changed[0]}"
        fields = ctx.entries.get(self.name, {}).get("fields", [])
        return f"add {', '.join(fields)} to {changed[0]}"
