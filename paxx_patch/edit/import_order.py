"""Where a new `from MODULE import NAMES` goes so that isort / ruff's `I` rules agree.

Imports are grouped in sections (future, standard library, third party, first
party, relative), each a block separated by a blank line; inside a block plain
`import x` lines come before `from x import` lines, each sorted by module name
without regard to case. A module that is already imported from gets the new
names merged into its statement, in isort's order (CONSTANTS, Classes, others).
"""

from __future__ import annotations

import ast
import itertools
import sys
from dataclasses import dataclass

FUTURE, STDLIB, THIRD_PARTY, FIRST_PARTY, LOCAL = range(5)


@dataclass(frozen=True)
class Placement:
    index: int  # the new statement goes before this top-level statement
    new_block: bool  # it starts a section of its own: a blank line before it
    blank_after: bool  # ... and one after it, before the next section's block
    after_previous: bool  # it follows statement index-1 directly (else it precedes index)


def section(node: ast.Import | ast.ImportFrom, first_party: frozenset[str]) -> int:
    if isinstance(node, ast.ImportFrom) and node.level:
        return LOCAL
    name = node.module or "" if isinstance(node, ast.ImportFrom) else node.names[0].name
    return module_section(name, first_party)


def module_section(module: str, first_party: frozenset[str]) -> int:
    top = module.split(".")[0]
    if top == "__future__":
        return FUTURE
    if top in first_party:
        return FIRST_PARTY
    if top in sys.stdlib_module_names:
        return STDLIB
    return THIRD_PARTY


def _key(node: ast.Import | ast.ImportFrom) -> tuple[int, str]:
    if isinstance(node, ast.Import):
        return 0, node.names[0].name.lower()
    return 1, ("." * node.level + (node.module or "")).lower()


def name_key(name: str) -> tuple[int, str, str]:
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name.lower(), name


def place(
    tree: ast.Module, module: str, first_party: frozenset[str], limit: int | None = None,
) -> Placement:
    """Where `from module import ...` goes among the top-level imports above `limit`."""
    body = tree.body[:limit] if limit is not None else tree.body
    imports = [(i, n) for i, n in enumerate(body) if isinstance(n, ast.Import | ast.ImportFrom)]
    wanted = module_section(module, first_party)
    new = (1, module.lower())
    if not imports:
        first = body[0] if body else None
        doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        return Placement(1 if doc else 0, bool(doc), bool(body[1 if doc else 0:]), bool(doc))
    blocks: list[list[tuple[int, ast.Import | ast.ImportFrom]]] = [[imports[0]]]
    for (i, node), (j, prev) in zip(imports[1:], imports, strict=False):
        if i == j + 1 and node.lineno <= int(prev.end_lineno or prev.lineno) + 1:
            blocks[-1].append((i, node))
        else:
            blocks.append([(i, node)])
    # a block holding imports of the section is where it goes (projects that mix
    # sections in one block keep doing so), the last such block above the app when
    # statements split the imports (a `load_dotenv()` that later imports need to have
    # run); else blocks are ordered by section
    kinds = [max((section(n, first_party) for _, n in b), key=[section(n, first_party) for _, n in b].count)
             for b in blocks]
    for block in reversed(blocks):
        if any(section(n, first_party) == wanted for _, n in block):
            after = next((i for i, n in block if _key(n) > new), None)
            if after is not None:
                return Placement(after, False, False, False)
            return Placement(block[-1][0] + 1, False, False, True)
    later = next((b for b, k in zip(blocks, kinds, strict=True) if k > wanted), None)
    if later is not None:
        earlier = [b for b, k in zip(blocks, kinds, strict=True) if k < wanted]
        if earlier:
            return Placement(earlier[-1][-1][0] + 1, True, False, True)
        return Placement(later[0][0], False, True, False)
    return Placement(blocks[-1][-1][0] + 1, True, False, True)


def existing_from(tree: ast.Module, module: str) -> ast.ImportFrom | None:
    """A top-level `from module import ...` (no star) the new names can join."""
    return next((
        n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0
        and n.module == module and not any(a.name == "*" for a in n.names)
    ), None)


def merged_lines(
    lines: list[str], node: ast.ImportFrom, names: list[str], line_length: int,
) -> list[str] | None:
    """The statement's lines with `names` added, or None when its layout is unusual
    (comments inside, several names on a line of a wrapped import)."""
    start, end = node.lineno - 1, int(node.end_lineno or node.lineno)
    text = "".join(lines[start:end])
    if "#" in text or ";" in text or "\\" in text:
        return None
    present = [a.name if a.asname is None else f"{a.name} as {a.asname}" for a in node.names]
    every = sorted([*present, *(n for n in names if n not in present)], key=lambda n: name_key(n.split()[0]))
    one_line = f"from {node.module} import {', '.join(every)}\n"
    if start == end - 1 and len(one_line) - 1 <= line_length:
        return [one_line]
    return f"{wrapped(node.module or '', every)}\n".splitlines(keepends=True)


def wrapped(module: str, names: list[str]) -> str:
    """`from module import (...)` with one name per line and a magic trailing comma."""
    return f"from {module} import (\n" + "".join(f"    {n},\n" for n in names) + ")"


def separate_kinds(text: str, blank_lines: int) -> str:
    """`text` with `blank_lines` empty lines between the `import x` lines of each
    import block and its `from x import` lines (isort's lines_between_types), at
    module level and in `if TYPE_CHECKING:` blocks."""
    if blank_lines <= 0:
        return text
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not Python after all: left as the bundle wrote it
    bodies = [tree.body, *(n.body for n in tree.body if isinstance(n, ast.If))]
    starts = [
        node.lineno - 1
        for body in bodies
        for prev, node in itertools.pairwise(body)
        if isinstance(prev, ast.Import) and isinstance(node, ast.ImportFrom)
        and node.lineno == int(prev.end_lineno or prev.lineno) + 1
    ]
    lines = text.splitlines(keepends=True)
    for start in sorted(starts, reverse=True):
        lines[start:start] = ["\n"] * blank_lines
    return "".join(lines)


def among_third_party(text: str, tops: tuple[str, ...]) -> str:
    """`text` with its top-level `from TOP... import` statements taken out of their own
    block and sorted into the third-party one, as a sorter that does not know TOP for
    the project's own (the import root is not one of its `src` roots) puts them."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not Python after all: left as the bundle wrote it
    moving = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.level == 0
              and (n.module or "").split(".")[0] in tops]
    lines = text.splitlines(keepends=True)
    taken: list[tuple[str, list[str]]] = []
    for node in reversed(moving):
        start, end = node.lineno - 1, int(node.end_lineno or node.lineno)
        taken.insert(0, (node.module or "", lines[start:end]))
        del lines[start:end]
        if 0 < start < len(lines) and not lines[start - 1].strip() and not lines[start].strip():
            del lines[start - 1]  # the block was its own: one blank line closes the gap
    for module, statement in taken:
        text = "".join(lines)
        tree = ast.parse(text)
        at = place(tree, module, frozenset())
        if at.after_previous:
            line = int(tree.body[at.index - 1].end_lineno or tree.body[at.index - 1].lineno)
        else:
            line = tree.body[at.index].lineno - 1
        lines[line:line] = [*(["\n"] if at.new_block else []), *statement, *(["\n"] if at.blank_after else [])]
    return "".join(lines)


def space_after_imports(text: str, blank_lines: int) -> str:
    """`text` with `blank_lines` empty lines between its top-level imports and the
    statement after them (isort's lines_after_imports)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not Python after all: left as the bundle wrote it
    body = tree.body
    first = next((i for i, n in enumerate(body) if isinstance(n, ast.Import | ast.ImportFrom)), None)
    if first is None:
        return text
    last = first
    while last + 1 < len(body) and isinstance(body[last + 1], ast.Import | ast.ImportFrom):
        last += 1
    if last + 1 >= len(body):
        return text
    lines = text.splitlines(keepends=True)
    end = int(body[last].end_lineno or body[last].lineno)  # lines[end] follows the imports
    blank = end
    while blank < len(lines) and not lines[blank].strip():
        blank += 1
    lines[end:blank] = ["\n"] * blank_lines
    return "".join(lines)


def sort_within_sections(text: str) -> str:
    """`text` with each block of imports sorted by module alone, `import x` and `from x
    import y` mixed (isort's and ruff's force-sort-within-sections): `import redis`,
    `from redis import exceptions`, `import redis.asyncio`, at module level and in
    `if TYPE_CHECKING:` blocks."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text  # not Python after all: left as the bundle wrote it
    lines = text.splitlines(keepends=True)
    bodies = [tree.body, *(n.body for n in tree.body if isinstance(n, ast.If))]
    blocks: list[list[ast.Import | ast.ImportFrom]] = []
    for body in bodies:
        run: list[ast.Import | ast.ImportFrom] = []
        for node in [*body, None]:
            joined = isinstance(node, ast.Import | ast.ImportFrom) and (
                not run or node.lineno == int(run[-1].end_lineno or run[-1].lineno) + 1)
            if joined:
                run.append(node)  # type: ignore[arg-type]
                continue
            if len(run) > 1:
                blocks.append(run)
            run = [node] if isinstance(node, ast.Import | ast.ImportFrom) else []
    for block in sorted(blocks, key=lambda b: b[0].lineno, reverse=True):
        start, end = block[0].lineno - 1, int(block[-1].end_lineno or block[-1].lineno)
        pieces = [(_module_key(n), lines[n.lineno - 1:int(n.end_lineno or n.lineno)]) for n in block]
        lines[start:end] = [line for _, piece in sorted(pieces, key=lambda p: p[0]) for line in piece]
    return "".join(lines)


def _module_key(node: ast.Import | ast.ImportFrom) -> tuple[str, int]:
    kind, module = _key(node)
    return module, kind
