"""Apps of the shapes public projects have and the tool once left to the user: the
app made by a factory in one module, its lifespan in another, a mock app beside
them, names of the app's own that look like ours. Each is wired by `add --commit`
on a real repository, and the wired app is then run: the components' shutdown
calls must happen at the app's shutdown, after the app's own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REDIS_REQUIREMENT, git, init_repo

SETTINGS = '''\
from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    app_name: str = "orders"


settings = Settings()
'''

# Shape seen in apps generated from a FastAPI project template with a `web` package:
# the Dockerfile runs the factory `orders.web.application:get_app`, its lifespan is
# built in `orders.web.lifetime`, and a mock streaming app under `web/api` also calls
# FastAPI(); the app variable is not called `app` and is made inside a branch.
FACTORY_APP = {
    "pyproject.toml": '[project]\nname = "orders"\nversion = "0.1.0"\n'
                      'dependencies = ["fastapi", "pydantic-settings"]\n',
    "Dockerfile": 'FROM python:3.12-slim\nCOPY . .\n'
                  'CMD ["uvicorn", "--factory", "orders.web.application:get_app", "--host", "0.0.0.0"]\n',
    "orders/__init__.py": "",
    "orders/settings.py": SETTINGS,
    "orders/web/__init__.py": "",
    "orders/web/lifetime.py": '''\
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

EVENTS: list[str] = []


@asynccontextmanager
async def lifespan_setup(app: FastAPI) -> AsyncIterator[None]:
    EVENTS.append("app startup")
    yield
    EVENTS.append("app shutdown")
''',
    "orders/web/application.py": '''\
from typing import Any

from fastapi import FastAPI

from orders.settings import settings
from orders.web.lifetime import lifespan_setup


def get_app(**kwargs: Any) -> FastAPI:
    """Make the app."""
    if kwargs.get("docs"):
        application = FastAPI(title=settings.app_name, lifespan=lifespan_setup, **kwargs)
    else:
        application = FastAPI(title=settings.app_name, lifespan=lifespan_setup, docs_url=None)
    application.state.ready = True
    return application
''',
    "orders/web/api/__init__.py": "",
    "orders/web/api/stream_mock.py": '''\
from fastapi import FastAPI

app = FastAPI(title="a mock of the upstream stream")
''',
}

RUN_FACTORY_APP = r"""
import asyncio
from orders.services import cache
from orders.web import lifetime
from orders.web.application import get_app

app = get_app()

async def main():
    async with app.router.lifespan_context(app):
        await cache.cache_set("k", {"v": 1})
        assert await cache.cache_get("k") == {"v": 1}
        assert len(cache._clients) == 1
    assert len(cache._clients) == 0, "close_redis did not run at shutdown"
    assert lifetime.EVENTS == ["app startup", "app shutdown"], lifetime.EVENTS
    print("ok", flush=True)

asyncio.run(main())
"""


def run_check(repo: Path, code: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONDONTWRITEBYTECODE": "1",
           "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    return subprocess.run([sys.executable, "-c", code], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_factory_in_one_module_lifespan_in_another_is_wired_and_runs(
    tmp_path: Path, run, redis_url: str
) -> None:
    repo = init_repo(tmp_path / "orders", FACTORY_APP)
    code, out, err = run(repo, "add", "redis", "metrics", "--commit")
    assert code == 0, out + err
    assert "by hand" not in out + err
    application = (repo / "orders/web/application.py").read_text()
    # the factory the Dockerfile runs is wired, before its `return`, not the mock
    assert "    application.add_middleware(MetricsMiddleware)\n" in application
    assert "    setup_tracing(application)\n" in application
    assert ("    add_lifespan_hooks(application, shutdown=[close_redis])\n" in application)
    assert ("    add_lifespan_hooks(application, shutdown=[shutdown_tracing])\n"
            "    return application\n") in application
    assert (repo / "orders/web/api/stream_mock.py").read_text() == FACTORY_APP["orders/web/api/stream_mock.py"]
    assert (repo / "orders/web/lifetime.py").read_text() == FACTORY_APP["orders/web/lifetime.py"]
    # one hooks module, recorded by both components; verify holds
    assert (repo / "orders/services/lifespan_hooks.py").is_file()
    lock = tomllib.loads((repo / "paxx-patch.lock").read_text())["components"]
    assert [n for n, c in lock.items() if "orders/services/lifespan_hooks.py" in c["files"]] == [
        "metrics", "redis"]
    assert run(repo, "verify")[0] == 0
    proc = run_check(repo, RUN_FACTORY_APP, redis_url)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_the_hooks_module_stays_until_the_last_component_using_it_goes(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "orders", FACTORY_APP)
    base = git(repo, "rev-parse", "HEAD").strip()
    assert run(repo, "add", "redis", "storage", "--commit")[0] == 0
    hooks = repo / "orders/services/lifespan_hooks.py"
    assert run(repo, "remove", "redis", "--commit")[0] == 0
    assert hooks.is_file()
    application = (repo / "orders/web/application.py").read_text()
    assert "add_lifespan_hooks(application, shutdown=[close_storage])" in application
    assert "from orders.services.lifespan_hooks import add_lifespan_hooks" in application
    assert run(repo, "verify")[0] == 0
    assert run(repo, "remove", "storage", "--commit")[0] == 0
    assert not hooks.exists()
    # the tree is the user's again, byte for byte
    assert git(repo, "diff", "--stat", base, "HEAD", "--", "orders") == ""


# Shape seen in apps that keep a Redis client of their own: the app module imports
# its own `close_redis` and `MetricsMiddleware`, and already serves /metrics.
OWN_NAMES_MAIN = '''\
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response

from app.core.metrics import MetricsMiddleware
from app.core.redis import close_redis


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await close_redis()


app = FastAPI(lifespan=lifespan)
app.add_middleware(MetricsMiddleware)


@app.get("/metrics")
def own_metrics() -> Response:
    return Response("own 1\\n")
'''
OWN_NAMES_APP = {
    "pyproject.toml": '[project]\nname = "app"\nversion = "0.1.0"\n'
                      'dependencies = ["fastapi", "pydantic-settings"]\n',
    "app/__init__.py": "",
    "app/main.py": OWN_NAMES_MAIN,
    "app/settings.py": SETTINGS,
    "app/core/__init__.py": "",
    "app/core/redis.py": '''\
CLOSED: list[str] = []


async def close_redis() -> None:
    CLOSED.append("own redis")
''',
    "app/core/metrics.py": '''\
from starlette.types import ASGIApp, Receive, Scope, Send


class MetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
''',
}

RUN_OWN_NAMES_APP = r"""
import asyncio
import httpx
from app.core import redis as own
from app.main import app
from app.services import cache

async def main():
    async with app.router.lifespan_context(app):
        await cache.cache_set("k", 1)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert (await client.get("/metrics")).text == "own 1\n"
            ours = await client.get("/paxx/metrics")
            assert ours.status_code == 200 and "http_requests_total" in ours.text, ours.text
    assert own.CLOSED == ["own redis"], own.CLOSED
    assert len(cache._clients) == 0, "ours was not closed"
    print("ok", flush=True)

asyncio.run(main())
"""


def test_names_of_the_apps_own_are_kept_and_ours_wired_beside_them(
    tmp_path: Path, run, redis_url: str
) -> None:
    repo = init_repo(tmp_path / "app", OWN_NAMES_APP)
    code, out, err = run(repo, "add", "redis", "metrics", "--commit")
    assert code == 0, out + err
    main = (repo / "app/main.py").read_text()
    assert "from app.services.cache import close_redis as paxx_close_redis\n" in main
    # `a as b` on a line of its own, as isort and ruff keep it by default
    assert ("from app.services.metrics import MetricsMiddleware as PaxxMetricsMiddleware\n"
            "from app.services.metrics import metrics_endpoint\n") in main, main
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "I",
                           "app/main.py"], cwd=repo, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    assert "    await close_redis()\n    await paxx_close_redis()\n" in main
    assert "app.add_middleware(PaxxMetricsMiddleware)" in main
    assert 'app.add_route("/paxx/metrics", metrics_endpoint, include_in_schema=False)' in main
    assert "already serves /metrics" in out + err
    proc = run_check(repo, RUN_OWN_NAMES_APP, redis_url)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    # and out again, leaving the app's own names as they were
    assert run(repo, "remove", "metrics", "redis", "--commit")[0] == 0
    assert (repo / "app/main.py").read_text() == OWN_NAMES_MAIN


def test_aliased_imports_join_the_others_where_the_sorter_combines_them(tmp_path: Path, run) -> None:
    files = {**OWN_NAMES_APP, "pyproject.toml": OWN_NAMES_APP["pyproject.toml"]
             + "\n[tool.ruff.lint.isort]\ncombine-as-imports = true\n"}
    repo = init_repo(tmp_path / "app", files)
    code, out, err = run(repo, "add", "metrics", "--commit")
    assert code == 0, out + err
    main = (repo / "app/main.py").read_text()
    assert ("from app.services.metrics import (\n    MetricsMiddleware as PaxxMetricsMiddleware,\n"
            "    metrics_endpoint,\n)\n") in main, main  # one statement, too long for one line
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--select", "I", "app/main.py"],
                          cwd=repo, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout


@pytest.mark.parametrize("second", [False, True])
def test_wiring_twice_changes_nothing(tmp_path: Path, run, second: bool) -> None:
    repo = init_repo(tmp_path / "orders", FACTORY_APP)
    assert run(repo, "add", "redis", "--commit")[0] == 0
    head = git(repo, "rev-parse", "HEAD")
    if second:
        code, out, err = run(repo, "update", "redis", "--commit")
        assert code == 0, out + err
        assert git(repo, "rev-parse", "HEAD") == head
    else:
        code, out, err = run(repo, "add", "redis", "--commit")
        assert code == 0 and "already installed" in out + err, out + err
        assert git(repo, "rev-parse", "HEAD") == head


def detected_app(run, repo: Path) -> dict[str, object]:
    code, out, err = run(repo, "detect", "--json")
    assert code == 0, err
    return next(c for c in json.loads(out)["conventions"] if c["convention"] == "app")


# Shape: the image runs `python -m orders`, whose __main__ starts uvicorn with the app
# object it imports (`uvicorn.run(app, ...)`); other modules make FastAPI apps too.
MODULE_RUN_APP = {
    "pyproject.toml": '[project]\nname = "orders"\nversion = "0.1.0"\ndependencies = ["fastapi"]\n',
    "Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["python", "-m", "orders"]\n',
    "orders/__init__.py": "",
    "orders/settings.py": SETTINGS,
    "orders/__main__.py": "import uvicorn\n\nfrom orders.http.server import app\n\n"
                          "if __name__ == '__main__':\n    uvicorn.run(app, host='0.0.0.0')\n",
    "orders/http/__init__.py": "",
    "orders/http/server.py": "from fastapi import FastAPI\n\napp = FastAPI(title='orders')\n",
    "orders/main.py": "from fastapi import FastAPI\n\napp = FastAPI(title='an admin tool')\n",
}


def test_the_app_a_module_run_starts_is_the_app(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "orders", MODULE_RUN_APP)
    found = detected_app(run, repo)
    assert found["file"] == "orders/http/server.py", found
    assert "orders/__main__.py" in str(found["rule"]), found


def test_a_mock_app_is_not_taken_for_the_app(tmp_path: Path, run) -> None:
    files = {
        "pyproject.toml": '[project]\nname = "shop"\nversion = "0.1.0"\ndependencies = ["fastapi"]\n',
        "shop/__init__.py": "",
        "shop/settings.py": SETTINGS,
        "mock_api.py": "from fastapi import FastAPI\n\napp = FastAPI()\n",
        "shop/api/__init__.py": "",
        "shop/api/app.py": "from fastapi import FastAPI\n\napp = FastAPI(title='shop')\n",
    }
    repo = init_repo(tmp_path / "shop", files)
    assert detected_app(run, repo)["file"] == "shop/api/app.py"


def test_a_run_call_over_several_lines_names_the_factory(tmp_path: Path, run) -> None:
    files = {
        **FACTORY_APP,
        "Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["python", "-m", "orders"]\n',
        "orders/__main__.py": 'import uvicorn\n\n\ndef main() -> None:\n    uvicorn.run(\n'
                              '        "orders.web.application:get_app",\n'
                              '        factory=True,\n    )\n',
    }
    repo = init_repo(tmp_path / "orders", files)
    found = detected_app(run, repo)
    assert (found["file"], found["value"]) == ("orders/web/application.py", "get_app"), found


def test_a_factory_comes_before_a_mock_app_when_nothing_names_either(tmp_path: Path, run) -> None:
    files = {k: v for k, v in FACTORY_APP.items() if k != "Dockerfile"}
    repo = init_repo(tmp_path / "orders", files)
    found = detected_app(run, repo)
    assert (found["file"], found["value"]) == ("orders/web/application.py", "get_app"), found


# Shape seen in AgentGPT: no lifespan; startup and shutdown handlers are registered on
# the app by functions of another module (`register_startup_event(app)`). A new
# `lifespan=` would silence them, so the calls are composed around the app's own.
HANDED_OUT_APP = {
    "pyproject.toml": '[project]\nname = "shop"\nversion = "0.1.0"\n'
                      'dependencies = ["fastapi", "pydantic-settings"]\n',
    "shop/__init__.py": "",
    "shop/settings.py": SETTINGS,
    "shop/lifetime.py": '''\
from fastapi import FastAPI

EVENTS: list[str] = []


def register_events(app: FastAPI) -> None:
    @app.on_event("startup")
    async def started() -> None:
        EVENTS.append("startup")

    @app.on_event("shutdown")
    async def stopped() -> None:
        EVENTS.append("shutdown")
''',
    "shop/main.py": '''\
from fastapi import FastAPI

from shop.lifetime import register_events


def get_app() -> FastAPI:
    app = FastAPI(title="shop")
    register_events(app)
    return app
''',
}

RUN_HANDED_OUT_APP = r"""
import asyncio
from shop import lifetime
from shop.main import get_app
from shop.services import cache

app = get_app()

async def main():
    async with app.router.lifespan_context(app):
        await cache.cache_set("k", 1)
    assert lifetime.EVENTS == ["startup", "shutdown"], lifetime.EVENTS
    assert len(cache._clients) == 0, "close_redis did not run"
    print("ok", flush=True)

asyncio.run(main())
"""


def test_handlers_registered_elsewhere_keep_running(tmp_path: Path, run, redis_url: str) -> None:
    repo = init_repo(tmp_path / "shop", HANDED_OUT_APP)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    main = (repo / "shop/main.py").read_text()
    assert "lifespan=" not in main
    assert "    add_lifespan_hooks(app, shutdown=[close_redis])\n    return app\n" in main
    proc = run_check(repo, RUN_HANDED_OUT_APP, redis_url)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


@pytest.mark.parametrize("how", ["gunicorn", "script"])
def test_the_app_named_by_a_gunicorn_config_or_a_console_script(tmp_path: Path, run, how: str) -> None:
    files = {k: v for k, v in MODULE_RUN_APP.items() if k not in ("Dockerfile", "orders/__main__.py")}
    if how == "gunicorn":
        files["deploy/gunicorn.conf.py"] = ('wsgi_app = "orders.http.server:app"\n'
                                            'worker_class = "uvicorn.workers.UvicornWorker"\n')
    else:
        files["pyproject.toml"] += '\n[project.scripts]\norders-serve = "orders.cli:serve"\n'
        files["orders/cli.py"] = ("import uvicorn\n\n\ndef serve() -> None:\n"
                                  "    uvicorn.run('orders.http.server:app', port=8000)\n")
    repo = init_repo(tmp_path / "orders", files)
    found = detected_app(run, repo)
    assert found["file"] == "orders/http/server.py", found


def test_a_pyproject_for_tools_only_gets_a_warning_not_a_refusal(tmp_path: Path, run) -> None:
    # pyproject.toml holds black settings; what the project installs is listed nowhere
    # paxx-patch reads (a Makefile's `pip install fastapi uvicorn`)
    files = {k: v for k, v in MODULE_RUN_APP.items() if k != "pyproject.toml"}
    files["pyproject.toml"] = '[tool.black]\nline-length = 100\n'
    files["Makefile"] = "install:\n\tpip install fastapi uvicorn pydantic-settings\n"
    repo = init_repo(tmp_path / "orders", files)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert "has no [project] table" in out + err and "redis>=" in out + err
    assert (repo / "pyproject.toml").read_text() == files["pyproject.toml"]
    assert (repo / "orders/services/cache.py").is_file()


def test_a_workspace_root_that_is_a_project_with_the_app_is_no_refusal(tmp_path: Path, run) -> None:
    # Shape seen in TracecatHQ/tracecat: the root pyproject.toml is a uv workspace root and
    # a project of its own, whose package holds the app; no BaseSettings anywhere
    files = {k: v for k, v in MODULE_RUN_APP.items() if k != "orders/settings.py"}
    files["pyproject.toml"] += '\n[tool.uv.workspace]\nmembers = ["packages/*"]\n'
    files["packages/sdk/pyproject.toml"] = '[project]\nname = "sdk"\nversion = "0.1.0"\n'
    files["packages/sdk/sdk/__init__.py"] = ""
    repo = init_repo(tmp_path / "orders", files)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert (repo / "orders/services/settings.py").is_file()
    assert "--project" not in out + err


# Shapes seen in lfnovo/open-notebook, assafelovic/gpt-researcher and
# blueswen/fastapi-observability: imports split by statements that must run first
# (`load_dotenv()`), their lines marked noqa for E402, and a local module sorted
# among the third-party imports because the project's linter runs from the
# repository root. The wired module must give the project's own ruff nothing new.
SPLIT_IMPORTS_MAIN = '''\
from dotenv import load_dotenv

load_dotenv()

# must run after the environment is loaded
from app.proxy import no_proxy  # noqa: E402

no_proxy()

import os  # noqa: E402

from fastapi import FastAPI  # noqa: E402

from app.settings import settings  # noqa: E402

app = FastAPI(title=os.environ.get("TITLE", settings.app_name))
'''
LOCAL_AMONG_THIRD_PARTY_MAIN = '''\
import os

from fastapi import FastAPI
from helpers import describe

app = FastAPI(title=describe(os.environ.get("TITLE", "orders")))
'''
RUFF_ISORT_E402 = '[tool.ruff.lint]\nselect = ["E", "F", "I"]\n'


@pytest.mark.parametrize("shape", ["split_imports", "local_among_third_party"])
def test_imports_go_where_the_projects_own_ruff_finds_nothing_new(tmp_path: Path, run, shape: str) -> None:
    pyproject = ('[project]\nname = "app"\nversion = "0.1.0"\n'
                 'dependencies = ["fastapi", "pydantic-settings"]\n')
    if shape == "split_imports":
        files = {"pyproject.toml": pyproject + RUFF_ISORT_E402, "app/__init__.py": "",
                 "app/main.py": SPLIT_IMPORTS_MAIN, "app/settings.py": SETTINGS,
                 "app/proxy.py": "def no_proxy() -> None:\n    pass\n"}
        main, cwd = "app/main.py", "."
    else:  # no ruff configuration: ruff is run from the root, the app one level down
        files = {"service/pyproject.toml": pyproject, "service/main.py": LOCAL_AMONG_THIRD_PARTY_MAIN,
                 "service/settings.py": SETTINGS,
                 "service/helpers.py": "def describe(name: str) -> str:\n    return name\n"}
        main, cwd = "service/main.py", "."
    repo = init_repo(tmp_path / "orders", files)
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", main]
    before = subprocess.run(ruff, cwd=repo / cwd, capture_output=True, text=True, check=False)
    assert before.returncode == 0, before.stdout  # the project is clean under its own rules
    code, out, err = run(repo, "add", "redis", "metrics", "--commit")
    assert code == 0, out + err
    text = (repo / main).read_text()
    assert "close_redis" in text and "MetricsMiddleware" in text
    after = subprocess.run(ruff, cwd=repo / cwd, capture_output=True, text=True, check=False)
    assert after.returncode == 0, after.stdout + text
    if shape == "split_imports":
        # ours come after the statements the later imports wait for, marked like them
        assert text.index("from app.services.cache import close_redis  # noqa: E402") > text.index("no_proxy()")


# Shape seen in a public boilerplate: the factory returns the app from inside a block
# (here also early, for tests), so the statements go before the first statement that
# can return it and run on every path out of the factory.
RETURNS_IN_A_BLOCK = {
    **{k: v for k, v in FACTORY_APP.items() if not k.startswith("orders/web/api")},
    "orders/web/application.py": '''\
from fastapi import FastAPI

from orders.settings import settings
from orders.web.lifetime import lifespan_setup


def get_app(testing: bool = False) -> FastAPI:
    """Make the app."""
    application = FastAPI(title=settings.app_name, lifespan=lifespan_setup)
    if testing:
        return application
    if settings.app_name:
        application.state.ready = True
        return application
    raise RuntimeError("no name")
''',
}


def test_a_factory_that_returns_from_a_block_is_wired_on_every_path(
    tmp_path: Path, run, redis_url: str
) -> None:
    repo = init_repo(tmp_path / "orders", RETURNS_IN_A_BLOCK)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert "by hand" not in out + err
    application = (repo / "orders/web/application.py").read_text()
    assert ("    add_lifespan_hooks(application, shutdown=[close_redis])\n"
            "    if testing:\n") in application, application
    proc = run_check(repo, RUN_FACTORY_APP.replace("get_app()", "get_app(testing=True)"), redis_url)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


APP_MODULE = "from fastapi import FastAPI\n\napp = FastAPI()\n"


# Shapes seen in two public projects: a poetry wheel that names its package by a pattern
# and also ships files (`pyproject.toml` into the package); a library whose wheel ships
# only the library, with the app server beside it and its own Dockerfile.
@pytest.mark.parametrize("shape", ["poetry_pattern", "server_beside_the_library"])
def test_the_wheel_is_read_as_it_ships_the_app(tmp_path: Path, run, shape: str) -> None:
    if shape == "poetry_pattern":
        files = {
            "pyproject.toml": '[tool.poetry]\nname = "orders"\nversion = "0"\npackages = [\n'
                              '  { include = "orders/**/*" },\n'
                              '  { include = "pyproject.toml", to = "orders" },\n]\n\n'
                              '[tool.poetry.dependencies]\npython = "^3.11"\nfastapi = "*"\n',
            "orders/__init__.py": "", "orders/settings.py": SETTINGS, "orders/main.py": APP_MODULE,
        }
        services = "orders/services"
    else:
        files = {
            "pyproject.toml": '[project]\nname = "lib"\nversion = "0"\ndependencies = []\n\n'
                              '[tool.hatch.build.targets.wheel]\npackages = ["lib"]\n',
            "lib/__init__.py": "", "lib/errors.py": "class Failed(Exception):\n    pass\n",
            "server/requirements.txt": "fastapi\npydantic-settings\n",
            "server/Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["uvicorn", "main:app"]\n',
            "server/settings.py": SETTINGS,
            "server/main.py": "from fastapi import FastAPI\nfrom lib.errors import Failed\n\n"
                              "app = FastAPI()\napp.state.failed = Failed\n",
        }
        services = "server/services"
    repo = init_repo(tmp_path / "proj", files)
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert (repo / services / "cache.py").is_file()
    if shape == "server_beside_the_library":
        # the server is the project: its requirements, its own imports (run from server/)
        assert "redis" in (repo / "server/requirements.txt").read_text()
        assert "from services.cache import close_redis\n" in (repo / "server/main.py").read_text()


def test_an_app_made_in_an_if_block_is_the_one_the_dockerfile_runs(tmp_path: Path, run) -> None:
    # shape seen in a public assistant: `if debug: app = FastAPI(debug=True) else: ...`
    # in the module the production Dockerfile runs, and a small telemetry server with a
    # plain module-level app nearer the top of the repository
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "orders"\nversion = "0"\ndependencies = ["fastapi"]\n',
        "prod.Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["uvicorn", "orders.main:app"]\n',
        "telemetry/telemetry.py": APP_MODULE,
        "orders/__init__.py": "", "orders/settings.py": SETTINGS,
        "orders/main.py": "import os\n\nfrom fastapi import FastAPI\n\nif os.environ.get('DEBUG'):\n"
                          "    app = FastAPI(debug=True)\nelse:\n    app = FastAPI(docs_url=None)\n",
    })
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert "add_lifespan_hooks(app, shutdown=[close_redis])" in (repo / "orders/main.py").read_text()
    assert (repo / "telemetry/telemetry.py").read_text() == APP_MODULE


# Where projects without a [project] table list what they install, each seen in a
# public app: setup.py's install_requires (a RAG server), the `pip:` list of a conda
# environment the Dockerfile creates (a trading API), the requirements file the
# Dockerfile copies and installs beside a pyproject.toml for linters only (an NVR).
DEPENDENCY_SHAPES = {
    "setup.py": ("setup.py", {
        "setup.py": "from setuptools import find_packages, setup\n\nsetup(\n    name='orders',\n"
                    "    packages=find_packages(),\n    install_requires=[\n        'fastapi==0.115.0',\n"
                    "        'pydantic-settings',\n    ],\n    extras_require={'dev': ['pytest']},\n)\n",
    }),
    "conda": ("environment.yml", {
        "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
        "environment.yml": "name: orders\nchannels:\n  - conda-forge\ndependencies:\n  - python=3.12\n"
                           "  - fastapi\n  - pip\n  - pip:\n      - pydantic-settings\n      # telemetry\n"
                           "      - logfire\n",
        "Dockerfile": "FROM continuumio/miniconda3\nCOPY environment.yml .\n"
                      "RUN conda env create -f environment.yml\nCOPY . .\n"
                      'CMD ["uvicorn", "orders.main:app"]\n',
    }),
    "dockerfile": ("docker/main/requirements-wheels.txt", {
        "pyproject.toml": "[tool.ruff]\nline-length = 100\n",
        "docker/main/requirements.txt": "scikit-build == 0.18.*\n",
        "docker/main/requirements-wheels.txt": "fastapi == 0.115.*\npydantic-settings\nuvicorn == 0.30.*\n",
        "docker/main/Dockerfile": "FROM python:3.12-slim\nCOPY docker/main/requirements.txt /requirements.txt\n"
                                  "RUN pip install -r /requirements.txt\n"
                                  "COPY docker/main/requirements-wheels.txt /requirements-wheels.txt\n"
                                  "RUN pip wheel --wheel-dir=/wheels -r /requirements-wheels.txt\n"
                                  "COPY orders /opt/orders/orders\n"
                                  'CMD ["uvicorn", "orders.main:app"]\n',
    }),
}


@pytest.mark.parametrize("shape", sorted(DEPENDENCY_SHAPES))
def test_dependencies_go_where_the_project_lists_what_it_installs(tmp_path: Path, run, shape: str) -> None:
    listing, files = DEPENDENCY_SHAPES[shape]
    repo = init_repo(tmp_path / "proj", {
        **files, "orders/__init__.py": "", "orders/settings.py": SETTINGS, "orders/main.py": APP_MODULE})
    before = (repo / listing).read_text()
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert "were not added" not in out + err
    after = (repo / listing).read_text()
    assert after.startswith(before.split("pydantic-settings")[0]), after  # kept as it was, above
    if shape == "setup.py":
        import ast
        call = next(n for n in ast.walk(ast.parse(after)) if isinstance(n, ast.keyword) and n.arg == "install_requires")
        assert [e.value for e in call.value.elts] == [
            "fastapi==0.115.0", "pydantic-settings", REDIS_REQUIREMENT], after
        assert f"        '{REDIS_REQUIREMENT}',\n    ],\n" in after  # the file's quotes and layout
    elif shape == "conda":
        from ruamel.yaml import YAML
        pip = YAML(typ="safe").load(after)["dependencies"][-1]["pip"]
        assert pip == ["pydantic-settings", "logfire", REDIS_REQUIREMENT], after
    else:
        assert after == before + f"{REDIS_REQUIREMENT}\n"
        assert (repo / "docker/main/requirements.txt").read_text() == "scikit-build == 0.18.*\n"
    code, out, err = run(repo, "remove", "redis", "--commit")
    assert code == 0, out + err
    assert (repo / listing).read_text() == before


def test_a_project_without_a_ruff_configuration_follows_its_repositorys(tmp_path: Path, run) -> None:
    # shape seen in a public chat-app framework: backend/pyproject.toml is the project,
    # the ruff configuration sits in the repository's pyproject.toml above it
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": "[tool.ruff]\nline-length = 100\n\n[tool.ruff.format]\nquote-style = 'single'\n",
        "backend/pyproject.toml": '[project]\nname = "orders"\nversion = "0"\n'
                                  'dependencies = ["fastapi", "pydantic-settings"]\n',
        "backend/orders/__init__.py": "", "backend/orders/settings.py": SETTINGS,
        "backend/orders/main.py": APP_MODULE,
    })
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    cache = (repo / "backend/orders/services/cache.py").read_text()
    assert "ConnectionError('cut off')" in cache, cache  # the repository's quotes
    done = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "--no-cache",
                           "backend/orders/services/cache.py"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_settings_import_sorted_as_the_projects_sorter_classifies_it(tmp_path: Path, run) -> None:
    # shape seen in a public research agent: the app in backend/server/ puts backend/ on
    # sys.path and imports `server.*`; ruff, run from the repository with no
    # configuration, takes `server` for a third-party package, so the generated
    # modules' settings import goes into their third-party block, in order
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "agent"\nversion = "0"\ndependencies = ["fastapi"]\n',
        "Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["uvicorn", "main:app"]\n',
        "main.py": "from backend.server.app import app\n\n__all__ = ['app']\n",
        "backend/__init__.py": "", "backend/server/__init__.py": "",
        "backend/server/utils.py": "NAME = 'agent'\n",
        "backend/server/routes.py": "from server.utils import NAME\n\nROUTES = [NAME]\n",
        "backend/server/app.py": "import os\nimport sys\n\nfrom fastapi import FastAPI\n\n"
                                 "sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))\n\n"
                                 "from server.routes import ROUTES  # noqa: E402\n"
                                 "from server.utils import NAME  # noqa: E402\n\n"
                                 "app = FastAPI(title=NAME)\napp.state.routes = ROUTES\n",
    })
    code, out, err = run(repo, "add", "redis", "storage", "--commit")
    assert code == 0, out + err
    generated = sorted(str(p.relative_to(repo)) for p in (repo / "backend/server/services").glob("*.py"))
    cache = (repo / "backend/server/services/cache.py").read_text()
    assert "from redis.exceptions import RedisError\nfrom server.services.settings import settings\n\n" in cache
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "I",
                           *generated], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_app_a_registry_makes_is_the_modules_factory_not_a_load_test_server(tmp_path: Path, run) -> None:
    # shape seen in a public enterprise search app: compose runs `uvicorn orders.main:app`,
    # where `app = fetch_implementation("orders.main", "get_application")` picks the
    # edition's factory; a load-test mock server has its own Dockerfile nearer the top
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "orders"\nversion = "0"\ndependencies = ["fastapi"]\n',
        "loadtest/mock_llm/Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["uvicorn", "app:app"]\n',
        "loadtest/mock_llm/app.py": APP_MODULE,
        "deploy/docker-compose.yml": "services:\n  api:\n    build: ..\n"
                                     "    command: uvicorn orders.main:app --host 0.0.0.0\n",
        "orders/__init__.py": "", "orders/settings.py": SETTINGS,
        "orders/versions.py": "import importlib\n\n\ndef fetch_implementation(module: str, attribute: str):\n"
                              "    return getattr(importlib.import_module(module), attribute)\n",
        "orders/main.py": "from fastapi import FastAPI\n\nfrom orders.versions import fetch_implementation\n\n\n"
                          "def get_application() -> FastAPI:\n    application = FastAPI()\n"
                          "    return application\n\n\n"
                          'app = fetch_implementation(module="orders.main", attribute="get_application")\n',
    })
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    main = (repo / "orders/main.py").read_text()
    assert "    application = FastAPI(lifespan=lifespan)\n" in main and "    await close_redis()\n" in main
    assert (repo / "loadtest/mock_llm/app.py").read_text() == APP_MODULE


def test_docstrings_follow_a_project_that_selects_d213(tmp_path: Path, run) -> None:
    # seen in a public pipeline server: ruff selects D213 (the summary on the line after
    # the opening quotes) among other docstring rules
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "orders"\nversion = "0"\ndependencies = ["fastapi"]\n\n'
                          '[tool.ruff.lint]\nselect = ["E", "F", "I", "D205", "D209", "D213"]\n',
        "orders/__init__.py": "", "orders/settings.py": SETTINGS, "orders/main.py": APP_MODULE,
    })
    code, out, err = run(repo, "add", "redis", "storage", "metrics", "--commit")
    assert code == 0, out + err
    generated = [str(p.relative_to(repo)) for p in (repo / "orders/services").glob("*.py")]
    for args in (["check", "--select", "D213,D205,D209,I,E,F"], ["format", "--check"]):
        done = subprocess.run([sys.executable, "-m", "ruff", *args, "--no-cache", *generated],
                              cwd=repo, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
    assert '"""\nAsync Redis' in (repo / "orders/services/cache.py").read_text()


def test_a_name_a_factory_imports_inside_itself_gets_ours_under_an_alias(tmp_path: Path, run) -> None:
    # seen in a public agent server: the factory imports its own `setup_tracing` inside an
    # `if` block, which makes the name local to the whole function
    main = ("from fastapi import FastAPI\n\n\ndef create_application() -> FastAPI:\n"
            "    app = FastAPI()\n    if app.debug:\n        from orders.otel import setup_tracing\n\n"
            "        setup_tracing(endpoint='x')\n    return app\n")
    repo = init_repo(tmp_path / "proj", {
        "pyproject.toml": '[project]\nname = "orders"\nversion = "0"\ndependencies = ["fastapi"]\n',
        "orders/__init__.py": "", "orders/settings.py": SETTINGS, "orders/main.py": main,
        "orders/otel.py": "def setup_tracing(endpoint: str) -> None:\n    pass\n",
    })
    code, out, err = run(repo, "add", "metrics", "--commit")
    assert code == 0, out + err
    wired = (repo / "orders/main.py").read_text()
    assert "from orders.services.tracing import setup_tracing as paxx_setup_tracing\n" in wired, wired
    assert "    paxx_setup_tracing(app)\n" in wired
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--isolated", "--no-cache", "--select", "F,I",
                           "orders/main.py"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    assert run(repo, "remove", "metrics", "--commit")[0] == 0
    assert (repo / "orders/main.py").read_text() == main


# Shape seen in a public trading bot: its API server is an object whose __init__ makes
# `self.app = FastAPI(...)`, configures it and starts uvicorn in a thread; no module
# holds an app. The project's isort and ruff want two blank lines after the imports.
SERVER_OBJECT = {
    "pyproject.toml": '[project]\nname = "orders"\nversion = "0"\ndependencies = ["fastapi"]\n\n'
                      "[tool.ruff.lint]\nselect = [\"E\", \"F\", \"I\"]\n\n"
                      "[tool.ruff.lint.isort]\nlines-after-imports = 2\n",
    "orders/__init__.py": "", "orders/settings.py": SETTINGS,
    "orders/rpc/__init__.py": "",
    "orders/rpc/webserver.py": '''\
from fastapi import FastAPI


class ApiServer:
    def __init__(self, config: dict) -> None:
        self.config = config
        self.app = FastAPI(title="orders")
        self.configure_app(self.app)
        self.started = True

    def configure_app(self, app: FastAPI) -> None:
        app.state.config = self.config
''',
}

RUN_SERVER_OBJECT = r"""
import asyncio
from orders.services import cache
from orders.rpc.webserver import ApiServer

server = ApiServer({})

async def main():
    async with server.app.router.lifespan_context(server.app):
        await cache.cache_set("k", {"v": 1})
        assert len(cache._clients) == 1
    assert len(cache._clients) == 0, "close_redis did not run at shutdown"
    print("ok", flush=True)

asyncio.run(main())
"""


def test_an_app_a_method_makes_on_self_is_wired_there_and_runs(tmp_path: Path, run, redis_url: str) -> None:
    repo = init_repo(tmp_path / "proj", SERVER_OBJECT)
    code, out, err = run(repo, "add", "redis", "metrics", "--commit")
    assert code == 0, out + err
    assert "by hand" not in out + err
    server = (repo / "orders/rpc/webserver.py").read_text()
    assert ("        self.configure_app(self.app)\n\n        # redis\n"
            "        add_lifespan_hooks(self.app, shutdown=[close_redis])\n") in server, server
    assert "        self.app.add_middleware(MetricsMiddleware)\n" in server
    assert "        setup_tracing(self.app)\n" in server
    generated = [str(p.relative_to(repo)) for p in (repo / "orders/services").glob("*.py")]
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "orders/rpc/webserver.py",
                           *generated], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    proc = run_check(repo, RUN_SERVER_OBJECT, redis_url)
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr
    assert run(repo, "remove", "metrics", "redis", "--commit")[0] == 0
    assert (repo / "orders/rpc/webserver.py").read_text() == SERVER_OBJECT["orders/rpc/webserver.py"]


# An app whose own metrics are served by a router of another module of its package.
ROUTER_METRICS_APP = {
    "pyproject.toml": '[project]\nname = "shop"\nversion = "0.1.0"\ndependencies = ["fastapi", "pydantic-settings"]\n',
    "Dockerfile": 'FROM python:3.12-slim\nCOPY . .\nCMD ["uvicorn", "shop.main:app", "--host", "0.0.0.0"]\n',
    "shop/__init__.py": "",
    "shop/settings.py": SETTINGS,
    "shop/main.py": "from fastapi import FastAPI\n\nfrom shop.views import metrics\n\n"
                    "app = FastAPI()\napp.include_router(metrics.router)\n",
    "shop/views/__init__.py": "",
    "shop/views/metrics.py": 'from fastapi import APIRouter\n\nrouter = APIRouter()\n\n\n'
                             '@router.get("/metrics")\nasync def our_metrics() -> dict[str, int]:\n'
                             '    return {"orders": 3}\n',
}


def test_metrics_served_by_a_router_elsewhere_in_the_package_are_left_theirs(tmp_path: Path, run) -> None:
    repo = init_repo(tmp_path / "shop", ROUTER_METRICS_APP)
    code, out, err = run(repo, "add", "metrics", "--commit", "--no-lock")
    assert code == 0, out + err
    main = (repo / "shop" / "main.py").read_text()
    assert 'app.add_route("/paxx/metrics", metrics_endpoint, include_in_schema=False)' in main, main
    assert 'add_route("/metrics"' not in main
    assert ('shop/views/metrics.py:6 already serves /metrics (`@router.get("/metrics")`), so '
            "metrics's endpoint is at /paxx/metrics") in out, out


def test_an_app_that_instruments_fastapi_itself_is_told_of_the_second_tracer(tmp_path: Path, run) -> None:
    files = dict(ROUTER_METRICS_APP)
    files["shop/telemetry.py"] = ("from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor\n\n\n"
                                  "def instrument(app):\n    FastAPIInstrumentor.instrument_app(app)\n")
    repo = init_repo(tmp_path / "shop", files)
    code, out, err = run(repo, "add", "metrics", "--commit", "--no-lock")
    assert code == 0, out + err
    assert ("metrics: shop/telemetry.py:1 has `FastAPIInstrumentor`: the app instruments FastAPI with "
            "OpenTelemetry itself, and setup_tracing(app) adds a second server span") in out, out
    # without it, no such warning
    plain = init_repo(tmp_path / "plain", ROUTER_METRICS_APP)
    code, out, err = run(plain, "add", "metrics", "--commit", "--no-lock")
    assert code == 0 and "FastAPIInstrumentor" not in out + err
