"""Discover the target project: settings class, dependency file, compose file, app.

Everything detected can be overridden in the target's pyproject.toml under
[tool.paxx-patch]; everything detected is shown by `paxx-patch status --json`.
All paths here are repository paths (posix, relative to the repository root).
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass
from typing import Any, Literal

from paxx_patch.discover import (
    FileReader,
    join,
    module_name,
    package_candidates,
    read_toml,
)
from paxx_patch.discover.app import CANDIDATES as APP_CANDIDATES
from paxx_patch.discover.app import find_app
from paxx_patch.discover.dependencies import find_dependency_file
from paxx_patch.discover.settings import CANDIDATES as SETTINGS_CANDIDATES
from paxx_patch.discover.settings import find_settings
from paxx_patch.errors import PaxxError
from paxx_patch.paths import clean_relative

__all__ = ["FileReader", "Project", "discover_project", "join"]


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
    compose_overrides: tuple[str, ...] = ()  # override files beside the compose file
    dependency_note: str = ""  # why the dependency file is not the obvious one

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

    @classmethod
    def paxx_layout(cls) -> Project:
        """The layout paxx itself generates: what `show` describes bundles against."""
        return cls(
            root="", services_dir="services", services_package="services",
            settings_file="settings.py", settings_class="Settings", settings_module="settings",
            settings_import="from settings import settings", settings_expr="settings",
            upper_case_fields=False, env_prefix="", case_sensitive=False,
            compose_file="docker-compose.yml", dependency_file="pyproject.toml",
            dependency_style="pep621", env_file=".env.example", app_file="main.py",
            app_name="app", app_service=None, lock_file="paxx-patch.lock",
        )


COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_NAMES = tuple(n.replace(".y", ".override.y") for n in COMPOSE_NAMES)
SETTINGS_IN_PACKAGE = ("settings.py", "config.py", "core/config.py", "core/settings.py")
APP_IN_PACKAGE = ("main.py", "app.py")
ENV_NAMES = (".env.example", ".env.template", ".env.sample")
CONFIG_KEYS = (
    "services_dir", "settings", "compose_file", "app", "app_service", "env_file",
    "dependency_file",
)
# configured paths: relative to the project; files shared with a monorepo's other
# projects may sit above it (never outside the repository: `join` checks that)
_CONFIG_PATHS = {"services_dir": False, "compose_file": True, "env_file": True,
                 "dependency_file": True}


def discover_project(files: FileReader, root: str = "") -> Project:
    """Find the project's conventions, reading only a handful of known paths."""
    def here(relative: str) -> str:
        return join(root, relative)

    pyproject_path = here("pyproject.toml")
    files.load([pyproject_path])
    try:
        pyproject = read_toml(files, pyproject_path)
    except (RecursionError, ValueError) as e:  # deep nesting, or a number too long for int()
        raise PaxxError(
            f"{pyproject_path}: cannot be read as TOML ({type(e).__name__}: nested too deeply "
            "or a number too long). Fix it and commit it."
        ) from None
    config = _config(pyproject, pyproject_path)
    settings_in_package = package_candidates(pyproject, SETTINGS_IN_PACKAGE)
    app_in_package = package_candidates(pyproject, APP_IN_PACKAGE)
    directories = _parents(root)
    files.load([
        here("requirements.txt"), *map(here, ENV_NAMES),
        *map(here, (*SETTINGS_CANDIDATES, *settings_in_package, *APP_CANDIDATES, *app_in_package)),
        *(join(d, n) for d in directories for n in (*COMPOSE_NAMES, *OVERRIDE_NAMES)),
    ])
    settings = find_settings(
        files, here, config.get("settings"), _workspace_hint(pyproject), settings_in_package
    )
    app_file, app_name = find_app(files, here, config.get("app"), app_in_package)
    services_dir = config.get("services_dir", "services").strip("/")
    dependencies = find_dependency_file(files, here, pyproject, config.get("dependency_file"))
    if config.get("compose_file"):
        compose = here(config["compose_file"])
    else:
        compose = next((
            join(d, n) for d in directories for n in COMPOSE_NAMES if files.get(join(d, n)) is not None
        ), here("docker-compose.yml"))
    compose_dir = posixpath.dirname(compose)
    files.load([join(compose_dir, n) for n in OVERRIDE_NAMES])
    overrides = tuple(
        join(compose_dir, n) for n in OVERRIDE_NAMES if files.get(join(compose_dir, n)) is not None
    )
    env_file = config.get("env_file") or next(
        (n for n in ENV_NAMES if files.get(here(n)) is not None), ".env.example"
    )
    return Project(
        root=root,
        services_dir=here(services_dir),
        services_package=module_name(services_dir + ".py"),
        compose_file=compose,
        dependency_file=dependencies.path,
        dependency_style=dependencies.style,
        env_file=here(env_file),
        app_file=app_file,
        app_name=app_name,
        app_service=config.get("app_service"),
        lock_file=here("paxx-patch.lock"),
        compose_overrides=overrides,
        dependency_note=dependencies.note,
        **settings,
    )


def _parents(root: str) -> list[str]:
    """The project directory, then each directory above it up to the repository root.

    In a monorepo the compose file of the whole stack often sits at the top."""
    out = [root]
    while root:
        root = posixpath.dirname(root)
        out.append(root)
    return out


def _workspace_hint(pyproject: dict[str, Any]) -> str:
    members = pyproject.get("tool", {}).get("uv", {}).get("workspace", {}).get("members")
    if not isinstance(members, list) or not members:
        return ""
    example = next((str(m) for m in members if "*" not in str(m)), "DIR")
    return (
        f"This pyproject.toml is a uv workspace root (members: {', '.join(map(str, members))}): "
        f"run paxx-patch with --project for the member that holds the app (e.g. --project "
        f"{example})."
    )


def _config(pyproject: dict[str, Any], path: str) -> dict[str, str]:
    tool = pyproject.get("tool", {})
    config = tool.get("paxx-patch", {}) if isinstance(tool, dict) else {}
    if not isinstance(config, dict):
        raise PaxxError(f"{path}: [tool.paxx-patch] must be a table of settings, such as "
                        '`services_dir = "app/services"`.')
    config = dict(config)
    for key, value in config.items():
        if key not in CONFIG_KEYS:
            raise PaxxError(
                f"{path}: [tool.paxx-patch] has an unknown key {key!r}; known keys: "
                f"{', '.join(CONFIG_KEYS)}."
            )
        if not isinstance(value, str):
            raise PaxxError(f"{path}: [tool.paxx-patch] {key} must be a string.")
        if key in _CONFIG_PATHS:
            config[key] = clean_relative(
                value.strip("/") if key == "services_dir" else value,
                f"{path}: [tool.paxx-patch] {key}", may_climb=_CONFIG_PATHS[key],
            )
    return dict(config)
