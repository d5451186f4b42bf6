"""Standard-library imports the lifespan wiring needs, put where isort would.

`from M import N` is merged into an existing `from M import ...`, else placed among
the module's standard-library imports in order, else above the first import;
`drop_import` takes a name out again (and the statement, once it is empty).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from typing import TypeVar

import libcst as cst


def add_imports(module: cst.Module, pairs: Sequence[tuple[str, str]]) -> cst.Module:
    """`from M import N` for standard-library `pairs`: merged into an existing
    `from M import ...`, else among the module's standard-library imports, in order."""
    for source, name in pairs:
        module = add_import(module, source, name)
    return module


def import_from(stmt: cst.BaseStatement) -> cst.ImportFrom | None:
    """The `from M import a, b` (absolute, no star) that `stmt` is."""
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.ImportFrom):
        node = stmt.body[0]
        if node.module is not None and not node.relative and not isinstance(node.names, cst.ImportStar):
            return node
    return None


def from_module(stmt: cst.BaseStatement) -> str | None:
    node = import_from(stmt)
    return None if node is None or node.module is None else cst.Module([]).code_for_node(node.module)


def alias_name(alias: cst.ImportAlias) -> str:
    return cst.Module([]).code_for_node(alias.name)


def import_root(stmt: cst.BaseStatement) -> str | None:
    if not isinstance(stmt, cst.SimpleStatementLine):
        return None
    node = stmt.body[0]
    if isinstance(node, cst.ImportFrom):
        found = from_module(stmt)
        return found.split(".")[0] if found else None
    if isinstance(node, cst.Import):
        return cst.Module([]).code_for_node(node.names[0].name).split(".")[0]
    return None


def _imports_from(body: Sequence[cst.BaseStatement], source: str
                  ) -> Iterator[tuple[int, cst.SimpleStatementLine, cst.ImportFrom, Sequence[cst.ImportAlias]]]:
    """(index, statement, node, names) of each `from SOURCE import ...` in `body`."""
    for i, stmt in enumerate(body):
        node = import_from(stmt)
        if node is not None and from_module(stmt) == source:
            assert isinstance(stmt, cst.SimpleStatementLine) and not isinstance(node.names, cst.ImportStar)
            yield i, stmt, node, node.names


def add_import(module: cst.Module, source: str, name: str) -> cst.Module:
    body = list(module.body)
    for i, stmt, node, aliases in _imports_from(body, source):
        names = sorted([*aliases, cst.ImportAlias(name=cst.Name(name))], key=alias_name)
        space = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))
        names = [a.with_changes(comma=space) for a in names[:-1]] + [
            names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        ]
        body[i] = stmt.with_changes(body=[node.with_changes(names=names, lpar=None, rpar=None)])
        return module.with_changes(body=body)
    line = cst.parse_statement(f"from {source} import {name}", config=module.config_for_parsing)
    stdlib = [
        i for i, stmt in enumerate(body)
        if (root := import_root(stmt)) is not None and root in sys.stdlib_module_names and root != "__future__"
    ]
    if stdlib:
        run = [i for i in stdlib if from_module(body[i]) is not None]
        at = next((i for i in run if (from_module(body[i]) or "") > source), None)
        if at is None:
            at = (run[-1] if run else stdlib[-1]) + 1
            line = noqa_like(line, body[at - 1])
        else:
            line = noqa_like(line, body[at]).with_changes(leading_lines=body[at].leading_lines)
            body[at] = body[at].with_changes(leading_lines=[])
        body[at:at] = [line]
        return module.with_changes(body=body)
    imports = [i for i, stmt in enumerate(body) if import_root(stmt) not in (None, "__future__")]
    if imports:
        first = imports[0]
        line = line.with_changes(leading_lines=body[first].leading_lines)
        body[first] = body[first].with_changes(leading_lines=[cst.EmptyLine(indent=False)])
        body[first:first] = [line]
        return module.with_changes(body=body)
    at = 1 if module.get_docstring() is not None else 0
    body[at:at] = [line]
    return module.with_changes(body=body)


_Statement = TypeVar("_Statement", bound=cst.BaseStatement)
_NOQA_E402 = re.compile(r"#\s*noqa(?::[\w\s,]*\bE402\b)?(?![:\w])", re.IGNORECASE)


def noqa_like(statement: _Statement, neighbour: cst.BaseStatement | None) -> _Statement:
    """An import placed among imports below other statements (after a `load_dotenv()`,
    say) carries the `# noqa: E402` its neighbour carries, so the linter finds nothing
    new in it."""
    if not (isinstance(statement, cst.SimpleStatementLine) and isinstance(neighbour, cst.SimpleStatementLine)
            and isinstance(neighbour.body[0], cst.Import | cst.ImportFrom)):
        return statement
    comment = neighbour.trailing_whitespace.comment
    if comment is None or not _NOQA_E402.search(comment.value):
        return statement
    return statement.with_changes(trailing_whitespace=cst.TrailingWhitespace(
        whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment("# noqa: E402"),
    ))


def drop_import(module: cst.Module, source: str, name: str) -> cst.Module:
    body = list(module.body)
    for i, stmt, node, aliases in _imports_from(body, source):
        names = [a for a in aliases if alias_name(a) != name or a.asname]
        if len(names) == len(aliases):
            continue
        if not names:
            following = body[i + 1] if i + 1 < len(body) else None
            first = i == (1 if module.get_docstring() is not None else 0)
            # the last of its group: the blank lines that separated the group from
            # the next go with it (the group's own leading lines stay)
            if following is not None and (first or stmt.leading_lines or not following.leading_lines):
                body[i + 1] = following.with_changes(leading_lines=stmt.leading_lines)
            del body[i]
        else:
            names[-1] = names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            body[i] = stmt.with_changes(body=[node.with_changes(names=names)])
        return module.with_changes(body=body)
    return module
