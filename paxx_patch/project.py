"""Discover the target project: settings class, dependency file, compose file, app.

Everything detected can be overridden in the target's pyproject.toml under
[tool.paxx-patch]; everything detected is shown by `paxx-patch status --json`.
All paths here are repository paths (posix, relative to the repository root).
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from paxx_patch.errors import PaxxError


def join(root: str, relative: str) -> str:
    return f"{root}/{relative}" if root else relative


@dataclass(frozen=True)
class Project:
    root: str  # project directory, "" for the repository root
    services_dir: str  # e.g. "services"
    services_package: str  # import path of services_dir, e.g. "services"
    settings_file: str  # e.g. "settings.py"
    settings_class: str  # e.g. "Settings"
    settings_module: str  # import path, e.g. "settings"
    settings_import: str  # e.g. "from settings import settings"
    settings_expr: str  # e.g. "settings" or "get_settings()"
    upper_case_fields: bool  # the class names its fields REDIS_URL, not redis_url
    env_prefix: str
    case_sensitive: bool
    compose_file: str
    dependency_file: str
    dependency_style: Literal["pep621", "poetry", "requirements"]
    env_file: str
    app_file: str | None  # module that creates the FastAPI app
    app_name: str | None  # "app" (module level) or a factory name
    app_service: str | None  # compose service that runs the app
    lock_file: str

    def path(self, relative: str) -> str:
        """A path relative to the project directory, as a repository path."""
        return join(self.root, relative)

    def field_name(self, name: str) -> str:
        """The attribute name a bundle's setting gets in this project's class."""
        return name.upper() if self.upper_case_fields else name

    def env_key(self, name: str) -> str:
        """The environment variable pydantic-settings reads for a bundle's setting."""
        attr = self.field_name(name)
        return self.env_prefix + (attr if self.case_sensitive else attr.upper())

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


SETTINGS_CANDIDATES = (
    "settings.py", "config.py", "app/settings.py", "app/config.py", "app/core/config.py",
    "core/config.py", "src/settings.py", "src/config.py", "app/core/settings.py",
)
APP_CANDIDATES = ("main.py", "app/main.py", "app.py", "src/main.py", "app/app.py")
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
ENV_NAMES = (".env.example", ".env.template", ".env.sample")
CONFIG_KEYS = (
    "services_dir", "settings", "compose_file", "app", "app_service", "env_file",
    "dependency_file",
)


class FileReader(Protocol):
    def load(self, paths: Iterable[str]) -> None: ...
    def get(self, path: str) -> bytes | None: ...


def discover_project(files: FileReader, root: str = "") -> Project:
    """Find the project's conventions, reading only a handful of known paths."""
    def here(relative: str) -> str:
        return join(root, relative)

    files.load([
        here("pyproject.toml"), here("requirements.txt"),
        *map(here, SETTINGS_CANDIDATES), *map(here, APP_CANDIDATES),
        *map(here, COMPOSE_NAMES), *map(here, ENV_NAMES),
    ])
    pyproject_path = here("pyproject.toml")
    pyproject = _read_toml(files, pyproject_path)
    config = _config(pyproject, pyproject_path)
    settings = _find_settings(files, here, config.get("settings"))
    app_file, app_name = _find_app(files, here, config.get("app"))
    services_dir = config.get("services_dir", "services").strip("/")
    dep_file, dep_style = _dependency_target(files, here, pyproject, config.get("dependency_file"))
    compose = config.get("compose_file") or next(
        (n for n in COMPOSE_NAMES if files.get(here(n)) is not None), "docker-compose.yml"
    )
    env_file = config.get("env_file") or next(
        (n for n in ENV_NAMES if files.get(here(n)) is not None), ".env.example"
    )
    return Project(
        root=root,
        services_dir=here(services_dir),
        services_package=services_dir.replace("/", "."),
        compose_file=here(compose),
        dependency_file=dep_file,
        dependency_style=dep_style,
        env_file=here(env_file),
        app_file=app_file,
        app_name=app_name,
        app_service=config.get("app_service"),
        lock_file=here("paxx-patch.lock"),
        **settings,
    )


def _decode(path: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise PaxxError(f"{path}: not UTF-8 text ({e}). Save it as UTF-8.") from e


def _read_toml(files: FileReader, path: str) -> dict[str, Any]:
    raw = files.get(path)
    if raw is None:
        return {}
    try:
        return tomllib.loads(_decode(path, raw))
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(f"{path}: not valid TOML: {e}. Fix the syntax and commit it.") from e


def _config(pyproject: dict[str, Any], path: str) -> dict[str, str]:
    config = pyproject.get("tool", {}).get("paxx-patch", {})
    for key, value in config.items():
        if key not in CONFIG_KEYS:
            raise PaxxError(
                f"{path}: [tool.paxx-patch] has an unknown key {key!r}; known keys: "
                f"{', '.join(CONFIG_KEYS)}."
            )
        if not isinstance(value, str):
            raise PaxxError(f"{path}: [tool.paxx-patch] {key} must be a string.")
    return dict(config)


def _parse_python(path: str, raw: bytes) -> ast.Module:
    try:
        return ast.parse(_decode(path, raw), filename=path)
    except SyntaxError as e:
        raise PaxxError(
            f"{path}:{e.lineno}: Python syntax error ({e.msg}). Fix it and commit, "
            "then run paxx-patch again."
        ) from e


def _is_settings_class(node: ast.stmt) -> bool:
    return isinstance(node, ast.ClassDef) and any(
        (isinstance(b, ast.Name) and b.id.endswith("Settings"))
        or (isinstance(b, ast.Attribute) and b.attr.endswith("Settings"))
        for b in node.bases
    )


def _find_settings(files: FileReader, here: Callable[[str], str], configured: str | None) -> dict[str, Any]:
    if configured:
        module, _, class_name = configured.partition(":")
        if not class_name:
            raise PaxxError(
                f"{here('pyproject.toml')}: [tool.paxx-patch] settings = {configured!r} must "
                "look like \"package.module:ClassName\"."
            )
        candidates = [module.replace(".", "/") + ".py"]
    else:
        class_name, candidates = "", list(SETTINGS_CANDIDATES)
    searched = []
    for candidate in candidates:
        path = here(candidate)
        files.load([path])
        raw = files.get(path)
        searched.append(path)
        if raw is None:
            continue
        tree = _parse_python(path, raw)
        found = _settings_in_module(path, tree, class_name)
        if found is not None:
            module = candidate[:-3].replace("/", ".")
            obj = found.pop("_object")
            return {"settings_file": path, "settings_module": module, **found,
                    "settings_import": f"from {module} import {obj}"}
    raise PaxxError(
        f"no pydantic-settings class (a class deriving from BaseSettings) found in "
        f"{', '.join(searched)}. Tell paxx-patch where it is in pyproject.toml: "
        '[tool.paxx-patch] settings = "package.module:ClassName".'
    )


def _settings_in_module(path: str, tree: ast.Module, wanted: str) -> dict[str, Any] | None:
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    target = next(
        (c for c in classes if c.name == wanted) if wanted
        else (c for c in reversed(classes) if _is_settings_class(c)),
        None,
    )
    if target is None:
        return None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "pydantic" and any(
            a.name == "BaseSettings" for a in node.names
        ):
            raise PaxxError(
                f"{path}:{node.lineno}: this is a pydantic v1 settings class "
                "(`from pydantic import BaseSettings`). paxx-patch supports "
                "pydantic-settings 2 (`from pydantic_settings import BaseSettings`); "
                "migrate the class, then run paxx-patch again."
            )
    fields = [
        n.target.id for n in target.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
        and n.target.id != "model_config"
    ]
    config = _model_config(target)
    return {
        "settings_class": target.name,
        "upper_case_fields": bool(fields) and all(f.isupper() for f in fields),
        "env_prefix": str(config.get("env_prefix", "")),
        "case_sensitive": bool(config.get("case_sensitive", False)),
        **_settings_object(path, tree, target.name),
    }


def _model_config(cls: ast.ClassDef) -> dict[str, object]:
    for node in cls.body:
        value = None
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "model_config" for t in node.targets
        ) or isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and (
            node.target.id == "model_config"
        ):
            value = node.value
        if isinstance(value, ast.Call):
            return {
                k.arg: k.value.value for k in value.keywords
                if k.arg and isinstance(k.value, ast.Constant)
            }
        if isinstance(value, ast.Dict):
            return {
                str(k.value): v.value for k, v in zip(value.keys, value.values, strict=True)
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
            }
    return {}


def _settings_object(path: str, tree: ast.Module, class_name: str) -> dict[str, str]:
    def calls_class(node: ast.AST | None) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
            node.func.id == class_name
        )

    for node in tree.body:
        if isinstance(node, ast.Assign) and calls_class(node.value):
            target = node.targets[0]
            if isinstance(target, ast.Name):
                return {"_object": target.id, "settings_expr": target.id}
        if isinstance(node, ast.AnnAssign) and calls_class(node.value) and isinstance(
            node.target, ast.Name
        ):
            return {"_object": node.target.id, "settings_expr": node.target.id}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            isinstance(r, ast.Return) and calls_class(r.value) for r in ast.walk(node)
        ):
            return {"_object": node.name, "settings_expr": f"{node.name}()"}
    raise PaxxError(
        f"{path}: defines {class_name} but no settings object to import: add "
        f"`settings = {class_name}()` at module level (or a `get_settings()` function "
        "returning it), then run paxx-patch again."
    )


def _find_app(files: FileReader, here: Callable[[str], str], configured: str | None) -> tuple[str | None, str | None]:
    if configured:
        module, _, name = configured.partition(":")
        path = here(module.replace(".", "/") + ".py")
        files.load([path])
        if files.get(path) is None:
            raise PaxxError(
                f"{here('pyproject.toml')}: [tool.paxx-patch] app = {configured!r} names "
                f"{path}, which is not in the repository. Fix the setting."
            )
        return path, name or "app"
    for candidate in APP_CANDIDATES:
        path = here(candidate)
        raw = files.get(path)
        if raw is None:
            continue
        found = _app_in_module(_parse_python(path, raw))
        if found:
            return path, found
    return None, None


def _is_fastapi_call(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Call) and (
        (isinstance(node.func, ast.Name) and node.func.id == "FastAPI")
        or (isinstance(node.func, ast.Attribute) and node.func.attr == "FastAPI")
    )


def _app_in_module(tree: ast.Module) -> str | None:
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and _is_fastapi_call(node.value):
            target = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(target, ast.Name):
                return target.id
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
            _is_fastapi_call(n) for n in ast.walk(node)
        ):
            return node.name
    return None


def _dependency_target(
    files: FileReader, here: Callable[[str], str], pyproject: dict[str, Any], configured: str | None
) -> tuple[str, Literal["pep621", "poetry", "requirements"]]:
    if configured:
        style: Literal["pep621", "poetry", "requirements"] = (
            "requirements" if not configured.endswith(".toml") else "pep621"
        )
        return here(configured), style
    project = pyproject.get("project")
    if isinstance(project, dict):
        if "dependencies" in project.get("dynamic", []):
            dynamic = pyproject.get("tool", {}).get("setuptools", {}).get("dynamic", {})
            spec = dynamic.get("dependencies", {}).get("file", "requirements.txt")
            name = spec[0] if isinstance(spec, list) else spec
            return here(str(name)), "requirements"
        return here("pyproject.toml"), "pep621"
    if "dependencies" in pyproject.get("tool", {}).get("poetry", {}):
        return here("pyproject.toml"), "poetry"
    if files.get(here("requirements.txt")) is not None:
        return here("requirements.txt"), "requirements"
    if pyproject:
        return here("pyproject.toml"), "pep621"
    raise PaxxError(
        f"no {here('pyproject.toml')} or {here('requirements.txt')} found, so there is "
        "nowhere to add dependencies. Create one, or set [tool.paxx-patch] dependency_file."
    )
