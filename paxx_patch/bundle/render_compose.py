"""Render a bundle's compose.yaml with template variables placed as YAML scalars.

Jinja pastes text, and a value pasted into YAML can close its scalar and add keys
(`bucket=x\n    privileged: true`). So the template is first rendered with a
harmless marker in place of each variable; the YAML that gives is parsed, which
says where every scalar holding a marker starts and how it is quoted. Each such
scalar is then written again with the real values: in place when they cannot
change its meaning, else as one double-quoted scalar. The result must parse to
the marker document with the markers replaced by the values, or it is refused.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from typing import Any

from paxx_patch.bundle import Bundle
from paxx_patch.bundle.render import render_file
from paxx_patch.edit.yaml_scalar import double_quoted, is_plain_safe
from paxx_patch.runtime.errors import PaxxError

# a value that may stand in a plain or single-quoted scalar as it is
_IN_PLACE = re.compile(r"[A-Za-z0-9_./+-]*")


def render_compose(bundle: Bundle, context: Mapping[str, Any]) -> str:
    values: Mapping[str, str] = context.get("vars") or {}
    if not values:
        return render_file(bundle, "compose.yaml", context)
    token = secrets.token_hex(6)
    # mixed case, so that a filter such as `lower` or `title` is noticed below
    markers = {f"PaxxVar{i}x{token}": value for i, value in enumerate(values.values())}
    by_name = dict(zip(values, markers, strict=True))
    text = render_file(bundle, "compose.yaml", {**context, "vars": by_name})
    where = f"{bundle.directory}/compose.yaml"
    if _substitute(text, markers) != render_file(bundle, "compose.yaml", context):
        # a filter or a test on a value: where it lands can no longer be told
        raise PaxxError(
            f"{where}: a template variable is transformed or tested there (a filter, "
            "`{% if %}`, ...), so paxx-patch cannot place its value as a YAML scalar. "
            "Use `{{ vars.NAME }}` as it is. Fix the bundle."
        )
    if not any(m in text for m in markers):
        return text
    placed = _place(where, text, markers)
    _prove(where, text, placed, markers)
    return placed


def _substitute(text: str, markers: Mapping[str, str]) -> str:
    for marker, value in markers.items():
        text = text.replace(marker, value)
    return text


def _scalars(node: Any, found: list[tuple[int, int, str]], where: str, markers: Mapping[str, str]) -> None:
    """(line, column, value) of each string scalar holding a marker, depth first."""
    items: list[tuple[Any, tuple[int, int] | None]] = []
    if hasattr(node, "items") and hasattr(node, "lc"):
        for key, value in node.items():
            if isinstance(key, str) and any(m in key for m in markers):
                line = int(node.lc.key(key)[0]) + 1
                raise PaxxError(f"{where}:{line}: a template variable names a key; "
                                "variables may only be used in values. Fix the bundle.")
            items.append((value, tuple(node.lc.value(key))))
    elif isinstance(node, list) and hasattr(node, "lc"):
        items = [(value, tuple(node.lc.item(i))) for i, value in enumerate(node)]
    for value, position in items:
        if isinstance(value, str):
            if position is not None and any(m in value for m in markers):
                found.append((int(position[0]), int(position[1]), str(value)))
        else:
            _scalars(value, found, where, markers)


def _place(where: str, text: str, markers: Mapping[str, str]) -> str:
    from paxx_patch.edit.yaml_scalar import load_yaml

    found: list[tuple[int, int, str]] = []
    _scalars(load_yaml(where, text), found, where, markers)
    lines = text.splitlines(keepends=True)
    for line, column, value in sorted(found, reverse=True):
        source = lines[line]
        end = _scalar_end(source, column)
        written = source[column:end]
        if not any(m in written for m in markers):
            raise PaxxError(f"{where}:{line + 1}: a template variable sits in a scalar "
                            "that spans lines; keep it on one line. Fix the bundle.")
        style = written[:1]
        used = [v for m, v in markers.items() if m in written]
        if style in "|>":
            raise PaxxError(f"{where}:{line + 1}: a template variable in a block scalar; "
                            "use a quoted scalar instead. Fix the bundle.")
        new = _substitute(written, markers)
        if style == '"' or not all(_IN_PLACE.fullmatch(v) for v in used) or (
            style != "'" and any(written.startswith(m) for m in markers) and not is_plain_safe(new)
        ):
            # a plain scalar that would start with a digit, or read as a boolean or
            # null, is quoted too: it must stay the string it was
            new = double_quoted(_substitute(value, markers))
        lines[line] = source[:column] + new + source[end:]
    placed = "".join(lines)
    # what is left is in comments: keep a value there only if it stays one line
    for marker, value in markers.items():
        if marker in placed and not _IN_PLACE.fullmatch(value):
            raise PaxxError(f"{where}: a template variable in a comment would carry "
                            f"{value!r} into the file; remove it from the comment. Fix the bundle.")
    return _substitute(placed, markers)


def _scalar_end(line: str, column: int) -> int:
    """Where the one-line scalar starting at `column` ends."""
    first = line[column : column + 1]
    if first == '"':
        i = column + 1
        while i < len(line) and line[i] != '"':
            i += 2 if line[i] == "\\" else 1
        return min(i + 1, len(line))
    if first == "'":
        i = column + 1
        while i < len(line):
            if line[i] == "'" and line[i + 1 : i + 2] != "'":
                return i + 1
            i += 2 if line[i] == "'" else 1
        return len(line)
    body = line.rstrip("\r\n")
    end = len(body)
    comment = body.find(" #", column)
    if comment >= 0:
        end = comment
    # inside a flow collection a plain scalar stops at the next indicator
    flow = max(body.rfind("[", 0, column), body.rfind("{", 0, column))
    if flow >= 0:
        stops = [i for i in (body.find(c, column) for c in ",]}") if i >= 0]
        end = min([end, *stops])
    return len(body[:end].rstrip()) if body[:end].strip() else end


def _replace_in(data: Any, markers: Mapping[str, str]) -> Any:
    if isinstance(data, str):
        return _substitute(data, markers)
    if isinstance(data, dict):
        return {_replace_in(k, markers): _replace_in(v, markers) for k, v in data.items()}
    if isinstance(data, list):
        return [_replace_in(v, markers) for v in data]
    return data


def _prove(where: str, marked: str, placed: str, markers: Mapping[str, str]) -> None:
    from paxx_patch.edit.yaml_scalar import load_yaml

    wanted = _replace_in(load_yaml(where, marked, lines=False), markers)
    if load_yaml(where, placed, lines=False) != wanted:
        raise PaxxError(
            f"{where}: the template variables ({', '.join(repr(v) for v in markers.values())}) "
            "cannot be placed in it as plain values. Quote the scalars that use them, "
            "or pick other values."
        )
