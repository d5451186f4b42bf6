"""Load and validate component bundles: declarative data, no code.

A bundle is a directory `NAME/` holding `bundle.toml`, a `templates/` directory
and optionally `compose.yaml` (the services and volumes to merge). Everything a
mutator needs to know about a component comes from here.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paxx_patch.bundle.variables import Variable, parse_variables
from paxx_patch.bundle.version import is_version
from paxx_patch.runtime.errors import PaxxError
from paxx_patch.runtime.paths import clean_relative, refuse_links_out

if TYPE_CHECKING:
    from paxx_patch.manifest.source import SourcePin

BUNDLE_PATH_ENV = "PAXX_PATCH_BUNDLE_PATH"
SETTING_TYPES = ("str", "int", "bool", "float")

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class SettingField:
    """One settings field; its environment variable is its name in upper case."""

    name: str
    type: str
    default: str | int | bool | float
    secret: bool
    description: str

    @property
    def env_key(self) -> str:
        return self.name.upper()


@dataclass(frozen=True)
class Wiring:
    """What the wiring mutator adds to the app module (all optional).

    Each entry is a `module:name` reference (a Jinja template, rendered like the
    templates); the mutator writes the statement and the import it needs:

        [wiring]
        middleware = ["{{ services_package }}.metrics:MetricsMiddleware"]
        calls = ["{{ services_package }}.tracing:setup_tracing"]
        [wiring.routes]
        "/metrics" = "{{ services_package }}.metrics:metrics_endpoint"

    gives `app.add_middleware(MetricsMiddleware)`, `setup_tracing(app)` and
    `app.add_route("/metrics", metrics_endpoint, include_in_schema=False)`.
    `startup` and `shutdown` name async functions without arguments that the app's
    lifespan awaits before and after serving (`shutdown = ["pkg.cache:close_redis"]`).
    """

    middleware: tuple[str, ...] = ()
    routes: tuple[tuple[str, str], ...] = ()  # (URL path, endpoint reference)
    calls: tuple[str, ...] = ()
    startup: tuple[str, ...] = ()
    shutdown: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.middleware or self.routes or self.calls or self.startup or self.shutdown)


@dataclass(frozen=True)
class ConditionalDependencies:
    """Requirements added only when the project already depends on `when`
    (e.g. SQLAlchemy instrumentation for a project that uses SQLAlchemy)."""

    when: str  # a project name, compared after PEP 503 normalisation
    dependencies: tuple[str, ...]


@dataclass(frozen=True)
class Bundle:
    name: str
    version: str
    description: str
    directory: Path
    templates: Mapping[str, str]  # target (relative to services dir) -> template file
    dependencies: tuple[str, ...]
    settings: tuple[SettingField, ...]
    variables: Mapping[str, str]  # template variables and their defaults
    app_environment: Mapping[str, str]  # env of the app service under compose
    next_steps: str
    wiring: Wiring = field(default_factory=Wiring)
    conditional_dependencies: tuple[ConditionalDependencies, ...] = ()
    # settings fields that show the project has this component in its own form already
    refuse_when_settings: tuple[str, ...] = ()
    variable_specs: Mapping[str, Variable] = field(default_factory=dict)
    # set for a bundle read out of a git repository (`--from`): what the lock pins
    source: SourcePin | None = None
    # the bundles this one needs installed first (`requires = ["redis"]`), loaded
    required: tuple[Bundle, ...] = ()
    # compose service -> keys it takes from the app service (`build`, `environment`, ...)
    compose_from_app: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # image name -> the image that replaces it in the services that run it
    compose_images: Mapping[str, str] = field(default_factory=dict)
    # components whose presence changes what the templates write (`observes =
    # ["metrics"]`): they see `installed.<name>`, and are rendered again when one
    # of them is added or removed
    observes: tuple[str, ...] = ()
    # modules Alembic's revision template must import for the component's column
    # types (`migration_imports = ["geoalchemy2"]`), when the project uses Alembic
    migration_imports: tuple[str, ...] = ()
    # code that shows the app does this component's job itself already -> what to tell
    # the user when the app's package holds it (`FastAPIInstrumentor`: a second tracer)
    warn_when_found: Mapping[str, str] = field(default_factory=dict)

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.required)

    def with_requirements(self) -> list[Bundle]:
        """The bundles this one requires, recursively, each before what needs it, then
        this one."""
        ordered: list[Bundle] = []
        for required in self.required:
            ordered += [b for b in required.with_requirements() if b.name not in
                        {o.name for o in ordered}]
        return [*ordered, self]

    @property
    def template_settings(self) -> tuple[SettingField, ...]:
        """The settings its templates may name: its own, then its requirements'."""
        seen = {s.name for s in self.settings}
        extra = [s for b in self.with_requirements()[:-1] for s in b.settings]
        return self.settings + tuple(s for s in extra if s.name not in seen)

    def check_variable(self, key: str, value: str, source: str) -> str:
        """`value` if variable `key` accepts it, else a PaxxError naming `source`
        (e.g. `--set bucket=...`) and what the bundle allows."""
        spec = self.variable_specs.get(key, Variable(self.variables.get(key, "")))
        problem = spec.problem(value)
        if problem:
            raise PaxxError(
                f"{source}: the value {value!r} of {self.name}'s variable {key!r} {problem}. "
                f"Pick a value matching {spec.pattern!r} (the default is {spec.default!r}); "
                "nothing was changed."
            )
        return value

    def dependencies_for(self, installed: AbstractSet[str]) -> tuple[str, ...]:
        """The requirements this bundle adds to a project that depends on the
        (normalised) names in `installed`."""
        extra = tuple(
            dep for group in self.conditional_dependencies
            if normalize_name(group.when) in installed for dep in group.dependencies
        )
        return self.dependencies + extra

    @property
    def all_dependencies(self) -> tuple[str, ...]:
        """Every requirement the bundle may add, conditional ones included."""
        return self.dependencies + tuple(
            dep for group in self.conditional_dependencies for dep in group.dependencies
        )

    @property
    def toml_path(self) -> Path:
        return self.directory / "bundle.toml"

    @property
    def compose_path(self) -> Path | None:
        path = self.directory / "compose.yaml"
        return path if path.is_file() else None


def builtin_bundles_dir() -> Path:
    here = Path(__file__).resolve().parent.parent  # the paxx_patch package
    installed = here / "bundles"
    return installed if installed.is_dir() else here.parent / "bundles"


def search_path(extra: Sequence[str] = ()) -> list[Path]:
    """Directories searched for bundles, first match wins."""
    dirs = [Path(p) for p in extra]
    env = os.environ.get(BUNDLE_PATH_ENV, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs.append(builtin_bundles_dir())
    return dirs


def available(extra: Sequence[str] = ()) -> dict[str, Path]:
    """Bundle name -> directory, overrides applied."""
    found: dict[str, Path] = {}
    for root in search_path(extra):
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir()):
            if (child / "bundle.toml").is_file():
                found.setdefault(child.name, child)
    return found


def load_bundle(name: str, extra: Sequence[str] = ()) -> Bundle:
    dirs = available(extra)
    if name not in dirs:
        known = ", ".join(sorted(dirs)) or "(none)"
        raise PaxxError(
            f"unknown component {name!r}. Known components: {known}. "
            "Run `paxx-patch list` to see them, or add a directory with "
            "--bundle-path DIR."
        )
    return load_bundle_dir(dirs[name], extra)


def load_bundle_dir(directory: Path, extra: Sequence[str] = (), _stack: tuple[str, ...] = ()) -> Bundle:
    """The bundle in `directory`; the bundles it requires are looked up on the search
    path (`extra` first), else beside it."""
    path = directory / "bundle.toml"
    refuse_links_out(directory)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise PaxxError(f"{path}: cannot read the bundle: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise PaxxError(f"{path}: not valid TOML: {e}. Fix the file's syntax.") from e
    except (RecursionError, ValueError) as e:  # deep nesting, or a number too long for int()
        raise PaxxError(
            f"{path}: not a bundle file ({type(e).__name__}: nested too deeply or a number "
            "too long). Fix the file."
        ) from None
    bundle = _validate(directory, path, data)
    return _with_required(bundle, data.get("requires", []), extra, _stack)


_COMPOSE_FROM_APP = ("build", "image", "env_file", "environment", "depends_on", "volumes",
                     "working_dir", "user")


def _with_required(bundle: Bundle, names: Any, extra: Sequence[str], stack: tuple[str, ...]) -> Bundle:
    c = _Checker(bundle.toml_path, {})
    names = c.strings("requires", names)
    stack = (*stack, bundle.name)
    required = []
    for name in dict.fromkeys(names):
        if name in stack:
            cycle = " -> ".join([*stack[stack.index(name):], name])
            raise c.fail("requires", f"{name!r} makes a cycle ({cycle}); a bundle cannot "
                         "require itself, directly or through another. Fix the bundle.")
        found = available(extra).get(name)
        beside = bundle.directory.parent / name
        if found is None and (beside / "bundle.toml").is_file():
            found = beside
        if found is None:
            known = ", ".join(sorted(available(extra))) or "(none)"
            raise c.fail("requires", f"{name!r} is not a known component (known: {known}); "
                         "name a bundle on the search path or beside this one.")
        required.append(load_bundle_dir(found, extra, stack))
    return replace(bundle, required=tuple(required))


class _Checker:
    def __init__(self, path: Path, data: Mapping[str, Any]) -> None:
        self.path = path
        self.data = data

    def fail(self, key: str, problem: str) -> PaxxError:
        return PaxxError(f"{self.path}: key `{key}`: {problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, kind):
            name = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.fail(key, f"must be a {name}, got {type(value).__name__}")
        return value

    def strings(self, key: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(key, "must be an array of strings")
        return tuple(value)

    def string_table(self, key: str, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise self.fail(key, "must be a table of strings")
        return dict(value)


_KNOWN_KEYS = {
    "name", "version", "description", "templates", "dependencies", "settings",
    "variables", "app_environment", "next_steps", "wiring", "conditional_dependencies",
    "refuse_when", "requires", "compose_from_app", "compose_images", "observes",
    "migration_imports", "warn_when_found",
}


def normalize_name(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(c: _Checker, key: str, value: Any) -> tuple[str, ...]:
    """PEP 508 requirements from a registry: no URL, no environment marker text
    that could smuggle anything else into the project's dependency file."""
    from packaging.requirements import InvalidRequirement, Requirement

    checked = []
    for dep in c.strings(key, value):
        if len(dep) > 200 or re.search(r"\d{19}", dep):
            # packaging compares versions as integers, and int() refuses huge ones
            raise c.fail(key, f"{dep[:40]!r}...: too long, or a version number with more "
                         "than 18 digits; write a real requirement such as \"redis>=5.0\"")
        try:
            req = Requirement(dep)
        except InvalidRequirement as e:
            raise c.fail(key, f"{dep!r} is not a PEP 508 requirement ({e})") from e
        if req.url or req.marker is not None or any(ch in dep for ch in "\"'\n\r\t#;@"):
            raise c.fail(
                key, f"{dep!r}: only a name, extras and a version specifier are allowed "
                "(no URL, no marker, no quotes), e.g. \"redis[hiredis]>=5.0\""
            )
        checked.append(dep)
    return tuple(checked)


def _refuse_when(c: _Checker, data: dict[str, Any]) -> tuple[str, ...]:
    unknown = set(data) - {"settings"}
    if unknown:
        raise c.fail(f"refuse_when.{min(unknown)}", "unknown key; the known key is settings")
    names = c.strings("refuse_when.settings", data.get("settings", []))
    for name in names:
        if not name.isidentifier():
            raise c.fail("refuse_when.settings", f"{name!r} is not a settings field name")
    return names


def _conditional(c: _Checker, value: Any) -> tuple[ConditionalDependencies, ...]:
    if not isinstance(value, list):
        raise c.fail("conditional_dependencies", "must be an array of tables [[conditional_dependencies]]")
    groups = []
    for i, item in enumerate(value):
        where = f"conditional_dependencies[{i}]"
        if not isinstance(item, dict) or set(item) != {"when", "dependencies"}:
            raise c.fail(where, "must be a table with exactly `when` (a project name) and `dependencies`")
        when = item["when"]
        if not isinstance(when, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", when):
            raise c.fail(f"{where}.when", "must be a project name such as \"sqlalchemy\"")
        groups.append(ConditionalDependencies(when, _requirements(c, f"{where}.dependencies", item["dependencies"])))
    return tuple(groups)


def _validate(directory: Path, path: Path, data: Mapping[str, Any]) -> Bundle:
    c = _Checker(path, data)
    for key in data:
        if key not in _KNOWN_KEYS:
            raise c.fail(key, f"unknown key; known keys are {', '.join(sorted(_KNOWN_KEYS))}")
    name = c.get("name", str)
    if not _NAME.match(name):
        raise c.fail("name", f"{name!r} must be lower-case letters, digits and dashes")
    if name != directory.name:
        raise c.fail("name", f"{name!r} must match the directory name {directory.name!r}")
    version = c.get("version", str)
    if not is_version(version):
        raise c.fail("version", f"{version!r} is not a semantic version such as 1.2.0")
    raw_templates = c.string_table("templates", c.get("templates", dict, {}))
    for target in raw_templates:
        if target.endswith("/"):  # a file's path: "dir/" would be written as a file `dir`
            raise c.fail(f"templates.{target}", "ends with `/`: a target names the file "
                         "to write (such as `dir/module.py`), not a directory")
    templates = {
        clean_relative(target, f"{path}: key `templates`: target", may_climb=False):
        clean_relative(source, f"{path}: key `templates.{target}`: template file", may_climb=False)
        for target, source in raw_templates.items()
    }
    for target, source in templates.items():
        if not (directory / "templates" / source).is_file():
            raise c.fail(f"templates.{target}", f"template file templates/{source} does not exist")
    dependencies = _requirements(c, "dependencies", c.get("dependencies", list, []))
    conditional = _conditional(c, c.get("conditional_dependencies", list, []))
    settings = tuple(
        _setting(c, i, item) for i, item in enumerate(c.get("settings", list, []))
    )
    wiring = _wiring(c, c.get("wiring", dict, {}))
    specs = parse_variables(c.fail, c.get("variables", dict, {}))
    app_environment = c.string_table("app_environment", c.get("app_environment", dict, {}))
    for key in app_environment:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", key):
            # the key is written into the compose file as it is
            raise c.fail(f"app_environment.{key}", "must be an environment variable name "
                         "such as REDIS_URL (letters, digits and _)")
    from_app = _compose_from_app(c, c.get("compose_from_app", dict, {}))
    if from_app and not (directory / "compose.yaml").is_file():
        raise c.fail("compose_from_app", "names compose services, but the bundle has no "
                     "compose.yaml")
    observes = c.strings("observes", c.get("observes", list, []))
    for other in observes:
        if not _NAME.match(other) or other == name:
            raise c.fail("observes", f"{other!r} must be the name of another component "
                         "(lower-case letters, digits and dashes), e.g. \"metrics\"")
    migration_imports = c.strings("migration_imports", c.get("migration_imports", list, []))
    for module in migration_imports:
        if not _MODULE.match(module):
            raise c.fail("migration_imports", f"{module!r} must be a module to import, "
                         "such as \"geoalchemy2\" (dotted Python names)")
    warn_when_found = c.string_table("warn_when_found", c.get("warn_when_found", dict, {}))
    for code, message in warn_when_found.items():
        if not 3 <= len(code) <= 100 or not code.isprintable() or not message.strip() or len(message) > 500 \
                or not message.isprintable():
            raise c.fail(f"warn_when_found.{code[:40]}", "must map a piece of code (3 to 100 characters, "
                         "one line) to the message to show (one line, at most 500 characters)")
    return Bundle(
        warn_when_found=warn_when_found,
        observes=tuple(dict.fromkeys(observes)),
        migration_imports=tuple(dict.fromkeys(migration_imports)),
        compose_from_app=from_app,
        compose_images=_compose_images(c, c.get("compose_images", dict, {})),
        name=name,
        version=version,
        description=c.get("description", str),
        directory=directory,
        templates=templates,
        dependencies=dependencies,
        settings=settings,
        variables={k: v.default for k, v in specs.items()},
        variable_specs=specs,
        app_environment=app_environment,
        next_steps=c.get("next_steps", str, ""),
        wiring=wiring,
        conditional_dependencies=conditional,
        refuse_when_settings=_refuse_when(c, c.get("refuse_when", dict, {})),
    )


_IMAGE = re.compile(r"^[a-z0-9]+([._/-][a-z0-9]+)*$")
# what a `[compose_images]` replacement may hold besides the image: the major version of
# the tag it replaces, and `-alpine` when that tag is an Alpine one
IMAGE_PLACEHOLDERS = ("{major}", "{alpine}")


def _compose_images(c: _Checker, data: dict[str, Any]) -> dict[str, str]:
    """`[compose_images] postgres = "postgis/postgis:{major}-3.5{alpine}"`: the services
    that run the image named on the left run the one on the right instead."""
    table = c.string_table("compose_images", data)
    for name, image in table.items():
        where = f"compose_images.{name}"
        if not _IMAGE.match(name):
            raise c.fail(where, "must be an image name without tag, such as postgres")
        bare = image
        for placeholder in IMAGE_PLACEHOLDERS:
            bare = bare.replace(placeholder, "0")
        if not re.fullmatch(r"[a-z0-9]+([._/-][a-z0-9]+)*(:[\w][\w.-]{0,127})?", bare):
            raise c.fail(where, "must be an image such as postgis/postgis:{major}-3.5, with "
                         "{major} and {alpine} the only placeholders")
    return table


def _compose_from_app(c: _Checker, data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """`[compose_from_app] worker = ["build", "environment"]`: the keys each service takes
    from the app service, so it runs the app's own image with its environment."""
    table = {}
    for service, keys in data.items():
        where = f"compose_from_app.{service}"
        if not _NAME.match(service.replace("_", "-")):
            raise c.fail(where, "must be a compose service name of the bundle's compose.yaml")
        keys = c.strings(where, keys)
        unknown = [k for k in keys if k not in _COMPOSE_FROM_APP]
        if unknown or not keys:
            raise c.fail(where, f"{unknown[0]!r} cannot be taken from the app service; "
                         f"the keys that can are {', '.join(_COMPOSE_FROM_APP)}"
                         if unknown else "must list at least one key, e.g. [\"build\"]")
        table[service] = keys
    return table


_REFERENCE = re.compile(r"^([A-Za-z_]\w*(\.[A-Za-z_]\w*)*:)?[A-Za-z_]\w*$")
_URL_PATH = re.compile(r"^/[^\s\"'\\]*$")


def _wiring(c: _Checker, data: dict[str, Any]) -> Wiring:
    known = {"middleware", "routes", "calls", "startup", "shutdown"}
    unknown = set(data) - known
    if unknown:
        raise c.fail(f"wiring.{min(unknown)}", f"unknown key; known keys are {', '.join(sorted(known))}")

    def reference(key: str, value: str) -> str:
        # a reference built from template variables is checked once rendered
        if "{" not in value and not _REFERENCE.match(value):
            raise c.fail(
                f"wiring.{key}", f"{value!r} is not a reference such as \"package.module:name\""
            )
        return value

    middleware, calls, startup, shutdown = (
        tuple(reference(key, v) for v in c.strings(f"wiring.{key}", data.get(key, [])))
        for key in ("middleware", "calls", "startup", "shutdown")
    )
    routes = c.string_table("wiring.routes", data.get("routes", {}))
    for path, endpoint in routes.items():
        if not _URL_PATH.match(path):
            raise c.fail(f"wiring.routes.{path}", "must be a URL path such as /metrics")
        reference(f"routes.{path}", endpoint)
    return Wiring(
        middleware=middleware, routes=tuple(routes.items()), calls=calls,
        startup=startup, shutdown=shutdown,
    )


def _setting(c: _Checker, index: int, item: Any) -> SettingField:
    where = f"settings[{index}]"
    if not isinstance(item, dict):
        raise c.fail(where, "must be a table with name, type, default")
    name = item.get("name")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        raise c.fail(f"{where}.name", "must be a lower-case Python identifier")
    kind = item.get("type", "str")
    if kind not in SETTING_TYPES:
        raise c.fail(f"{where}.type", f"{kind!r} is not one of {', '.join(SETTING_TYPES)}")
    default = item.get("default")
    expected: dict[str, type | tuple[type, ...]] = {
        "str": str, "int": int, "bool": bool, "float": (int, float),
    }
    if default is None or not isinstance(default, expected[kind]) or (
        kind in ("int", "float") and isinstance(default, bool)
    ):
        raise c.fail(f"{where}.default", f"is required and must be a {kind}")
    if isinstance(default, float) and not math.isfinite(default):
        raise c.fail(f"{where}.default", "must be a finite number (it becomes Python source "
                     "and an environment value)")
    if isinstance(default, str) and any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in default):
        raise c.fail(f"{where}.default", "must be one line without control characters (it "
                     "becomes a line of the env example and a Python string)")
    secret = item.get("secret", False)
    if not isinstance(secret, bool) or (secret and kind != "str"):
        raise c.fail(f"{where}.secret", "must be true or false, and only a str can be secret")
    extra = set(item) - {"name", "type", "default", "secret", "description"}
    if extra:
        raise c.fail(f"{where}.{min(extra)}", "unknown key")
    return SettingField(
        name=name,
        type=kind,
        default=default,  # type: ignore[arg-type]  # checked against `expected` above
        secret=secret,
        description=str(item.get("description", "")),
    )
