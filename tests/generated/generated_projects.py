"""Render bundles into minimal target projects for the tests of the generated code.

`render_project` is the one place that turns bundles into files: it runs
`paxx-patch add --commit` in a temporary repository, so the code under test is
exactly what users get.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from inspect import signature
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

REPO = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("paxx_patch") is None:  # running from a checkout, not installed
    sys.path.insert(0, str(REPO))

from paxx_patch.bundle import Bundle, load_bundle_dir

BUNDLES_DIR = REPO / "bundles"
COMPONENTS = sorted(p.name for p in BUNDLES_DIR.iterdir() if (p / "bundle.toml").is_file())


@dataclass(frozen=True)
class SettingsStyle:
    """How a target project keeps its settings, i.e. what the template context says."""

    name: str
    settings_module: str  # path of the module holding the Settings class
    settings_import: str
    settings_expr: str
    services_dir: str
    upper_case_fields: bool
    env_prefix: str = ""  # the class's env_prefix: every environment variable name is longer

    @property
    def services_package(self) -> str:
        return self.services_dir.replace("/", ".")

    def attribute(self, setting_name: str) -> str:
        return setting_name.upper() if self.upper_case_fields else setting_name


# `settings = Settings()` in a root module, lower-case fields (the paxx layout)
MODULE_STYLE = SettingsStyle(
    name="module",
    settings_module="settings.py",
    settings_import="from settings import settings",
    settings_expr="settings",
    services_dir="services",
    upper_case_fields=False,
)
# a cached factory in a package, UPPER_CASE fields, services inside the package
FACTORY_STYLE = SettingsStyle(
    name="factory",
    settings_module="app/core/config.py",
    settings_import="from app.core.config import get_settings",
    settings_expr="get_settings()",
    services_dir="app/services",
    upper_case_fields=True,
)
STYLES = (MODULE_STYLE, FACTORY_STYLE)
# for the static checks: environment variable names as long as real projects make them
PREFIXED_STYLE = SettingsStyle(
    name="prefixed",
    settings_module="orders_service/config.py",
    settings_import="from orders_service.config import settings",
    settings_expr="settings",
    services_dir="orders_service/services",
    upper_case_fields=False,
    env_prefix="ORDERS_SERVICE_",
)
_TOP_LEVEL_MODULES = ("settings", "services", "app", "jobs")


@dataclass
class Project:
    root: Path
    style: SettingsStyle
    bundles: list[Bundle]
    files: list[Path] = field(default_factory=list)  # every generated module

    def module(self, name: str) -> ModuleType:
        """Import `<services package>.<name>` from the project."""
        return importlib.import_module(f"{self.style.services_package}.{name}")


def template_context(
    bundle: Bundle, style: SettingsStyle, variables: Mapping[str, str] = {}
) -> dict[str, Any]:
    """The context the engine gives every template, for a project of `style`."""
    from dataclasses import replace

    from paxx_patch.discover.project import Project as TargetProject
    from paxx_patch.plan.engine import template_context as engine_context

    target = replace(
        TargetProject.paxx_layout(), services_dir=style.services_dir,
        services_package=style.services_package, settings_file=style.settings_module,
        settings_module=style.settings_module[:-3].replace("/", "."),
        settings_import=style.settings_import, settings_expr=style.settings_expr,
        upper_case_fields=style.upper_case_fields,
    )
    return engine_context(bundle, target, {**bundle.variables, **variables})


def _settings_source(style: SettingsStyle) -> str:
    """A settings module without the components' fields: `paxx-patch add` adds them."""
    factory = style.settings_expr != "settings"
    lines = [
        *(["from functools import lru_cache", ""] if factory else []),
        "from pydantic_settings import BaseSettings, SettingsConfigDict",
        "",
        "",
        "class Settings(BaseSettings):",
        f"    model_config = SettingsConfigDict(env_prefix={style.env_prefix!r})",
        f"    {style.attribute('app_name')}: str = 'demo'",
        "",
        "",
    ]
    if factory:
        lines += ["@lru_cache", "def get_settings() -> Settings:", "    return Settings()"]
    else:
        lines.append("settings = Settings()")
    return "\n".join(lines) + "\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def render_project(
    root: Path,
    names: Sequence[str],
    style: SettingsStyle = MODULE_STYLE,
    variables: Mapping[str, str] = {},
    files: Mapping[str, str] = {},
    *,
    one_by_one: bool = False,
) -> Project:
    """A minimal target project in a git repository (plus `files`, e.g. an app
    module to wire), the components added by `paxx-patch add NAME... --commit`
    exactly as a user would get them (`one_by_one`: one `add` each, in order)."""
    from paxx_patch.commands.add import add
    from paxx_patch.commands.common import Run
    from paxx_patch.plan.engine import Kind, Output

    bundles = [load_bundle_dir(BUNDLES_DIR / name) for name in names]
    project = Project(root=root, style=style, bundles=bundles)
    settings_path = root / style.settings_module
    settings_path.parent.mkdir(parents=True, exist_ok=True)
    settings_path.write_text(_settings_source(style), encoding="utf-8")
    for package in settings_path.relative_to(root).parents:
        if package != Path("."):
            (root / package / "__init__.py").touch()
    module = style.settings_module[:-3].replace("/", ".")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "target"\nversion = "0.1.0"\ndependencies = []\n\n'
        f'[tool.paxx-patch]\nservices_dir = "{style.services_dir}"\n'
        f'settings = "{module}:Settings"\n',
        encoding="utf-8",
    )
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    _git(root, "init", "-q", "--template=")
    _git(root, "config", "user.name", "Test User")
    _git(root, "config", "user.email", "test@example.com")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "target project")
    for step in [[name] for name in names] if one_by_one else [list(names)]:
        add(step, Run(Output(Kind.COMMIT), cwd=root),
            {k: v for k, v in variables.items() if any(k in b.variables for b in bundles if b.name in step)})
    services = root / style.services_dir
    for bundle in bundles:
        project.files += [services / target for target in bundle.templates]
    if (services / "lifespan_hooks.py").is_file():  # the wiring's, where the app needs it
        project.files.append(services / "lifespan_hooks.py")
    return project


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 60) -> None:
    """Poll `url` until it answers 200, while `process` (the server) runs."""
    import httpx  # the generated code's test dependency, not the package's

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, f"{url} did not come up"
        time.sleep(0.1)


def wait_for_redis(url: str, process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Return once the redis-server `process` answers PING at `url`; raise if it exits
    or does not answer within `timeout` seconds."""
    import redis

    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start at {url}") from None
                time.sleep(0.01)
    finally:
        client.close()


def forget_project_modules() -> None:
    from prometheus_client import REGISTRY
    from prometheus_client.metrics import MetricWrapperBase

    for name in list(sys.modules):
        if name.split(".")[0] not in _TOP_LEVEL_MODULES:
            continue
        module = sys.modules.pop(name)
        # Metrics register themselves in the global registry on import; a fresh
        # import of the module in the next test must be able to register again.
        for value in list(vars(module).values()):
            # functools' caches only: SQLAlchemy's `func` makes up any attribute asked for
            cache_info = getattr(value, "cache_info", None) if hasattr(type(value), "cache_info") else None
            if callable(cache_info) and cache_info().currsize and not signature(value).parameters:
                value = value()  # made on first use and kept, e.g. latency_histogram()
            if isinstance(value, MetricWrapperBase):
                try:
                    REGISTRY.unregister(value)
                except KeyError:
                    pass


class RenderComponent(Protocol):
    def __call__(
        self,
        name: str | Sequence[str],
        env: Mapping[str, str] = ...,
        *,
        style: SettingsStyle = ...,
        variables: Mapping[str, str] = ...,
    ) -> Project: ...


@dataclass(frozen=True)
class S3Server:
    """What the `s3_server` fixture gives: its endpoint and an existing bucket."""

    endpoint_url: str
    bucket: str


@contextmanager
def loopback_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server answering with `handler` on a free loopback port; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serving(
    on_accept: Callable[[socket.socket, threading.Event], list[socket.socket]],
    scheme: str = "redis",
    path: str = "/0",
) -> Iterator[str]:
    """A TCP server on a free loopback port: `on_accept` takes each connection and
    returns the sockets to close at the end; yields a `scheme://` URL to it."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # inherited on accept
    opened: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except TimeoutError:
                continue
            opened.extend(on_accept(conn, stop))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"{scheme}://127.0.0.1:{listener.getsockname()[1]}{path}"
    finally:
        stop.set()
        thread.join()
        for conn in opened:
            conn.close()
        listener.close()
