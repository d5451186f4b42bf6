"""Discover the target project: settings class, dependency file, compose file, app.

Everything detected can be overridden in the target's pyproject.toml under
[tool.paxx-patch]; everything detected is shown, with the file, line and rule
that found it, by `paxx-patch detect`.
All paths here are repository paths (posix, relative to the repository root).
"""

from __future__ import annotations

import posixpath
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from paxx_patch.discover import FileReader, Finding, join, read_toml
from paxx_patch.discover.alembic import find_migration_template
from paxx_patch.discover.app import find_app
from paxx_patch.discover.compose import find_compose, overrides, parents
from paxx_patch.discover.dependencies import (
    Style,
    find_dependency_file,
    installed_requirements,
)
from paxx_patch.discover.env import find_env
from paxx_patch.discover.layout import (
    check_shipped,
    dockerfiles,
    find_import_root,
    in_wheel,
    place_services,
    services_not_the_app,
    wheel_packages,
)
from paxx_patch.discover.modules import Modules
from paxx_patch.discover.python import older_python
from paxx_patch.discover.settings import (
    OWN_SETTINGS_CLASS,
    OWN_SETTINGS_MODULE,
    NoSettings,
    SettingsFound,
    find_settings,
)
from paxx_patch.discover.style import CodeStyle, find_style
from paxx_patch.discover.tree import Tree, dotted
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.paths import clean_relative

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
    dependency_style: Style
    env_file: str
    app_file: str | None  # module that creates the FastAPI app
    app_name: str | None  # "app" (module level) or a factory name
    app_service: str | None  # compose service that runs the app
    lock_file: str
    compose_overrides: tuple[str, ...] = ()  # override files beside the compose file
    dependency_note: str = ""  # why the dependency file is not the obvious one
    style: CodeStyle = field(default_factory=CodeStyle)  # what its formatter and sorter keep
    secret_module: str = "pydantic"  # SecretStr's module: pydantic.v1 for v1 classes there
    first_party: tuple[str, ...] = ()  # top-level modules and packages at the import root
    # the project has no settings object to share: the components' settings live in a
    # module of paxx-patch's own in the services package (settings_file), created by the
    # first component that needs it and removed with the last
    own_settings: bool = False
    findings: tuple[Finding, ...] = ()  # each convention found: where and by which rule
    notes: tuple[str, ...] = ()  # told to the user once per run
    warnings: tuple[str, ...] = ()  # what the user must act on, once per run
    app_unparsable: str = ""  # no app found, and why it may be: a module that does not parse
    migration_template: str = ""  # Alembic's script.py.mako, when the project has one
    migration_unresolved: str = ""  # why none of its several templates was chosen
    not_the_app: tuple[str, ...] = ()  # compose services that build a frontend, not the app

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

    def own_packages(self) -> frozenset[str]:
        """What isort counts as first party here: the project's own top-level names."""
        return frozenset({
            *(self.first_party or ()), self.services_package.split(".")[0],
            self.settings_module.split(".")[0],
        })

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


CONFIG_KEYS = (
    "services_dir", "settings", "settings_object", "compose_file", "app", "app_service",
    "env_file", "dependency_file",
)
PROJECT_FILES = ("pyproject.toml", "requirements.txt", "setup.py")
# configured paths: relative to the project; files shared with a monorepo's other
# projects may sit above it (never outside the repository: `join` checks that)
_CONFIG_PATHS = {"services_dir": False, "compose_file": True, "env_file": True,
                 "dependency_file": True}


def discover_project(files: FileReader, root: str = "") -> Project:
    """Find the project's conventions: one listing of the base commit, then only the
    few files that listing points at."""
    tree = Tree(files.listing())
    modules = Modules(files, tree)
    pyproject_path = join(root, "pyproject.toml")
    files.load([pyproject_path])
    config = _config(_read_pyproject(files, pyproject_path), pyproject_path)
    findings: list[Finding] = []
    app = find_app(files, tree, root, config.get("app"), modules)
    unparsable = "" if app else next(
        (f"{path} does not parse ({error})" for path, error in modules.syntax_errors.items()), "")
    top = _read_pyproject(files, pyproject_path)
    # a workspace root that is a project of its own (tracecat: its app and dependencies
    # beside the members) is no reason to ask for --project
    hint = "" if _is_project(tree, top) else _workspace_hint(top)
    settings = find_settings(
        modules, root, config.get("settings"), config.get("settings_object"),
        app.file if app else None, hint,
    )
    notes: list[str] = []
    if isinstance(settings, NoSettings) and app is None:
        raise PaxxError(
            f"{settings.reason}, and no FastAPI app found, so paxx-patch has no module to place "
            f"the components beside. Set [tool.paxx-patch] app = \"package.module:app\" (or "
            f"settings = \"package.module:ClassName\") in {pyproject_path}."
        )
    anchor = settings.object_file if isinstance(settings, SettingsFound) else app.file if app else ""
    if not root and (not _is_project(tree, top) or _ships_other_things(top, app.file if app else anchor)):
        # the repository root is no Python project (or only a workspace of them), or a
        # library whose wheel leaves the app out (a server/ beside it, mem0): the
        # app's directory is
        found = next((d for d in parents(posixpath.dirname(app.file if app else anchor)) if d and any(
            join(d, n) in tree for n in PROJECT_FILES
        )), None)
        if found is not None:
            root = found
            notes.append(f"the project is {root}/ (its {next(n for n in PROJECT_FILES if join(root, n) in tree)} "
                         f"holds the app); use --project to pick another directory.")
            pyproject_path = join(root, "pyproject.toml")
            files.load([pyproject_path])
            config = _config(_read_pyproject(files, pyproject_path), pyproject_path)
    pyproject = _read_pyproject(files, pyproject_path)

    def here(relative: str) -> str:
        return join(root, relative)

    files.load([here("requirements.txt"), here("setup.py")])
    if isinstance(settings, SettingsFound):
        findings.append(Finding("settings class", f"{settings.class_name} (pydantic {settings.generation})",
                                settings.class_file, settings.class_line, "derives from BaseSettings"))
        findings.append(Finding("settings object", settings.object_name + ("()" if settings.call else ""),
                                settings.object_file, settings.object_line, settings.rule))
    if app is not None:
        findings.append(Finding("app", app.name, app.file, app.line, app.rule))
    else:
        findings.append(Finding("app", "not found", rule="no FastAPI(...) or ASGI target"))
    root_dir, root_rule = find_import_root(
        modules, tree, anchor, app.import_root if app else None, root,
    )
    findings.append(Finding("import root", root_dir or ".", rule=root_rule))
    if config.get("services_dir"):
        services_dir = here(config["services_dir"].strip("/"))
        placement_rule = "configured services_dir"
        services_package = dotted(services_dir + ".py", root_dir)
    else:
        placement = place_services(tree, root, root_dir, anchor,
                                   app.file if app else None)
        services_dir, services_package = placement.services_dir, placement.services_package
        placement_rule = placement.rule
    findings.append(Finding("services package", f"{services_dir}/ ({services_package})",
                            rule=placement_rule))
    compose = find_compose(files, tree, root, config.get("compose_file"))
    findings.append(Finding("compose file", compose.path, compose.path, rule=compose.rule))
    if compose.created:
        notes.append(f"the repository has no compose file: {compose.path} is created.")
    elif compose.note:
        notes.append(compose.note)
    elif posixpath.dirname(compose.path) not in parents(root):
        notes.append(f"services go into {compose.path} ({compose.rule}); set "
                     "[tool.paxx-patch] compose_file to use another one.")
    images = dockerfiles(files, tree, compose.data, compose.path)
    frontends = services_not_the_app(files, compose.data, compose.path)

    def installed() -> list[str]:
        return [p for p in installed_requirements(images, files, tree.__contains__)
                if p.startswith(f"{root}/") or not root]

    dependencies = find_dependency_file(files, here, pyproject, config.get("dependency_file"), installed)
    findings.append(Finding("dependencies", f"{dependencies.path} ({dependencies.style})",
                            dependencies.path))
    if not config.get("services_dir"):
        check_shipped(tree, root, services_dir, app.file if app else anchor, images, pyproject)
    env = find_env(tree, root, config.get("env_file"), compose.path, app.file if app else None)
    findings.append(Finding("env example", env.path or "none", env.path, rule=env.rule))
    style = find_style(files, root, pyproject)
    findings.append(style.finding())
    migration_template, migration_rule = find_migration_template(files, tree, root, pyproject)
    if migration_template:
        findings.append(Finding("migration template", migration_template, migration_template,
                                rule=migration_rule))
    elif migration_rule:
        findings.append(Finding("migration template", "not found", rule=migration_rule))
    if isinstance(settings, SettingsFound):
        own = False
        settings_module = dotted(settings.object_file, root_dir)
        alias = "get_settings" if settings.call else "settings"
        imported = settings.object_name if settings.object_name == alias else f"{settings.object_name} as {alias}"
        settings_fields: dict[str, Any] = {
            "settings_file": settings.class_file, "settings_class": settings.class_name,
            "settings_module": settings_module,
            "settings_import": f"from {settings_module} import {imported}",
            "settings_expr": f"{alias}()" if settings.call else alias,
            "upper_case_fields": settings.upper_case_fields, "env_prefix": settings.env_prefix,
            "case_sensitive": settings.case_sensitive, "secret_module": settings.secret_module,
        }
    else:
        own = True
        settings_file = f"{services_dir}/{OWN_SETTINGS_MODULE}.py"
        settings_module = f"{services_package}.{OWN_SETTINGS_MODULE}"
        settings_fields = {
            "settings_file": settings_file, "settings_class": OWN_SETTINGS_CLASS,
            "settings_module": settings_module,
            "settings_import": f"from {settings_module} import settings",
            "settings_expr": "settings", "upper_case_fields": False, "env_prefix": "",
            "case_sensitive": False, "secret_module": "pydantic",
        }
        rule = f"the components' own: {settings.reason}"
        findings.insert(0, Finding("settings class", f"{OWN_SETTINGS_CLASS} (pydantic-settings)",
                                   settings_file, rule=rule))
        findings.insert(1, Finding("settings object", "settings", settings_file, rule=rule))
        notes.append(
            f"{settings.reason}: the components' settings go into {settings_file} "
            f"({OWN_SETTINGS_CLASS}, read from the same environment variables), which the "
            f"generated modules import. To use your own class instead, give it a module-level "
            f"instance or set [tool.paxx-patch] settings."
        )
    settings_top = settings_module.split(".")[0]
    if not style.sorts_first_party(settings_top, tree, services_dir):
        style = replace(style, third_party=(settings_top,))
    return Project(
        root=root,
        services_dir=services_dir,
        services_package=services_package,
        **settings_fields,
        compose_file=compose.path,
        dependency_file=dependencies.path,
        dependency_style=dependencies.style,
        env_file=env.path,
        app_file=app.file if app else None,
        app_name=app.name if app else None,
        app_service=config.get("app_service"),
        lock_file=here("paxx-patch.lock"),
        compose_overrides=overrides(tree, compose.path),
        dependency_note=dependencies.note,
        style=style,
        first_party=_top_level_names(modules, tree, root_dir),
        own_settings=own,
        findings=tuple(findings),
        notes=tuple(notes),
        warnings=tuple(filter(None, [older_python(
            files, pyproject_path, top,
            [path for path, context, _, _ in images if _relates(context, root)])])),
        app_unparsable=unparsable,
        migration_template=migration_template,
        migration_unresolved="" if migration_template else migration_rule,
        not_the_app=frontends,
    )


def _top_level_names(modules: Modules, tree: Tree, import_root: str) -> tuple[str, ...]:
    """The top-level names at the import root, of the project modules read and of every
    module or package the tree holds there: what isort counts as first party in the
    files paxx-patch edits."""
    prefix = f"{import_root}/" if import_root else ""
    return tuple(sorted({
        *(p[len(prefix):].split("/")[0].removesuffix(".py") for p in modules.parsed()
          if p.startswith(prefix)),
        *tree.top_level_modules(import_root),
    }))


def _relates(context: str, root: str) -> bool:
    """A build context that holds the project directory, or lies inside it."""
    return context in parents(root) or not root or context.startswith(f"{root}/")


def _is_project(tree: Tree, pyproject: dict[str, Any]) -> bool:
    """A directory with its own dependencies: requirements.txt, setup.py, or a
    pyproject.toml with a [project] or Poetry table (a bare workspace root is none)."""
    if "requirements.txt" in tree or "setup.py" in tree:
        return True
    return "project" in pyproject or "poetry" in pyproject.get("tool", {})


def _ships_other_things(pyproject: dict[str, Any], path: str) -> bool:
    """Does the wheel list its packages, `path` in none of them?"""
    packages = wheel_packages(pyproject)
    return bool(packages) and not in_wheel(packages, "", path)


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


def _read_pyproject(files: FileReader, path: str) -> dict[str, Any]:
    try:
        return read_toml(files, path)
    except (RecursionError, ValueError) as e:  # deep nesting, or a number too long for int()
        raise PaxxError(
            f"{path}: cannot be read as TOML ({type(e).__name__}: nested too deeply "
            "or a number too long). Fix it and commit it."
        ) from None


def _config(pyproject: dict[str, Any], path: str) -> dict[str, str]:
    tool = pyproject.get("tool", {})
    config = tool.get("paxx-patch", {}) if isinstance(tool, dict) else {}
    if not isinstance(config, dict):
        raise PaxxError(f"{path}: [tool.paxx-patch] must be a table of settings, such as "
                        '`services_dir = "app/services"`.')
    # [tool.paxx-patch.sources]: bundle repositories by name, read by paxx_patch.bundle.sources
    config = {k: v for k, v in config.items() if k != "sources"}
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
