"""The code style the project's formatter and import sorter keep: generated
modules and inserted lines follow it, so the project's own checks pass.

Ruff's configuration (`.ruff.toml`, `ruff.toml`, then `[tool.ruff]`) wins, as
ruff itself reads it; then black's and isort's sections of pyproject.toml.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Any

from paxx_patch.discover import FileReader, Finding, join, read_toml
from paxx_patch.discover.compose import parents
from paxx_patch.discover.tree import Tree


@dataclass(frozen=True)
class CodeStyle:
    line_length: int = 88
    lines_between_types: int = 0  # isort: blank lines between `import x` and `from x import`
    file: str = ""  # where the configuration was read, "" for the defaults
    quote_style: str = "double"  # ruff format's quote-style: "single" is followed too
    # where the import sorter looks for first-party modules (ruff's and isort's `src`,
    # "." and "src" beside the configuration by default), and the ones it is told of
    src_roots: tuple[str, ...] = ("", "src")
    known_first_party: tuple[str, ...] = ()
    combine_as_imports: bool = False  # isort's: `a as b` joins the module's other names
    summary_second_line: bool = False  # pydocstyle's D213 selected (instead of D212)
    lines_after_imports: int = -1  # isort's: blank lines after the imports (-1: 2 before a def, else 1)
    force_sort_within_sections: bool = False  # isort's: `import x` and `from x import` sorted together
    # top-level packages the generated modules import that the sorter takes for
    # third-party ones (an import root it does not know of)
    third_party: tuple[str, ...] = ()

    def sorts_first_party(self, top: str, tree: Tree, package_dir: str) -> bool:
        """Does the project's sorter put `top` among the first-party imports of a module
        in `package_dir`? Known to it, found under one of its `src` roots, or the
        package the module itself is in (ruff's detect-same-package)."""
        if top in self.known_first_party or any(
            tree.has_prefix(join(r, top)) or join(r, f"{top}.py") in tree for r in self.src_roots
        ):
            return True
        directory = package_dir
        while posixpath.dirname(directory) and join(posixpath.dirname(directory), "__init__.py") in tree:
            directory = posixpath.dirname(directory)
        return posixpath.basename(directory) == top

    def finding(self) -> Finding:
        value = (f"line length {self.line_length}, {self.quote_style} quotes, "
                 f"{self.lines_between_types} blank line(s) between `import` and `from` imports")
        return Finding("code style", value, self.file,
                       rule="formatter configuration" if self.file else "defaults (ruff, black)")

    def quoted(self, code: str) -> str:
        """`code` with the string quotes the project's formatter writes."""
        if self.quote_style != "single":
            return code
        from paxx_patch.edit.quotes import prefer_single_quotes

        return prefer_single_quotes(code)

    def module(self, text: str) -> str:
        """A generated module laid out as the project's formatter and import sorter want it."""
        if self.third_party:
            from paxx_patch.edit.import_order import among_third_party

            text = among_third_party(text, self.third_party)
        if self.force_sort_within_sections:
            from paxx_patch.edit.import_order import sort_within_sections

            text = sort_within_sections(text)
        if self.lines_after_imports >= 0:
            from paxx_patch.edit.import_order import space_after_imports

            text = space_after_imports(text, self.lines_after_imports)
        if self.summary_second_line:
            from paxx_patch.edit.docstrings import summary_on_second_line

            text = summary_on_second_line(text)
        if self.lines_between_types:
            from paxx_patch.edit.import_order import separate_kinds

            text = separate_kinds(text, self.lines_between_types)
        return self.quoted(text)


def find_style(files: FileReader, root: str, pyproject: dict[str, Any]) -> CodeStyle:
    tool = pyproject.get("tool", {})
    tool = tool if isinstance(tool, dict) else {}
    found = _ruff_config(files, root, tool)
    if found is None:
        black, isort = _table(tool, "black"), _table(tool, "isort")
        if black or isort:
            return CodeStyle(
                line_length=_length(black.get("line-length"), _length(isort.get("line_length"), 88)),
                lines_between_types=_int(isort.get("lines_between_types"), 0),
                file=join(root, "pyproject.toml"),
                src_roots=_roots(root, isort.get("src_paths")),
                known_first_party=_names(isort.get("known_first_party")),
                combine_as_imports=isort.get("combine_as_imports") is True,
                lines_after_imports=_after(isort.get("lines_after_imports")),
                force_sort_within_sections=isort.get("force_sort_within_sections") is True,
            )
    # a project with no configuration of its own is checked with its repository's
    # (ruff looks for one in each directory above the files it checks)
    for directory in parents(root)[1:] if found is None else []:
        files.load([join(directory, "pyproject.toml")])
        above = read_toml(files, join(directory, "pyproject.toml"))
        found = _ruff_config(files, directory, _table(above, "tool"))
        if found is not None:
            break
    if found is None:
        return CodeStyle(src_roots=_roots(root, None))
    path, ruff = found
    return CodeStyle(
        line_length=_length(ruff.get("line-length"), 88),
        lines_between_types=_int(_ruff_isort(ruff).get("lines-between-types"), 0),
        file=path,
        quote_style="single" if _table(ruff, "format").get("quote-style") == "single"
        else "double",
        src_roots=_roots(posixpath.dirname(path), ruff.get("src")),
        known_first_party=_names(_ruff_isort(ruff).get("known-first-party")),
        combine_as_imports=_ruff_isort(ruff).get("combine-as-imports") is True,
        summary_second_line=_selects_d213(ruff),
        lines_after_imports=_after(_ruff_isort(ruff).get("lines-after-imports")),
        force_sort_within_sections=_ruff_isort(ruff).get("force-sort-within-sections") is True,
    )


def _after(value: Any) -> int:
    """lines-after-imports as a formatter keeps it: 1 or 2, else automatic (-1)."""
    return value if value in (1, 2) and not isinstance(value, bool) else -1


def _selects_d213(ruff: dict[str, Any]) -> bool:
    """Does ruff's configuration select D213 by its code (no convention includes it)?"""
    lint = _table(ruff, "lint")
    chosen = [*(lint.get("select") or ruff.get("select") or []),
              *(lint.get("extend-select") or ruff.get("extend-select") or [])]
    ignored = [*(lint.get("ignore") or ruff.get("ignore") or [])]
    return "D213" in chosen and "D213" not in ignored


def _roots(directory: str, configured: Any) -> tuple[str, ...]:
    """The sorter's `src` directories as repository paths ("." and "src" by default)."""
    paths = configured if isinstance(configured, list) else [".", "src"]
    out = []
    for p in paths:
        if isinstance(p, str) and "*" not in p:
            path = posixpath.normpath(posixpath.join(directory, p))
            if not path.startswith(".."):
                out.append("" if path == "." else path)
    return tuple(out)


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _ruff_config(files: FileReader, directory: str, tool: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Ruff's configuration in `directory`: the first of `.ruff.toml`, `ruff.toml` and
    pyproject's [tool.ruff] (ruff reads that one only)."""
    for name in (".ruff.toml", "ruff.toml"):
        path = join(directory, name)
        files.load([path])
        if files.get(path) is not None:
            return path, read_toml(files, path)
    if isinstance(tool.get("ruff"), dict):
        return join(directory, "pyproject.toml"), tool["ruff"]
    return None


def _ruff_isort(ruff: dict[str, Any]) -> dict[str, Any]:
    # `[isort]` is the older spelling of `[lint.isort]`
    return _table(_table(ruff, "lint"), "isort") or _table(ruff, "isort")


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any, default: int) -> int:
    # bool is an int to Python, not to a configuration file
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def _length(value: Any, default: int) -> int:
    # a width no formatter keeps (0, 5, a million) is a typo: the default is safer
    number = _int(value, default)
    return number if 40 <= number <= 1000 else default
