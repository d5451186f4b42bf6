"""Alembic's revision template: the `script.py.mako` new migrations are written from.

Found the way Alembic finds it: `script_location` in the project's alembic.ini
(`%(here)s` is the file's directory; `package:dir` a directory inside a package),
else in pyproject.toml's `[tool.alembic]`; else the one `script.py.mako` under the
project. Only the few files the listing names are read.
"""

from __future__ import annotations

import configparser
import posixpath
from typing import Any

from paxx_patch.discover import FileReader
from paxx_patch.discover.tree import Tree

TEMPLATE = "script.py.mako"


def find_migration_template(
    files: FileReader, tree: Tree, root: str, pyproject: dict[str, Any]
) -> tuple[str, str]:
    """The repository path of the project's script.py.mako and the rule that found
    it; ("", why) when it has several and none is the one its configuration names,
    ("", "") when it has none."""
    prefix = f"{root}/" if root else ""
    templates = [p for p in tree.ending(TEMPLATE) if p.startswith(prefix)]
    if not templates:
        return "", ""
    for location, base in _locations(files, tree, root, pyproject):
        found = _template_at(location, base, tree)
        if found:
            return found, f"script_location = {location}"
    if len(templates) == 1:
        return templates[0], "the only one in the project"
    return "", (f"Alembic's script_location points at none of the project's {len(templates)} "
                f"revision templates ({', '.join(templates[:4])}{', ...' if len(templates) > 4 else ''})")


def _locations(files: FileReader, tree: Tree, root: str, pyproject: dict[str, Any]) -> list[tuple[str, str]]:
    """Each `script_location` the project configures, with the directory it is relative to."""
    prefix = f"{root}/" if root else ""
    inis = sorted((p for p in tree.ending("alembic.ini") if p.startswith(prefix)),
                  key=lambda p: (p.count("/"), p))
    files.load(inis)
    found: list[tuple[str, str]] = []
    for ini in inis:
        raw = files.get(ini) or b""
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read_string(raw.decode("utf-8", "replace"))
        except configparser.Error:
            continue  # Alembic could not read it either; the next place may say
        location = parser.get("alembic", "script_location", fallback="").strip()
        if location:
            found.append((location, posixpath.dirname(ini)))
    tool = pyproject.get("tool")
    table = tool.get("alembic") if isinstance(tool, dict) else None
    configured = table.get("script_location") if isinstance(table, dict) else None
    if isinstance(configured, str) and configured.strip():  # Alembic 1.16's pyproject.toml
        found.append((configured.strip(), root))
    return found


def _template_at(location: str, base: str, tree: Tree) -> str:
    """The template in the directory `location` names, if the tree holds it."""
    if "%(here)s" in location:
        directory = posixpath.normpath(location.replace("%(here)s", base or "."))
    elif ":" in location:  # package:directory, a directory inside an importable package
        package, _, inside = location.partition(":")
        tail = posixpath.normpath(posixpath.join(package.replace(".", "/"), inside))
        return next(iter(tree.ending(f"{tail}/{TEMPLATE}")), "")
    else:  # relative to where alembic runs: the ini's directory
        directory = posixpath.normpath(posixpath.join(base, location))
    path = TEMPLATE if directory == "." else f"{directory}/{TEMPLATE}"
    return path if path in tree and not path.startswith("../") else ""
