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
from collections.abc import Iterable, Sequence

from paxx_patch.bundle import SettingField
from paxx_patch.discover.settings import OWN_SETTINGS_CLASS
from paxx_patch.edit.text import TextFile
from paxx_patch.mutators import Context
from paxx_patch.mutators.own_settings import SKELETON, is_ours, own_settings_file
from paxx_patch.runtime.errors import PaxxError


def secret_import(ctx: Context) -> str:
    return f"from {ctx.project.secret_module} import SecretStr"


def field_source(setting: SettingField, attr: str) -> str:
    if setting.secret:
        line = f'{attr}: SecretStr = SecretStr("")'
    elif setting.type == "str":
        line = f"{attr}: str = {_py_str(str(setting.default))}"
    else:
        line = f"{attr}: {setting.type} = {setting.default!r}"
    return line


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
        from paxx_patch.discover import syntax_error

        raise syntax_error(path, e) from e


def _fields(cls: ast.ClassDef) -> list[ast.AnnAssign]:
    return [
        s for s in cls.body
        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
        and s.target.id != "model_config"
    ]


def _own_class(path: str, content: bytes) -> ast.ClassDef:
    tree = _parse(path, TextFile.decode(path, content).text)
    found = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == OWN_SETTINGS_CLASS),
                 None)
    if found is None:
        raise PaxxError(f"{path}: class {OWN_SETTINGS_CLASS} not found at module level; restore "
                        f"the file with `git checkout HEAD -- {path}`.")
    return found


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
        # a property or computed field of that name already answers to it
        names |= {f.name for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
        todo += [b.id for b in cls.bases
                 if isinstance(b, ast.Name) and b.id in classes and b.id not in seen]
    return names


def _imports_secret(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == "SecretStr" for a in node.names)
        for node in tree.body
    )


def _add_secret_import(tree: ast.Module, lines: list[str], ctx: Context) -> dict[str, object]:
    """Import SecretStr where isort would: into `from pydantic import ...` when there
    is one, else in the third-party block. Returns what the lock records of it."""
    from paxx_patch.edit.import_order import existing_from, merged_lines, place

    existing = existing_from(tree, ctx.project.secret_module)
    if existing is not None:
        start, end = existing.lineno - 1, int(existing.end_lineno or existing.lineno)
        merged = merged_lines(lines, existing, ["SecretStr"], ctx.project.style.line_length)
        if merged is not None:
            before = "".join(lines[start:end])
            lines[start:end] = ["".join(merged)]
            return {"import_merged": {"before": before, "after": "".join(merged)}}
    first_party = ctx.project.own_packages()
    spot = place(tree, ctx.project.secret_module, first_party)
    text = secret_import(ctx) + "\n"
    if spot.index > 0 and spot.after_previous:
        at = int(tree.body[spot.index - 1].end_lineno or 0)
    elif spot.index < len(tree.body):
        at = tree.body[spot.index].lineno - 1
    else:
        at = len(lines)
    if spot.new_block:
        text = "\n" + text
    if spot.blank_after:
        text += "\n"
    lines[at:at] = [text]
    entry: dict[str, object] = {"imports": [secret_import(ctx)]}
    if text != secret_import(ctx) + "\n":  # blank lines of its own: remove takes them too
        entry["import_text"] = text
    return entry


class SettingsMutator:
    name = "settings"

    def paths(self, ctx: Context) -> Sequence[str]:
        own = own_settings_file(ctx.removing)
        return [ctx.project.path(own) if own else ctx.project.settings_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        own = own_settings_file(ctx.removing) is not None if ctx.removing else ctx.project.own_settings
        if not own:
            return self._apply(path, old, ctx)
        if old is not None and not is_ours(old):
            raise PaxxError(
                f"{path} already exists and was not written by paxx-patch; the components' "
                f"settings would go there, as the project has no settings object to share. Move "
                "or rename your file, or set [tool.paxx-patch] services_dir to another "
                "directory. Nothing was changed."
            )
        if old is None and ctx.removing is not None:
            return None
        new = self._apply(path, ctx.project.style.quoted(SKELETON).encode() if old is None else old, ctx)
        if new is not None and ctx.removing is not None and not _fields(_own_class(path, new)):
            return None  # the last component reading its settings here is gone
        assert new is not None
        ctx.owned_files[path] = new
        if ctx.removing is None:
            ctx.entries.setdefault(self.name, {"file": path, "class": OWN_SETTINGS_CLASS,
                                               "fields": []})["own"] = True
        return new

    def _apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        if old is None:
            raise PaxxError(f"{path}: the settings module is missing from the commit.")
        doc = TextFile.decode(path, old)
        tree = _parse(path, doc.text)
        classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
        class_name = ctx.project.settings_class
        if own_settings_file(ctx.removing):
            class_name = OWN_SETTINGS_CLASS
        cls = classes.get(class_name)
        if cls is None:
            raise PaxxError(
                f"{path}: class {class_name} not found at module level. "
                'Set [tool.paxx-patch] settings = "module:ClassName".'
            )
        lines = _lines(doc.text)
        if ctx.removing is not None:
            text = self._remove(tree, cls, lines, ctx)
            return old if text == doc.text else doc.encode(text)
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        existing = _field_names(classes, cls.name)
        if ctx.previous is None:
            _refuse_a_second_setup(path, cls, existing, ctx)
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
        width = ctx.project.style.line_length
        block = f"\n{indent}# {ctx.bundle.name}\n" + "".join(
            "".join(f"{line}\n" for line in _comment_lines(indent, s.description, width))
            + f"{indent}{field_source(s, a)}\n" for s, a in new_fields
        )
        block = ctx.project.style.quoted(block)
        lines[int(anchor.end_lineno or anchor.lineno):int(anchor.end_lineno or anchor.lineno)] = [block]
        import_entry = {}
        if any(s.secret for s, _ in new_fields) and not _imports_secret(tree):
            import_entry = _add_secret_import(tree, lines, ctx)
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
            **import_entry,
        }
        return doc.encode(code)

    def _remove(self, tree: ast.Module, cls: ast.ClassDef, lines: list[str], ctx: Context) -> str:
        assert ctx.removing is not None
        entry = ctx.removing.entries.get(self.name, {})
        names = set(entry.get("fields", []))
        drop: set[int] = set()
        described = {ctx.project.field_name(s.name): s.description for s in ctx.bundle.settings}
        for node in _fields(cls):
            if _name(node) in names:
                drop |= set(range(node.lineno - 1, int(node.end_lineno or node.lineno)))
                indent = lines[node.lineno - 1][: node.col_offset]
                comment = _comment_lines(indent, described.get(_name(node), ""),
                                         ctx.project.style.line_length)
                start = node.lineno - 1 - len(comment)
                if comment and start >= 0 and [
                    line.rstrip("\r\n") for line in lines[start:node.lineno - 1]
                ] == comment:
                    drop |= set(range(start, node.lineno - 1))
        if drop:
            # the `# component` heading and the blank line paxx-patch put above it
            first = min(drop)
            if first > 0 and lines[first - 1].strip() == f"# {ctx.bundle.name}":
                drop.add(first - 1)
                if first > 1 and not lines[first - 2].strip():
                    drop.add(first - 2)
        imports = set(entry.get("imports", []))
        kept = [line for i, line in enumerate(lines) if i not in drop]
        merged = entry.get("import_merged")
        if merged and not any(
            "SecretStr" in line for line in "".join(kept).replace(merged["after"], "").splitlines()
        ):
            return "".join(kept).replace(merged["after"], merged["before"], 1)
        if imports and not any("SecretStr" in line for line in kept if line.strip() not in imports):
            added = entry.get("import_text")
            if isinstance(added, str) and added in "".join(kept):
                return "".join(kept).replace(added, "", 1)
            kept = [line for line in kept if line.strip() not in imports]
        return "".join(kept)

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            return f"remove {ctx.bundle.name} settings from {changed[0]}"
        fields = ctx.entries.get(self.name, {}).get("fields", [])
        return f"add {', '.join(fields)} to {changed[0]}"


def _refuse_a_second_setup(path: str, cls: ast.ClassDef, existing: Iterable[str], ctx: Context) -> None:
    """A bundle that must not be added twice in another form (a second database, say)
    names the settings fields that show the project has it already."""
    signs = {name.lower() for name in ctx.bundle.refuse_when_settings}
    found = sorted(name for name in existing if name.lower() in signs)
    if not found:
        return
    line = next((node.lineno for node in cls.body if isinstance(node, ast.AnnAssign)
                 and isinstance(node.target, ast.Name) and node.target.id == found[0]), cls.lineno)
    raise PaxxError(
        f"{path}:{line}: {cls.name}.{found[0]} shows that the project already has its own "
        f"{ctx.bundle.name} setup; adding {ctx.bundle.name} would make a second one beside it. "
        f"Keep yours (nothing was changed), or remove it first and run `paxx-patch add "
        f"{ctx.bundle.name}` again."
    )


def _comment_lines(indent: str, text: str, width: int) -> list[str]:
    """A description as comment lines above its field, within the project's line length."""
    if not text:
        return []
    import textwrap

    room = max(width - len(indent) - 2, 20)
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=room)]
