from __future__ import annotations

import contextlib
import dataclasses
import importlib
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from paxx_patch.bundle import Bundle, Wiring, load_bundle_dir
from paxx_patch.discover.project import Project
from paxx_patch.discover.style import CodeStyle
from paxx_patch.manifest import ComponentRecord
from paxx_patch.mutators import Context
from paxx_patch.mutators.wiring import WiringMutator
from paxx_patch.runtime.errors import PaxxError

FIXTURES = Path(__file__).parent / "fixtures_wiring"
WIRING_TOML = """
[wiring]
middleware = ["{{ services_package }}.metrics:MetricsMiddleware"]
calls = ["{{ services_package }}.tracing:setup_tracing"]

[wiring.routes]
"/metrics" = "{{ services_package }}.metrics:metrics_endpoint"
"""
IMPORTS = [
    "from services.metrics import MetricsMiddleware, metrics_endpoint",
    "from services.tracing import setup_tracing",
]
LINES = [
    "app.add_middleware(MetricsMiddleware)",
    'app.add_route("/metrics", metrics_endpoint, include_in_schema=False)',
    "setup_tracing(app)",
]


def make_project(**overrides: Any) -> Project:
    values: dict[str, Any] = {
        "root": "", "services_dir": "services", "services_package": "services",
        "settings_file": "settings.py", "settings_class": "Settings",
        "settings_module": "settings", "settings_import": "from settings import settings",
        "settings_expr": "settings", "upper_case_fields": False, "env_prefix": "",
        "case_sensitive": False, "compose_file": "docker-compose.yml",
        "dependency_file": "pyproject.toml", "dependency_style": "pep621",
        "env_file": ".env.example", "app_file": "main.py", "app_name": "app",
        "app_service": None, "lock_file": "paxx-patch.lock",
        # the top-level names the fixtures import, as discovery lists them
        "first_party": ("app", "main", "routes", "services", "settings"),
        "style": CodeStyle(),
        **overrides,
    }
    return Project(**{f.name: values.get(f.name, "") for f in dataclasses.fields(Project)})


def write_bundle(tmp_path: Path, wiring: str = WIRING_TOML) -> Path:
    directory = tmp_path / "bundles" / "metrics"
    directory.mkdir(parents=True)
    (directory / "bundle.toml").write_text(
        'name = "metrics"\nversion = "1.0.0"\ndescription = "metrics"\n' + wiring
    )
    return directory


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return load_bundle_dir(write_bundle(tmp_path))


def make_ctx(bundle: Bundle, removing: ComponentRecord | None = None, **project: Any) -> Context:
    return Context(
        bundle=bundle,
        project=make_project(**project),
        variables={},
        template_context={"services_package": "services"},
        removing=removing,
    )


def add(bundle: Bundle, source: bytes, path: str = "main.py", **project: Any) -> tuple[bytes, Context]:
    ctx = make_ctx(bundle, **project)
    new = WiringMutator().apply(path, source, ctx)
    assert new is not None
    return new, ctx


def remove(bundle: Bundle, source: bytes, ctx: Context, path: str = "main.py") -> bytes:
    record = ComponentRecord(name="metrics", version="1.0.0", entries=dict(ctx.entries))
    new = WiringMutator().apply(path, source, make_ctx(bundle, removing=record))
    assert new is not None
    return new


def test_bundle_schema(bundle: Bundle) -> None:
    assert bundle.wiring == Wiring(
        middleware=("{{ services_package }}.metrics:MetricsMiddleware",),
        routes=(("/metrics", "{{ services_package }}.metrics:metrics_endpoint"),),
        calls=("{{ services_package }}.tracing:setup_tracing",),
    )


@pytest.mark.parametrize(("table", "key"), [
    ('[wiring]\nimports = ["import x"]\n', "wiring.imports"),
    ('[wiring]\nmiddleware = ["not a name"]\n', "wiring.middleware"),
    ('[wiring]\nmiddleware = ["pkg.mod:Name()"]\n', "wiring.middleware"),
    ('[wiring]\ncalls = "pkg:setup_tracing"\n', "wiring.calls"),
    ('[wiring.routes]\n"metrics" = "pkg:metrics_endpoint"\n', "wiring.routes.metrics"),
    ('[wiring.routes]\n"/metrics" = "pkg:metrics-endpoint"\n', "wiring.routes./metrics"),
])
def test_bundle_schema_errors(tmp_path: Path, table: str, key: str) -> None:
    with pytest.raises(PaxxError, match=rf"bundle\.toml: key `{key}`"):
        load_bundle_dir(write_bundle(tmp_path, table))


@pytest.mark.parametrize("case", ["module_app", "factory", "middleware_in_if", "on_event"])
def test_fixture(bundle: Bundle, case: str) -> None:
    before = (FIXTURES / case / "before").read_bytes()
    after = (FIXTURES / case / "after").read_bytes()
    app_name = "create_app" if case == "factory" else "app"

    new, ctx = add(bundle, before, app_name=app_name)

    assert new.decode() == after.decode()
    assert ctx.notes == [] and ctx.warnings == []
    assert ctx.entries["wiring"]["file"] == "main.py"
    assert ctx.entries["wiring"]["imports"] == IMPORTS
    if case == "factory":
        assert ctx.entries["wiring"]["lines"] == [
            line.replace("app)", "application)").replace("app.", "application.")
            for line in LINES
        ]
    else:
        assert ctx.entries["wiring"]["lines"] == LINES
    assert remove(bundle, new, ctx) == before


@pytest.mark.parametrize("case", ["module_app", "factory", "middleware_in_if", "on_event"])
def test_fixture_noop(bundle: Bundle, case: str) -> None:
    after = (FIXTURES / case / "after").read_bytes()
    app_name = "create_app" if case == "factory" else "app"

    new, ctx = add(bundle, after, app_name=app_name)

    assert new == after
    assert "wiring" not in ctx.entries
    assert ctx.notes == [] and ctx.warnings == []


@pytest.mark.parametrize("app_name", ["app", None, "create_app"])
def test_factory_found_from_module_app_or_detection(bundle: Bundle, app_name: str | None) -> None:
    before = (FIXTURES / "factory" / "before").read_bytes()
    new, _ = add(bundle, before, app_name=app_name)
    assert new == (FIXTURES / "factory" / "after").read_bytes()


def test_crlf_line_endings_kept(bundle: Bundle) -> None:
    before = (FIXTURES / "module_app" / "before").read_bytes().replace(b"\n", b"\r\n")
    after = (FIXTURES / "module_app" / "after").read_bytes().replace(b"\n", b"\r\n")

    new, ctx = add(bundle, before)

    assert new == after
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, ctx) == before


def test_import_partly_there_adds_the_rest(bundle: Bundle) -> None:
    before = (
        b"from fastapi import FastAPI\n"
        b"from services.metrics import MetricsMiddleware\n"
        b"from services.tracing import setup_tracing\n"
        b"\n"
        b"app = FastAPI()\n"
    )
    new, ctx = add(bundle, before)
    assert new == (
        b"from fastapi import FastAPI\n"
        b"from services.metrics import MetricsMiddleware\n"
        b"from services.metrics import metrics_endpoint\n"
        b"from services.tracing import setup_tracing\n"
        b"\n"
        b"app = FastAPI()\n"
        b"\n"
        b"# metrics\n"
        + "\n".join(LINES).encode() + b"\n"
    )
    assert ctx.entries["wiring"]["imports"] == ["from services.metrics import metrics_endpoint"]
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, ctx) == before


def test_statements_already_there_are_not_added(bundle: Bundle) -> None:
    before = (
        b"from fastapi import FastAPI\n"
        + "\n".join(IMPORTS).encode() + b"\n"
        b"\n"
        b"app = FastAPI()\n"
        b"if True:\n"
        b"    app.add_middleware( MetricsMiddleware )\n"
        b"setup_tracing(app, service_name='x')\n"
        b"\n"
        b"\n"
        b"@app.get('/metrics')\n"
        b"def mine() -> str:\n"
        b"    return ''\n"
    )
    new, ctx = add(bundle, before)
    # ours, called otherwise: the user's call is kept and reported
    assert any("main.py:8" in n and "setup_tracing(app, service_name='x')" in n for n in ctx.notes)
    # the user's own /metrics: ours is served on a path of its own, and the warning says so
    free = 'app.add_route("/paxx/metrics", metrics_endpoint, include_in_schema=False)'
    assert new == before.replace(b"\n\n\n@app", f"\n\n# metrics\n{free}\n\n\n@app".encode())
    assert ctx.entries["wiring"]["lines"] == [free]
    [warning] = ctx.warnings
    assert "main.py:11 already serves /metrics" in warning and "/paxx/metrics" in warning
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, ctx) == before


def test_same_thing_through_a_module_is_already_there(bundle: Bundle) -> None:
    before = (
        b"from fastapi import FastAPI\n"
        b"from services import metrics, tracing\n"
        b"\n"
        b"app = FastAPI()\n"
        b"app.add_middleware(metrics.MetricsMiddleware)\n"
        b"tracing.setup_tracing(app)\n"
    )
    new, ctx = add(bundle, before)
    assert new == (
        b"from fastapi import FastAPI\n"
        b"from services import metrics, tracing\n"
        b"from services.metrics import metrics_endpoint\n"
        b"\n"
        b"app = FastAPI()\n"
        b"app.add_middleware(metrics.MetricsMiddleware)\n"
        b"tracing.setup_tracing(app)\n"
        b"\n"
        b"# metrics\n"
        + LINES[1].encode() + b"\n"
    )
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, ctx) == before


def test_docstring_future_import_and_annotated_app(bundle: Bundle) -> None:
    before = (
        b'"""The app."""\n'
        b"\n"
        b"from __future__ import annotations\n"
        b"\n"
        b"import fastapi\n"
        b"\n"
        b"app: fastapi.FastAPI = fastapi.FastAPI()\n"
    )
    new, ctx = add(bundle, before)
    assert new == (
        b'"""The app."""\n'
        b"\n"
        b"from __future__ import annotations\n"
        b"\n"
        b"import fastapi\n"
        b"\n"
        + "\n".join(IMPORTS).encode() + b"\n"
        b"\n"
        b"app: fastapi.FastAPI = fastapi.FastAPI()\n"
        b"\n"
        b"# metrics\n"
        + "\n".join(LINES).encode() + b"\n"
    )
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, ctx) == before


def test_an_app_made_by_a_call_it_cannot_follow_is_wired_where_it_is_made(bundle: Bundle) -> None:
    before = b"from myapp import make_app\n\napp = make_app()\n"
    new, ctx = add(bundle, before)
    assert new == (
        b"from myapp import make_app\n\n"
        + "\n".join(IMPORTS).encode() + b"\n"
        b"\napp = make_app()\n\n# metrics\n" + "\n".join(LINES).encode() + b"\n"
    )
    assert ctx.warnings == []
    assert remove(bundle, new, ctx) == before


def test_no_app_found_makes_no_edit_and_says_what_to_add(bundle: Bundle) -> None:
    before = b"from myapp import make_app\n\nmake_app().run()\n"

    new, ctx = add(bundle, before)

    assert new == before
    assert "wiring" not in ctx.entries
    [note] = ctx.warnings
    assert "main.py" in note
    for line in IMPORTS + LINES:
        assert f"\n    {line}\n" in note


def test_an_app_made_inside_a_block_is_wired_after_the_block(bundle: Bundle) -> None:
    before = (b"from fastapi import FastAPI\n\nfrom settings import settings\n\n"
              b"if settings.debug:\n    app = FastAPI(debug=True)\nelse:\n    app = FastAPI()\n")
    new, ctx = add(bundle, before)
    assert new.endswith(b"    app = FastAPI()\n\n# metrics\n" + "\n".join(LINES).encode() + b"\n")
    assert remove(bundle, new, ctx) == before


def test_no_app_file_detected(bundle: Bundle) -> None:
    ctx = make_ctx(bundle, app_file=None, app_name=None)
    mutator = WiringMutator()
    assert mutator.paths(ctx) == []
    assert mutator.paths(ctx) == []
    [note] = ctx.warnings
    for line in IMPORTS + LINES:
        assert f"\n    {line}\n" in note


def test_app_file_missing(bundle: Bundle) -> None:
    ctx = make_ctx(bundle)
    assert WiringMutator().apply("main.py", None, ctx) is None
    assert "main.py" in ctx.warnings[0]


def test_syntax_error_names_file_and_line(bundle: Bundle) -> None:
    before = b"from fastapi import FastAPI\n\ndef broken(:\n    pass\napp = FastAPI()\n"
    with pytest.raises(PaxxError, match=r"^main\.py:3: .*Fix it and commit"):
        add(bundle, before)


@pytest.mark.parametrize("reference", ["{{ nope }}:X", "{{ services_package }} x:X"])
def test_render_error_names_bundle_key(tmp_path: Path, reference: str) -> None:
    wiring = f'[wiring]\nmiddleware = ["{reference}"]\n'
    bundle = load_bundle_dir(write_bundle(tmp_path, wiring))
    with pytest.raises(PaxxError, match=r"bundle\.toml: key `wiring\.middleware`"):
        add(bundle, b"from fastapi import FastAPI\napp = FastAPI()\n")


def test_existing_route_kept_and_ours_served_beside_it(bundle: Bundle) -> None:
    before = (
        b"from fastapi import FastAPI, Response\n"
        b"\n"
        b"app = FastAPI()\n"
        b"\n"
        b"\n"
        b"@app.get('/metrics')\n"
        b"def mine() -> Response:\n"
        b"    return Response()\n"
    )
    new, ctx = add(bundle, before)
    assert new.startswith(
        b"from fastapi import FastAPI, Response\n"
        b"\n"
        b"from services.metrics import MetricsMiddleware, metrics_endpoint\n"
        b"from services.tracing import setup_tracing\n"
    )
    assert ctx.entries["wiring"]["lines"] == [
        LINES[0], LINES[1].replace('"/metrics"', '"/paxx/metrics"'), LINES[2],
    ]
    assert any("main.py:6" in w and "app.get('/metrics')" in w for w in ctx.warnings)
    assert remove(bundle, new, ctx) == before


def test_remove_keeps_user_edits_and_skips_what_is_gone(bundle: Bundle) -> None:
    before = (FIXTURES / "module_app" / "before").read_bytes()
    new, ctx = add(bundle, before)
    edited = new.replace(b"setup_tracing(app)\n", b"").replace(
        b'"""Liveness probe."""', b'"""Liveness probe (edited)."""'
    )

    result = remove(bundle, edited, ctx)

    assert result == before.replace(b'"""Liveness probe."""', b'"""Liveness probe (edited)."""')
    assert remove(bundle, result, ctx) == result


def test_remove_keeps_a_comment_the_user_put_above_a_line(bundle: Bundle) -> None:
    before = (FIXTURES / "on_event" / "before").read_bytes()
    new, ctx = add(bundle, before)
    edited = new.replace(b"setup_tracing(app)\n", b"# tracing is on in production\nsetup_tracing(app)\n")

    result = remove(bundle, edited, ctx)

    assert result == before.replace(
        b"app = FastAPI()\n", b"app = FastAPI()\n# tracing is on in production\n"
    )


def test_remove_without_record_changes_nothing(bundle: Bundle) -> None:
    before = (FIXTURES / "module_app" / "after").read_bytes()
    record = ComponentRecord(name="metrics", version="1.0.0")
    ctx = make_ctx(bundle, removing=record)
    assert WiringMutator().paths(ctx) == []
    assert WiringMutator().apply("main.py", before, ctx) is before


def test_project_in_sub_directory(bundle: Bundle) -> None:
    before = (FIXTURES / "on_event" / "before").read_bytes()
    new, ctx = add(bundle, before, path="backend/app/main.py", root="backend",
                   app_file="backend/app/main.py")
    # a repository path, like every mutator's; the lock stores it relative to the project
    assert ctx.entries["wiring"]["file"] == "backend/app/main.py"
    entries = {"wiring": {**ctx.entries["wiring"], "file": "app/main.py"}}
    record = ComponentRecord(name="metrics", version="1.0.0", entries=entries)
    removing = make_ctx(bundle, removing=record, root="backend")
    assert WiringMutator().paths(removing) == ["backend/app/main.py"]
    assert WiringMutator().apply("backend/app/main.py", new, removing) == before


def test_paths_and_subject(bundle: Bundle, tmp_path: Path) -> None:
    mutator = WiringMutator()
    ctx = make_ctx(bundle, app_file="app/main.py")
    assert mutator.paths(ctx) == ["app/main.py"]
    assert mutator.subject(ctx, ["app/main.py"]) == "wire metrics into app/main.py"
    record = ComponentRecord(name="metrics", version="1.0.0")
    assert mutator.subject(make_ctx(bundle, removing=record), ["main.py"]) == (
        "unwire metrics from main.py"
    )
    plain = load_bundle_dir(write_bundle(tmp_path / "plain", ""))
    assert mutator.paths(make_ctx(plain)) == []


@contextlib.contextmanager
def fresh_modules(*names: str) -> Iterator[None]:
    """Import `names` (and their submodules) from scratch; put the old ones back after."""
    def ours(module: str) -> bool:
        return any(module == n or module.startswith(n + ".") for n in names)

    saved = {m: sys.modules.pop(m) for m in list(sys.modules) if ours(m)}
    try:
        yield
    finally:
        for module in [m for m in sys.modules if ours(m)]:
            del sys.modules[module]
        sys.modules.update(saved)


STUB_METRICS = '''
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-metrics", b"1")]
            await send(message)

        await self.app(scope, receive, send_with_header if scope["type"] == "http" else send)


def metrics_endpoint(request: Request) -> PlainTextResponse:
    return PlainTextResponse("http_requests_total 1\\n")
'''
STUB_TRACING = '''
def setup_tracing(app) -> None:
    app.state.traced = True
'''


@pytest.mark.parametrize("case", ["module_app", "factory"])
def test_edited_module_runs(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str
) -> None:
    from fastapi.testclient import TestClient

    before = (FIXTURES / case / "before").read_text()
    # the fixtures' own imports, made importable
    before = before.replace("from settings import settings\n", "")
    before = before.replace("settings.app_name", '"demo"')
    before = before.replace('app.include_router(users_router, prefix="/users")  # noqa: F821\n', "")
    before = before.replace("from app.api import router\n", "from fastapi import APIRouter\nrouter = APIRouter()\n")
    new, _ = add(bundle, before.encode(), app_name="create_app" if case == "factory" else "app")
    (tmp_path / "wired_main.py").write_bytes(new)
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "metrics.py").write_text(STUB_METRICS)
    (tmp_path / "services" / "tracing.py").write_text(STUB_TRACING)
    monkeypatch.syspath_prepend(str(tmp_path))
    with fresh_modules("services", "wired_main"):
        module = importlib.import_module("wired_main")
        middleware = importlib.import_module("services.metrics").MetricsMiddleware

    app = module.app
    assert any(m.cls is middleware for m in app.user_middleware)
    assert app.state.traced is True
    assert "/metrics" not in app.openapi()["paths"]
    with TestClient(app) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.text == "http_requests_total 1\n"
    assert response.headers["x-metrics"] == "1"


SPA_APP = '''from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

app = FastAPI()
app.include_router(router)
app.mount("/", StaticFiles(directory=UI, html=True), name="ui")
'''
STAND_INS = '''from fastapi import APIRouter
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.responses import PlainTextResponse

router = APIRouter()


class MetricsMiddleware(BaseHTTPMiddleware):
    async def dispatch(self, request, call_next):
        return await call_next(request)


async def metrics_endpoint(request):
    return PlainTextResponse("metrics")


def setup_tracing(app):
    pass
'''


@pytest.mark.parametrize("factory", [False, True])
def test_routes_go_before_a_mount_that_takes_every_path(bundle: Bundle, tmp_path: Path, factory: bool) -> None:
    """Starlette matches in order: a route added after `mount("/", StaticFiles(html=True))`
    is never reached. Ours go before it, and the frontend is still served at /."""
    from fastapi.testclient import TestClient

    source = SPA_APP
    if factory:
        body = source.split("app = FastAPI()\n")[1]
        source = (source.split("app = FastAPI()\n")[0] + "\n\ndef create_app() -> FastAPI:\n    app = FastAPI()\n"
                  + "".join(f"    {line}\n" for line in body.splitlines()) + "    return app\n\n\napp = create_app()\n")
    new, _ = add(bundle, source.encode(), app_name=None if factory else "app")
    text = new.decode()
    assert text.index('add_route("/metrics"') < text.index('mount("/"')
    (tmp_path / "ui").mkdir()
    (tmp_path / "ui" / "index.html").write_text("<p>frontend</p>")
    module = tmp_path / "spa_main.py"
    module.write_text(STAND_INS + f"UI = {str(tmp_path / 'ui')!r}\n"
                      + "\n".join(line for line in text.splitlines() if not line.startswith("from services.")))
    client = TestClient(runpy.run_path(str(module))["app"])
    assert client.get("/metrics").text == "metrics"
    assert "frontend" in client.get("/").text


def test_a_mount_on_a_path_of_its_own_does_not_move_the_routes(bundle: Bundle) -> None:
    source = SPA_APP.replace('app.mount("/", ', 'app.mount("/static", ').encode()
    text = add(bundle, source)[0].decode()
    assert text.index('mount("/static"') < text.index('add_route("/metrics"')
