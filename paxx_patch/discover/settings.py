"""The pydantic-settings class, the object the app imports, and how it names fields.

Rules, for a module that holds several settings classes:
- the class that gets the new fields is the one the settings object is made from
  (`settings = Settings()` at module level, or a function such as an lru_cache'd
  `get_settings()` that returns `Settings()`): with settings split into parts
  combined by multiple inheritance, that is the final, combined class;
- its naming style (UPPER or lower) and its `env_prefix` / `case_sensitive` come
  from its own body together with the bases defined in the same module, merged
  as pydantic merges `model_config` (later bases win, the class itself last).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from typing import Any

from paxx_patch.discover import FileReader, module_name, module_paths, parse_python
from paxx_patch.errors import PaxxError

CANDIDATES = (
    "settings.py", "config.py", "app/settings.py", "app/config.py", "app/core/config.py",
    "core/config.py", "src/settings.py", "src/config.py", "app/core/settings.py",
)
CONFIGURE = '[tool.paxx-patch] settings = "package.module:ClassName"'


def find_settings(
    files: FileReader, here: Callable[[str], str], configured: str | None, hint: str = "",
    in_package: Sequence[str] = (),
) -> dict[str, Any]:
    """The settings fields of `Project`, from the configured module or the usual places
    (and `in_package`: the same places inside the project's own package)."""
    if configured:
        module, _, class_name = configured.partition(":")
        if not class_name:
            raise PaxxError(
                f"{here('pyproject.toml')}: [tool.paxx-patch] settings = {configured!r} must "
                "look like \"package.module:ClassName\"."
            )
        candidates = module_paths(module)
    else:
        class_name, candidates = "", [*CANDIDATES, *in_package]
    searched = []
    for candidate in candidates:
        path = here(candidate)
        files.load([path])
        raw = files.get(path)
        searched.append(path)
        if raw is None:
            continue
        found = _settings_in_module(path, parse_python(path, raw), class_name)
        if found is not None:
            module = module_name(candidate)
            obj, call = found.pop("_object"), found.pop("_call")
            # generated modules name it `settings` / `get_settings` whatever the project
            # calls it, so that no name of theirs (`config`, ...) can shadow it
            alias = "get_settings" if call else "settings"
            imported = obj if obj == alias else f"{obj} as {alias}"
            return {"settings_file": path, "settings_module": module, **found,
                    "settings_import": f"from {module} import {imported}",
                    "settings_expr": f"{alias}()" if call else alias}
    advice = f"{hint} Or tell" if hint else "Tell"
    raise PaxxError(
        f"no pydantic-settings class (a class deriving from BaseSettings) found in "
        f"{', '.join(searched)}. {advice} paxx-patch where it is in pyproject.toml: "
        f"{CONFIGURE}."
    )


def _base_names(node: ast.ClassDef) -> list[str]:
    return [
        b.id if isinstance(b, ast.Name) else b.attr
        for b in node.bases if isinstance(b, ast.Name | ast.Attribute)
    ]


def _settings_classes(classes: dict[str, ast.ClassDef]) -> set[str]:
    """Classes deriving from BaseSettings (or another *Settings), directly or through
    classes of the same module."""
    found = {
        name for name, c in classes.items() if any(b.endswith("Settings") for b in _base_names(c))
    }
    while True:
        more = {n for n, c in classes.items() if n not in found and set(_base_names(c)) & found}
        if not more:
            return found
        found |= more


def _lineage(name: str, classes: dict[str, ast.ClassDef]) -> list[ast.ClassDef]:
    """`name` and its bases defined in the module, bases first in pydantic's merge order."""
    out: list[ast.ClassDef] = []
    for base in _base_names(classes[name]):
        if base in classes and base != name:
            out += [c for c in _lineage(base, classes) if c not in out]
    return [*out, classes[name]]


def _settings_in_module(path: str, tree: ast.Module, wanted: str) -> dict[str, Any] | None:
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    settings = _settings_classes(classes)
    if wanted:
        if wanted not in classes:
            return None
        target, obj = wanted, _settings_object(tree, {wanted})
    else:
        if not settings:
            return None
        obj = _settings_object(tree, settings)
        target = obj[0] if obj else [n for n in classes if n in settings][-1]
    lineage = _lineage(target, classes)
    _refuse_pydantic_v1(path, tree, lineage)
    if obj is None:
        raise PaxxError(
            f"{path}: defines {target} but no settings object to import: add "
            f"`settings = {target}()` at module level (or a `get_settings()` function "
            "returning it), then run paxx-patch again."
        )
    fields = [
        n.target.id for c in lineage for n in c.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        and n.target.id != "model_config"
    ]
    config: dict[str, object] = {}
    for c in lineage:
        config.update(_model_config(c))
    return {
        "settings_class": target,
        "upper_case_fields": bool(fields) and all(f.isupper() for f in fields),
        "env_prefix": str(config.get("env_prefix", "") or ""),
        "case_sensitive": bool(config.get("case_sensitive", False)),
        "_object": obj[1],
        "_call": obj[2],
    }


def _refuse_pydantic_v1(path: str, tree: ast.Module, lineage: list[ast.ClassDef]) -> None:
    found = next((
        (node.lineno, f"`from {node.module} import BaseSettings`") for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module in ("pydantic", "pydantic.v1")
        and any(a.name == "BaseSettings" for a in node.names)
    ), None) or next((
        (node.lineno, f"the inner `class Config` of {c.name}") for c in lineage for node in c.body
        if isinstance(node, ast.ClassDef) and node.name == "Config"
    ), None)
    if found is not None:
        line, sign = found
        raise PaxxError(
            f"{path}:{line}: this is a pydantic v1 settings class ({sign}). paxx-patch "
            "supports pydantic-settings 2 (`from pydantic_settings import BaseSettings`, "
            "`model_config = SettingsConfigDict(...)`): migrate the class, or point paxx-patch "
            f"at a pydantic-settings 2 class with {CONFIGURE}, then run paxx-patch again."
        )


def _model_config(cls: ast.ClassDef) -> dict[str, object]:
    """Constant entries of `model_config` and of the class keywords (`env_prefix=...`)."""
    config: dict[str, object] = {
        k.arg: k.value.value for k in cls.keywords if k.arg and isinstance(k.value, ast.Constant)
    }
    for node in cls.body:
        value = None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "model_config" for t in node.targets
        ) or isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and (
            node.target.id == "model_config"
        ):
            value = node.value
        if isinstance(value, ast.Call):
            config.update({
                k.arg: k.value.value for k in value.keywords
                if k.arg and isinstance(k.value, ast.Constant)
            })
        elif isinstance(value, ast.Dict):
            config.update({
                str(k.value): v.value for k, v in zip(value.keys, value.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            })
    return config


def _called(node: ast.AST | None) -> str | None:
    """`Name()` -> "Name"."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _settings_object(tree: ast.Module, classes: set[str]) -> tuple[str, str, bool] | None:
    """(class, name to import, whether to call it) of the settings object, preferring a
    module-level one (`settings = Settings()`, `settings = get_settings()`) to a function."""
    assigned: dict[str, str] = {}  # module-level name -> the callable it is made by
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign):
            target = node.target
        else:
            continue
        made_by = _called(node.value)
        if isinstance(target, ast.Name) and made_by:
            assigned.setdefault(target.id, made_by)
    functions = {
        node.name: made
        for node in tree.body if isinstance(node, ast.FunctionDef)
        for r in ast.walk(node) if isinstance(r, ast.Return) and (made := _called(r.value)) in classes
    }
    for name, made_by in assigned.items():
        if made_by in classes:
            return made_by, name, False
        if made_by in functions:
            return functions[made_by], name, False
    for name, made in functions.items():
        return made, name, True
    return None
