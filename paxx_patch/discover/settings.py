"""The settings class, the object the app reads it through, and how it names fields.

Rules:
- a settings class is any class deriving, directly or through the project's own
  classes in any module, from `BaseSettings` of pydantic-settings (v2) or of
  pydantic / pydantic.v1 (v1);
- the settings object is a module-level name bound to an instance in the module
  that defines the class or its factory (`settings = Settings()`,
  `config: Config = get_config()`), else a function callable without arguments
  that returns one (an lru_cache'd `get_settings()`, also `config.Settings()` of an
  imported module, and in `deps.py` / `dependencies.py`); named `settings`/`config`
  first, then the one nearest the app;
- the class that gets the new fields is the one the object is made from: the
  annotation of the object or of the factory's return, else the class it
  instantiates, else (a factory picking a class per environment) the nearest
  base common to every class it names;
- no settings class, or no object to import from one (built per app or in a
  container): `NoSettings`, and the components get a settings module of their own
  in the services package (paxx_patch.mutators.own_settings); modules paxx-patch
  generated are never the project's settings;
- naming style (UPPER or lower) and `env_prefix` / `case_sensitive` come from the
  class and its bases, merged as pydantic merges them (later bases win, the class
  itself last): `model_config`/class keywords in v2, the inner `class Config` in v1.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from paxx_patch.discover import parse_python
from paxx_patch.discover.modules import Modules, targets
from paxx_patch.discover.tree import (
    SETTINGS_NAME,
    SETTINGS_NEEDLES,
    common_depth,
    ignored,
)
from paxx_patch.runtime.errors import PaxxError

CONFIGURE = '[tool.paxx-patch] settings = "package.module:ClassName"'
CONFIGURE_OBJECT = '[tool.paxx-patch] settings_object = "package.module:name"'
PYDANTIC = ("pydantic_settings", "pydantic", "pydantic.v1")
OBJECT_NAMES = ("settings", "config", "app_settings", "conf", "configuration", "cfg")

Ref = tuple[str, ast.ClassDef]  # (file, class)


@dataclass(frozen=True)
class SettingsFound:
    class_file: str
    class_name: str
    class_line: int
    object_file: str
    object_name: str
    object_line: int
    call: bool  # the object is a function to call: `get_settings()`
    rule: str
    generation: str  # "v2" or "v1"
    secret_module: str  # where SecretStr comes from for this class: pydantic or pydantic.v1
    upper_case_fields: bool
    env_prefix: str
    case_sensitive: bool


class SettingsScan:
    def __init__(self, modules: Modules) -> None:
        self.modules = modules
        self._lineage: dict[tuple[str, str], list[Ref] | None] = {}
        self._generation: dict[tuple[str, str], str] = {}

    def lineage(self, path: str, cls: ast.ClassDef) -> list[Ref] | None:
        """The class and its project bases (bases first, pydantic's merge order), or
        None when it does not derive from BaseSettings."""
        key = (path, cls.name)
        if key in self._lineage:
            return self._lineage[key]
        self._lineage[key] = None  # a cycle is not a settings class
        out: list[Ref] = []
        settings = False
        for base in cls.bases:
            found = self._base(path, base)
            if found is None:
                continue
            if isinstance(found, str):
                settings = True
                self._generation[key] = found
                continue
            base_lineage = self.lineage(*found)
            if base_lineage is not None:
                settings = True
                self._generation[key] = self._generation.get((found[0], found[1].name), "pydantic_settings")
                out += [r for r in base_lineage if r not in out]
        result = [*out, (path, cls)] if settings else None
        self._lineage[key] = result
        return result

    def generation(self, path: str, cls: ast.ClassDef) -> str:
        """The module BaseSettings comes from: pydantic_settings, pydantic or pydantic.v1."""
        return self._generation.get((path, cls.name), "pydantic_settings")

    def _base(self, path: str, base: ast.expr) -> str | Ref | None:
        """A base expression: the pydantic module of BaseSettings, a project class, or None."""
        if isinstance(base, ast.Attribute) and base.attr == "BaseSettings":
            if isinstance(base.value, ast.Name):
                found = self.modules.lookup(path, base.value.id)
                if found and isinstance(found[1], ast.Import) and found[0] in PYDANTIC:
                    return found[0]
            return None
        if not isinstance(base, ast.Name):
            return None
        found = self.modules.lookup(path, base.id)
        if found is None:
            return None
        where, node = found
        if isinstance(node, ast.ImportFrom):
            if where in PYDANTIC and base.id and any(
                a.name == "BaseSettings" and (a.asname or a.name) == base.id for a in node.names
            ):
                return where
            return None
        if isinstance(node, ast.ClassDef):
            return where, node
        return None

    def settings_class(self, path: str, expr: ast.expr | None) -> Ref | None:
        """The settings class an annotation or a called name in `path` refers to."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            try:
                expr = ast.parse(expr.value, mode="eval").body
            except SyntaxError:
                return None
        if isinstance(expr, ast.Subscript):  # Type[Settings], Optional[Settings]
            expr = expr.slice
        if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name):
            # `config.Settings`, the class of an imported module (FastAPI's settings guide)
            module = self.modules.module_named(path, expr.value.id)
            found = self.modules.lookup(module, expr.attr) if module else None
            if found and isinstance(found[1], ast.ClassDef) and self.lineage(found[0], found[1]):
                return found[0], found[1]
            return None
        if not isinstance(expr, ast.Name):
            return None
        found = self.modules.lookup(path, expr.id)
        if found and isinstance(found[1], ast.ClassDef) and self.lineage(found[0], found[1]):
            return found[0], found[1]
        return None

    def made_by(self, path: str, call: ast.expr | None, depth: int = 0) -> Ref | None:
        """The settings class a call (`Settings()`, `get_settings()`) produces."""
        if not isinstance(call, ast.Call) or depth > 3:
            return None
        if isinstance(call.func, ast.Attribute):  # config.Settings(), Settings.model_validate({})
            return self.settings_class(path, call.func) or self.settings_class(path, call.func.value)
        if not isinstance(call.func, ast.Name):
            return None
        direct = self.settings_class(path, call.func)
        if direct is not None:
            return direct
        found = self.modules.lookup(path, call.func.id)
        if found and isinstance(found[1], ast.FunctionDef):
            return self.returned(found[0], found[1], depth + 1)
        return None

    def returned(self, path: str, func: ast.FunctionDef, depth: int = 0) -> Ref | None:
        """The settings class a function returns: its annotation, what it instantiates,
        or the nearest common base of every settings class it names."""
        annotated = self.settings_class(path, func.returns)
        if annotated is not None:
            return annotated
        returns = [n.value for n in ast.walk(func) if isinstance(n, ast.Return) and n.value is not None]
        made = [m for r in returns if (m := self.made_by(path, r, depth)) is not None]
        if made and all(m == made[0] for m in made):
            return made[0]
        if not returns:
            return None
        module = self.modules.parse(path)
        scopes = [
            {t: n.value for n in ast.walk(func) if isinstance(n, ast.Assign | ast.AnnAssign)
             for t in targets(n) if n.value is not None},
            {t: n.value for n in (module.body if module else [])
             if isinstance(n, ast.Assign | ast.AnnAssign) for t in targets(n) if n.value is not None},
        ]
        named = [*made]
        for value in returns:
            named += self._reachable(path, value, scopes, 0)
        return self.common_base(named)

    def _reachable(
        self, path: str, expr: ast.expr, scopes: list[dict[str, ast.expr]], depth: int,
    ) -> list[Ref]:
        """Settings classes a returned value can be made from: `config()` where
        `config = environments[env]` and `environments = {...: DevSettings, ...}`."""
        if depth > 6:
            return []
        if isinstance(expr, ast.Call):
            return self._reachable(path, expr.func, scopes, depth + 1)
        if isinstance(expr, ast.Subscript):
            return self._reachable(path, expr.value, scopes, depth + 1)
        if isinstance(expr, ast.Dict):
            return [r for v in expr.values for r in self._reachable(path, v, scopes, depth + 1)]
        if isinstance(expr, ast.IfExp):
            return [*self._reachable(path, expr.body, scopes, depth + 1),
                    *self._reachable(path, expr.orelse, scopes, depth + 1)]
        if isinstance(expr, ast.Name):
            ref = self.settings_class(path, expr)
            if ref is not None:
                return [ref]
            for scope in scopes:
                if expr.id in scope:
                    return self._reachable(path, scope[expr.id], scopes, depth + 1)
        return []

    def common_base(self, refs: list[Ref]) -> Ref | None:
        if not refs:
            return None
        lineages = [self.lineage(*r) or [] for r in refs]
        shared = [r for r in lineages[0] if all(r in other for other in lineages[1:])]
        return shared[-1] if shared else None


@dataclass(frozen=True)
class NoSettings:
    """The project has no settings object the components can share: they get a settings
    module of their own in the services package."""

    reason: str  # told to the user, e.g. "no pydantic-settings class in the 12 files searched"
    file: str = ""
    line: int = 0


# the settings module of the components' own, in the services package, and its class
OWN_SETTINGS_MODULE = "settings"
OWN_SETTINGS_CLASS = "ServicesSettings"
# the first line of every module paxx-patch generates: never the project's own settings
GENERATED = b"# Generated by paxx-patch"


def find_settings(
    modules: Modules, root: str, configured: str | None, configured_object: str | None,
    app_file: str | None, hint: str = "",
) -> SettingsFound | NoSettings:
    files, tree = modules.files, modules.tree
    scan = SettingsScan(modules)
    if configured:
        return _configured(modules, scan, root, configured, configured_object)
    candidates = tree.candidates(root, SETTINGS_NAME, SETTINGS_NEEDLES)
    files.load(candidates)
    candidates = [p for p in candidates if not (files.get(p) or b"").startswith(GENERATED)]
    classes: list[Ref] = []
    for path in candidates:
        raw = files.get(path)
        if raw is None or b"BaseSettings" not in raw and b"Settings" not in raw:
            continue
        module = modules.parse(path)
        if module is None and b"BaseSettings" in raw:
            parse_python(path, raw)  # the settings module itself may be what is broken: say where
        for node in module.body if module else []:
            if isinstance(node, ast.ClassDef) and scan.lineage(path, node):
                classes.append((path, node))
    if not classes and tree.any_template_dirs():
        raise PaxxError(
            "this repository is a project template (its Python files sit under "
            "`{{ ... }}` directories, filled in by cookiecutter or copier): generate a project "
            "from it, then run paxx-patch in that project."
        )
    if not classes and hint:
        raise PaxxError(f"{hint} Or tell paxx-patch where the settings are in pyproject.toml: "
                        f"{CONFIGURE}.")
    if not classes:
        return NoSettings(f"no pydantic-settings class in the {len(candidates)} Python files "
                          f"searched under {root or 'the repository'}")
    names = {c.name.encode() for _, c in classes}
    # a getter may live among the FastAPI dependencies (`app/api/deps.py`)
    prefix = f"{root}/" if root else ""
    beside = [p for p in [*tree.ending("deps.py"), *tree.ending("dependencies.py")]
              if p not in candidates and p.startswith(prefix) and not ignored(p)]
    files.load(beside)
    objects = _objects(modules, scan, [
        p for p in [*candidates, *beside] if any(n in (files.get(p) or b"") for n in names)
    ])
    if configured_object:
        return _named_object(modules, scan, configured_object, objects)
    if not objects:
        path, cls = classes[-1]
        return NoSettings(f"{path}:{cls.lineno} defines {cls.name}, but no module-level instance "
                          "or function without arguments returns one", path, cls.lineno)
    near = app_file or ""
    best = min(objects, key=lambda o: (
        0 if o[2].lower() in OBJECT_NAMES else 1, o[3], -common_depth(o[0], near), len(o[0]),
    ))
    return _found(scan, *best)


Object = tuple[str, int, str, bool, Ref, str]  # file, line, name, call, class, rule


def _objects(modules: Modules, scan: SettingsScan, paths: list[str]) -> list[Object]:
    """Settings objects defined in `paths`: module-level instances in modules that
    define a settings class or factory, and functions returning one."""
    instances: list[Object] = []
    functions: list[Object] = []
    for path in paths:
        module = modules.parse(path)
        if module is None:
            continue
        defines = False
        for node in module.body:
            if isinstance(node, ast.ClassDef) and scan.lineage(path, node):
                defines = True
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and not (
                node.args.args[len(node.args.defaults):] or node.args.posonlyargs
                or any(d is None for d in node.args.kw_defaults)
            ):
                ref = scan.returned(path, node)
                if ref is not None and "test" not in node.name.lower():
                    defines = True
                    functions.append((path, node.lineno, node.name, True, ref,
                                      f"function returning {ref[1].name}"))
        if not defines:
            continue
        for node in module.body:
            if not isinstance(node, ast.Assign | ast.AnnAssign) or not targets(node):
                continue
            name = targets(node)[0]
            ref = (scan.settings_class(path, node.annotation) if isinstance(node, ast.AnnAssign)
                   else None)
            ref = ref or scan.made_by(path, node.value)
            if ref is None or "test" in name.lower() or "test" in ref[1].name.lower():
                continue
            made = ast.unparse(node.value.func) if isinstance(node.value, ast.Call) else "?"
            instances.append((path, node.lineno, name, False, ref,
                              f"module-level `{name} = {made}(...)` of {ref[1].name}"))
    return instances + functions


def _found(scan: SettingsScan, path: str, line: int, name: str, call: bool, ref: Ref, rule: str) -> SettingsFound:
    lineage = scan.lineage(*ref) or [ref]
    fields = [
        n.target.id for _, c in lineage for n in c.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        and n.target.id != "model_config"
    ]
    config: dict[str, object] = {}
    for _, c in lineage:
        config.update(_model_config(c))
    sources = {scan.generation(*r) for r in lineage}
    generation = "v1" if sources - {"pydantic_settings"} or any(
        isinstance(n, ast.ClassDef) and n.name == "Config" for _, c in lineage for n in c.body
    ) else "v2"
    return SettingsFound(
        class_file=ref[0], class_name=ref[1].name, class_line=ref[1].lineno,
        object_file=path, object_name=name, object_line=line, call=call, rule=rule,
        generation=generation,
        secret_module="pydantic.v1" if "pydantic.v1" in sources else "pydantic",
        upper_case_fields=bool(fields) and all(f.isupper() for f in fields),
        env_prefix=str(config.get("env_prefix", "") or ""),
        case_sensitive=bool(config.get("case_sensitive", False)),
    )


def _configured(
    modules: Modules, scan: SettingsScan, root: str, configured: str, configured_object: str | None,
) -> SettingsFound:
    module, _, class_name = configured.partition(":")
    if not class_name:
        raise PaxxError(
            f"[tool.paxx-patch] settings = {configured!r} must look like "
            "\"package.module:ClassName\"."
        )
    path = modules.tree.resolve(module, near=f"{root}/x" if root else "")
    tree = modules.parse(path) if path else None
    cls = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name),
               None) if tree else None
    if path is None or cls is None:
        raise PaxxError(
            f"[tool.paxx-patch] settings = {configured!r}: no class {class_name} in "
            f"{path or module.replace('.', '/') + '.py'}. Fix the setting."
        )
    ref = (path, cls)
    if scan.lineage(path, cls) is None:
        scan._lineage[(path, cls.name)] = [ref]  # configured: trusted as a settings class
    objects = [o for o in _objects(modules, scan, [path]) if o[4] == ref]
    if configured_object:
        return _named_object(modules, scan, configured_object, objects, ref)
    if not objects:
        raise PaxxError(
            f"{path}:{cls.lineno}: defines {class_name} but no settings object to import: add "
            f"`settings = {class_name}()` at module level (or a `get_settings()` function "
            f"returning it), or set {CONFIGURE_OBJECT}; then run paxx-patch again."
        )
    best = min(objects, key=lambda o: (0 if o[2].lower() in OBJECT_NAMES else 1, o[3]))
    return _found(scan, *best[:5], "configured settings class")


def _named_object(
    modules: Modules, scan: SettingsScan, configured: str, objects: list[Object],
    ref: Ref | None = None,
) -> SettingsFound:
    module, _, name = configured.partition(":")
    path = modules.tree.resolve(module)
    found = modules.lookup(path, name) if path and name else None
    if path is None or found is None or found[0] != path:
        raise PaxxError(
            f"[tool.paxx-patch] settings_object = {configured!r}: no module-level name {name!r} "
            f"in {path or module.replace('.', '/') + '.py'}. Fix the setting."
        )
    node = found[1]
    known = next((o for o in objects if o[0] == path and o[2] == name), None)
    if known is not None:
        return _found(scan, *known[:5], "configured settings_object")
    call = isinstance(node, ast.FunctionDef)
    made: Ref | None = ref
    if made is None and isinstance(node, ast.FunctionDef):
        made = scan.returned(path, node)
    elif made is None and isinstance(node, ast.Assign | ast.AnnAssign):
        made = (scan.settings_class(path, node.annotation) if isinstance(node, ast.AnnAssign)
                else None) or scan.made_by(path, node.value)
    if made is None:
        raise PaxxError(
            f"{path}:{getattr(node, 'lineno', 0)}: settings_object {configured!r} is not made from "
            f"a settings class paxx-patch can see; set {CONFIGURE} as well."
        )
    return _found(scan, path, int(getattr(node, "lineno", 0)), name, call, made,
                  "configured settings_object")


def _model_config(cls: ast.ClassDef) -> dict[str, object]:
    """Constant entries of `model_config`, the class keywords and the v1 inner Config."""
    config: dict[str, object] = {
        k.arg: k.value.value for k in cls.keywords if k.arg and isinstance(k.value, ast.Constant)
    }
    for node in cls.body:
        if isinstance(node, ast.ClassDef) and node.name == "Config":
            for item in node.body:
                if isinstance(item, ast.Assign | ast.AnnAssign) and isinstance(item.value, ast.Constant):
                    config.update({t: item.value.value for t in targets(item)})
        value: Any = None
        if isinstance(node, ast.Assign) and "model_config" in targets(node) or (
            isinstance(node, ast.AnnAssign) and "model_config" in targets(node)
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
