"""Docstrings of generated modules laid out as the project's pydocstyle rules ask."""

from __future__ import annotations

import ast


def summary_on_second_line(text: str) -> str:
    """`text` with each multi-line docstring's summary moved to the line after its
    opening quotes (pydocstyle's D213, which some projects select instead of D212)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not Python after all: left as the bundle wrote it
    owners = [tree, *(n for n in ast.walk(tree) if isinstance(
        n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef))]
    lines = text.splitlines(keepends=True)
    starts = []
    for owner in owners:
        first = owner.body[0] if owner.body else None
        if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str) and first.end_lineno != first.lineno):
            line = lines[first.lineno - 1]
            if line[first.col_offset:].startswith('"""') and line[first.col_offset + 3:].strip():
                starts.append((first.lineno - 1, first.col_offset))
    for index, column in sorted(starts, reverse=True):
        line = lines[index]
        indent = line[:column]
        lines[index] = f'{line[:column + 3]}\n{indent}{line[column + 3:]}'
    return "".join(lines)
