"""dependencies: PEP 621, Poetry, requirements.txt, setup.py's `install_requires` or a
conda environment's `pip:` list, edited as text, read back by their parsers.

Insertions are textual so that every byte outside the new lines is kept;
tomllib (ast, YAML) then reads the result back to prove the edit is what was meant.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Sequence
from typing import Any

from paxx_patch.bundle import normalize_name
from paxx_patch.discover.dependencies import CONDA_PIP, INSTALL_REQUIRES, is_generated
from paxx_patch.edit.text import TextFile
from paxx_patch.mutators import Context
from paxx_patch.mutators.own_settings import REQUIREMENT
from paxx_patch.runtime.errors import PaxxError

_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


normalize = normalize_name


def requirement_name(requirement: str) -> str:
    m = _NAME.match(requirement)
    return normalize(m.group(1)) if m else ""


class DependenciesMutator:
    name = "dependencies"

    def paths(self, ctx: Context) -> Sequence[str]:
        return [ctx.project.dependency_file]

    def apply(self, path: str, old: bytes | None, ctx: Context) -> bytes | None:
        doc = TextFile.decode(path, old)
        if ctx.removing is not None:
            added = [r for r in ctx.removing.entries.get(self.name, {}).get("added", [])
                     if r not in ctx.shared_requirements]
            new_text = _remove(doc.text, added, ctx.project.dependency_style)
            return old if new_text == doc.text else doc.encode(new_text)
        style = ctx.project.dependency_style
        text, replaced = _repin(doc.text, style, ctx)
        existing = _existing(path, text, style)
        wanted = [d for d in ctx.bundle.dependencies_for(existing) if requirement_name(d) not in existing]
        if ctx.project.own_settings and requirement_name(REQUIREMENT) not in {*existing, *map(
            requirement_name, wanted)}:
            wanted.append(REQUIREMENT)  # the components' settings module is a BaseSettings
        if not wanted:
            if replaced:
                ctx.entries[self.name] = {"file": path, "added": [], "replaced": replaced}
                return doc.encode(text)
            return old
        doc = TextFile(doc.path, text, doc.bom, doc.newline)
        if style == "requirements":
            if is_generated(doc.text):
                raise PaxxError(
                    f"{path} is generated (pip-compile / uv export header) and must not be "
                    f"edited by hand. Add {', '.join(wanted)} to the file it is compiled from "
                    "(pyproject.toml or requirements.in), or point [tool.paxx-patch] "
                    "dependency_file at that file, then regenerate."
                )
            text = doc.text
            if text and not text.endswith("\n"):
                text += "\n"
            new = text + "".join(f"{d}\n" for d in wanted)
        elif style == "poetry":
            new = _add_poetry(path, doc.text, wanted)
        elif style == "setuptools":
            new = _add_setuptools(path, doc.text, wanted)
        elif style == "conda":
            new = _add_conda(path, doc.text, wanted)
        elif _table_span(doc.text.splitlines(keepends=True), "project") is None:
            # a pyproject for tools only (black, isort), the dependencies kept elsewhere
            # (conda's environment.yml, a Dockerfile's pip install): a [project] table
            # made here would need a name and version the build does not expect
            ctx.warnings.append(
                f"{ctx.bundle.name}: {path} has no [project] table, so its dependencies were "
                f"not added: add {', '.join(wanted)} where the project lists what it installs, "
                "or set [tool.paxx-patch] dependency_file to that file."
            )
            return old
        else:
            new = _add_pep621(path, doc.text, wanted)
        if style != "requirements":
            after = _existing(path, new, style)
            if not all(requirement_name(d) in after for d in wanted):
                raise AssertionError(f"dependency edit of {path} did not take")
        ctx.entries[self.name] = {"file": path, "added": wanted,
                                  **({"replaced": replaced} if replaced else {})}
        if ctx.project.dependency_note:
            ctx.notes.append(f"{ctx.bundle.name}: {ctx.project.dependency_note}")
        return doc.encode(new)

    def subject(self, ctx: Context, changed: Sequence[str]) -> str:
        if ctx.removing is not None:
            removed = [r for r in ctx.removing.entries.get(self.name, {}).get("added", [])
                       if r not in ctx.shared_requirements]
            return f"remove {', '.join(removed)} from {changed[0]}"
        entry = ctx.entries.get(self.name, {})
        moves = [f"{new} (was {old})" for old, new in entry.get("replaced", {}).items()]
        if not moves:
            return f"add {', '.join(entry.get('added', []))} to {changed[0]}"
        return f"update {', '.join([*entry.get('added', []), *moves])} in {changed[0]}"


def _repin(text: str, style: str, ctx: Context) -> tuple[str, dict[str, str]]:
    """On update: a requirement whose specifier changed in the bundle is rewritten where
    the file still has it exactly as the installed version wrote it."""
    if ctx.previous is None:
        return text, {}
    before = {requirement_name(d): d for d in ctx.previous.entries.get("dependencies", {}).get("added", [])}
    replaced: dict[str, str] = {}
    for dep in ctx.bundle.all_dependencies:
        old = before.get(requirement_name(dep))
        if old is None or old == dep:
            continue
        if style == "pep621" and text.count(f'"{old}"') == 1:
            text = text.replace(f'"{old}"', f'"{dep}"')
        elif style == "requirements" and f"\n{old}\n" in f"\n{text}":
            text = ("\n" + text).replace(f"\n{old}\n", f"\n{dep}\n", 1)[1:]
        else:
            ctx.notes.append(f"{ctx.bundle.name} now asks for {dep} (it added {old}); the file "
                             "no longer has it as written, so change it by hand if you agree.")
            continue
        replaced[old] = dep
    return text, replaced


def _existing(path: str, text: str, style: str) -> set[str]:
    if style == "requirements":
        return {
            requirement_name(line) for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "-"))
        }
    if style == "setuptools":
        return {requirement_name(d) for d in _install_requires(path, text)}
    if style == "conda":
        return _conda_names(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(f"{path}: not valid TOML: {e}. Fix the syntax and commit it.") from e
    if style == "poetry":
        # only the main dependencies: a dev group is not installed with the app
        tool = _typed(path, text, data, "tool", dict)
        poetry = _typed(path, text, tool, "poetry", dict, "[tool]")
        return {normalize(n) for n in _typed(path, text, poetry, "dependencies", dict, "[tool.poetry]")}
    project = _typed(path, text, data, "project", dict)
    deps = _typed(path, text, project, "dependencies", list, "[project]")
    return {requirement_name(d) for d in deps if isinstance(d, str)}


_KINDS = {dict: "a table", list: "a list", str: "a string", bool: "a boolean", int: "a number",
          float: "a number"}


def _typed(path: str, text: str, table: dict[str, Any], key: str, kind: type, where: str = "") -> Any:
    """table[key] (empty when absent) if it is of `kind`; else the file, line and fix."""
    value = table.get(key, kind())
    if isinstance(value, kind):
        return value
    found = next((i for i, line in enumerate(text.splitlines(), 1)
                  if re.match(rf"\s*(\[\s*([\w-]+\s*\.\s*)*)?{re.escape(key)}\s*[=\]]", line)), None)
    at = f", line {found}" if found else ""
    shown = f"{where} {key}".strip()
    example = {"[project] dependencies": ' (dependencies = ["fastapi>=0.110"], PEP 621)',
               "[tool.poetry] dependencies": " (a [tool.poetry.dependencies] table)"}.get(shown, "")
    raise PaxxError(
        f"{path}{at}: {shown} is {_KINDS.get(type(value), type(value).__name__)}, where it must "
        f"be {_KINDS[kind]}{example}. Fix it and commit it; nothing was changed."
    )


def _table_span(lines: list[str], header: str) -> tuple[int, int] | None:
    """Line range [start, end) of the body of `[header]`."""
    pattern = re.compile(r"^\s*\[\s*" + re.escape(header).replace(r"\.", r"\s*\.\s*") + r"\s*\]")
    for i, line in enumerate(lines):
        if pattern.match(line):
            end = next(
                (j for j in range(i + 1, len(lines)) if lines[j].lstrip().startswith("[")),
                len(lines),
            )
            return i + 1, end
    return None


def _table_body(lines: list[str], header: str, refusal: str) -> tuple[int, int]:
    """`_table_span` of `[header]`, or a PaxxError saying `refusal` where there is none."""
    span = _table_span(lines, header)
    if span is None:
        raise PaxxError(refusal)
    return span


def _last_content_line(lines: list[str], start: int, end: int) -> int:
    """Index after the last non-blank, non-comment line in [start, end)."""
    last = start
    for j in range(start, end):
        stripped = lines[j].strip()
        if stripped and not stripped.startswith("#"):
            last = j + 1
    return last


def _append_to_table(lines: list[str], start: int, end: int, new: list[str]) -> None:
    """Insert `new` after the last content line of the table body [start, end)."""
    at = _last_content_line(lines, start, end)
    if at and not lines[at - 1].endswith("\n"):
        lines[at - 1] += "\n"
    lines[at:at] = new


def _add_poetry(path: str, text: str, wanted: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    span = _table_body(lines, "tool.poetry.dependencies", (
        f"{path}: [tool.poetry.dependencies] is written as a dotted or inline table; "
        f"add {', '.join(wanted)} by hand, or move it to a [tool.poetry.dependencies] section."))
    _append_to_table(lines, *span, [_poetry_line(d) for d in wanted])
    return "".join(lines)


def _poetry_line(requirement: str) -> str:
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([^\]]*)\])?\s*(.*)$", requirement)
    assert m is not None
    name, extras, spec = m.group(1), m.group(3), m.group(4).strip() or "*"
    if extras:
        names = ", ".join(f'"{e.strip()}"' for e in extras.split(","))
        return f'{name} = {{ version = "{spec}", extras = [{names}] }}\n'
    return f'{name} = "{spec}"\n'


def _add_pep621(path: str, text: str, wanted: list[str]) -> str:
    lines = text.splitlines(keepends=True)
    start, end = _table_body(lines, "project", (
        f"{path}: no [project] table to add dependencies to; add one, or set "
        "[tool.paxx-patch] dependency_file."))
    key = re.compile(r"^\s*dependencies\s*=\s*\[")
    first = next((j for j in range(start, end) if key.match(lines[j])), None)
    if first is None:
        _append_to_table(lines, start, end, ["dependencies = [\n", *(f'    "{d}",\n' for d in wanted), "]\n"])
        return "".join(lines)
    offset = sum(len(line) for line in lines[:first])
    open_at = offset + lines[first].index("[", lines[first].index("="))
    return _insert_items(path, text, open_at, [f'"{d}"' for d in wanted], "[project].dependencies")


def _insert_items(path: str, text: str, open_at: int, quoted: list[str], what: str) -> str:
    """Add the `quoted` items to the array (TOML or Python list) whose `[` is at
    `open_at`, one per line when its items are, on its line when they share one."""
    items, close_at = _scan_array(path, text, open_at, what)
    if not items:
        return text[: open_at + 1] + ", ".join(quoted) + text[close_at:]
    last_end = items[-1]
    same_line = "\n" not in text[last_end:close_at]
    between = text[last_end:close_at]
    has_comma = between.lstrip().startswith(",")
    if same_line:
        insert = ("" if has_comma else ",") + " " + ", ".join(quoted)
        pos = last_end + (between.index(",") + 1 if has_comma else 0)
        return text[:pos] + insert + text[pos:]
    indent = re.match(r"[ \t]*", text[text.rfind("\n", 0, last_end) + 1 :])
    pad = indent.group(0) if indent else "    "
    new_lines = "".join(f"{pad}{q},\n" for q in quoted)
    if has_comma:
        line_end = text.index("\n", last_end) + 1
        return text[:line_end] + new_lines + text[line_end:]
    # The last item has no comma: rather than edit its line, the new items go in
    # front of it (after the item before it, or after the `[` line).
    previous = items[-2] if len(items) > 1 else open_at + 1
    line_end = text.index("\n", previous) + 1
    if line_end > text.rfind("\n", 0, last_end) + 1:
        # the item before shares the last item's line: that line gains a comma
        line_end = text.index("\n", last_end) + 1
        return text[:last_end] + "," + text[last_end:line_end] + new_lines + text[line_end:]
    return text[:line_end] + new_lines + text[line_end:]


def _scan_array(path: str, text: str, open_at: int, what: str) -> tuple[list[int], int]:
    """End offsets of the string items of the array at `open_at`, and its `]`."""
    items: list[int] = []
    i = open_at + 1
    while i < len(text):
        c = text[i]
        if c == "#":
            i = text.find("\n", i)
            if i < 0:
                break
        elif c in "\"'":
            triple = text.startswith(c * 3, i)
            quote = c * 3 if triple else c
            j = i + len(quote)
            while j < len(text) and not text.startswith(quote, j):
                j += 2 if text[j] == "\\" and c == '"' else 1
            i = j + len(quote)
            items.append(i)
            continue
        elif c == "]":
            return items, i
        elif c in "[{":
            raise PaxxError(f"{path}: {what} holds a nested value; fix it.")
        i += 1
    raise PaxxError(f"{path}: {what} has no closing `]`; fix the syntax.")


def _add_setuptools(path: str, text: str, wanted: list[str]) -> str:
    found = list(INSTALL_REQUIRES.finditer(text))
    if len(found) != 1:
        raise PaxxError(
            f"{path}: {'no' if not found else 'more than one'} `install_requires=[...]` list; "
            f"add {', '.join(wanted)} by hand, or set [tool.paxx-patch] dependency_file."
        )
    items = _install_requires(path, text)
    quote = "'" if items and re.search(rf"'{re.escape(items[0])}'", text) else '"'
    return _insert_items(path, text, found[0].end() - 1, [f"{quote}{d}{quote}" for d in wanted],
                         "setup.py's install_requires")


def _install_requires(path: str, text: str) -> list[str]:
    """The string items of the `install_requires=[...]` keyword in setup.py."""
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise PaxxError(f"{path}:{e.lineno}: not valid Python ({e.msg}); fix it and commit it.") from e
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "install_requires" and isinstance(node.value, ast.List):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _conda_pip(path: str, text: str) -> list[str]:
    from paxx_patch.edit.yaml_scalar import load_yaml

    data = load_yaml(path, text, lines=False)
    deps = data.get("dependencies") if isinstance(data, dict) else None
    out: list[str] = []
    for dep in deps if isinstance(deps, list) else []:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            out += [str(d) for d in dep["pip"]]
        elif isinstance(dep, str):
            out.append(re.split(r"[=<>!~ ]", dep, maxsplit=1)[0])  # conda's `name=1.2`
    return out


def _conda_names(path: str, text: str) -> set[str]:
    return {requirement_name(d) for d in _conda_pip(path, text)}


def _add_conda(path: str, text: str, wanted: list[str]) -> str:
    """After the last item of the environment's `- pip:` list, at its items' indent."""
    m = CONDA_PIP.search(text)
    if m is None:
        raise PaxxError(f"{path}: no `- pip:` list under dependencies; add one, or set "
                        "[tool.paxx-patch] dependency_file.")
    outer = len(m.group("indent"))
    line_end = text.find("\n", m.end())
    at = len(text) if line_end < 0 else line_end + 1
    pad = " " * (outer + 4)
    pos = at
    for line in text[at:].splitlines(keepends=True):
        stripped, indent = line.strip(), len(line) - len(line.lstrip(" \t"))
        if stripped and not stripped.startswith("#"):
            if indent <= outer or not stripped.startswith("-"):
                break
            pad, at = line[:indent], pos + len(line)
        pos += len(line)
    head = text[:at] if text[:at].endswith("\n") else text[:at] + "\n"
    return head + "".join(f"{pad}- {d}\n" for d in wanted) + text[at:]


def _remove(text: str, added: list[str], style: str) -> str:
    """Take out the lines (or array items) paxx-patch added, exactly as written."""
    if not added:
        return text
    if style == "poetry":
        lines = text.splitlines(keepends=True)
        span = _table_span(lines, "tool.poetry.dependencies") or (0, 0)
        ours = {_poetry_line(d) for d in added}
        return "".join(
            line for i, line in enumerate(lines) if not (span[0] <= i < span[1] and line in ours)
        )
    if style == "requirements":
        wanted = set(added)
        return "".join(line for line in text.splitlines(keepends=True) if line.strip() not in wanted)
    if style == "conda":
        ours = {f"- {d}" for d in added}
        return "".join(line for line in text.splitlines(keepends=True) if line.strip() not in ours)
    for dep in added:
        quote = "'" if style == "setuptools" and f"'{dep}'" in text else '"'
        quoted = re.escape(f"{quote}{dep}{quote}")
        text, n = re.subn(rf"(?m)^[ \t]*{quoted},?[ \t]*\n", "", text, count=1)
        if n == 0:
            text, n = re.subn(rf",[ \t]*{quoted}", "", text, count=1)
        if n == 0:
            text = re.sub(rf"{quoted},?[ \t]*", "", text, count=1)
    return text
