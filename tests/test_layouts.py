"""Real-world project layouts: paxx-patch fits each one's conventions or refuses clearly.

Each test commits a fixture project from tests/fixtures/<name>/ and runs
`add redis storage metrics --commit`. A layout that fits goes through
`assert_fits` (see tests/layout_checks.py): every changed file parses, the
settings read the new variables, compose still validates, verify passes and
remove gives back the original tree. One that does not fit must exit 2 with a
message naming what to set in [tool.paxx-patch], leaving the repository as it was.
"""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.conftest import REDIS_REQUIREMENT, git

pytest.register_assert_rewrite("tests.layout_checks")

from tests.layout_checks import (
    COMPONENTS,
    Fit,
    assert_fits,
    load_yaml12,
    project_repo,
    read_lock,
)
from tests.test_bad_input import assert_refused

PLAIN = "from settings import settings", "settings"


def refused(run, state, repo: Path, *argv: str, expect: str) -> str:
    err = assert_refused(run, state, repo, "add", *COMPONENTS, "--commit", *argv, expect=expect)
    assert "[tool.paxx-patch]" in err, err
    return err


def added_dependencies(project: Path) -> dict[str, list[str]]:
    """file -> requirements the add recorded, read from the lock of the last add."""
    lock = read_lock(project)
    out: dict[str, list[str]] = {}
    for component in lock["components"].values():
        entry = component.get("dependencies")
        if entry:
            out.setdefault(entry["file"], []).extend(entry["added"])
    return out


def fits(repo: Path, run, fit: Fit) -> tuple[str, dict]:
    """assert_fits, then the lock the add wrote."""
    out, _ = assert_fits(repo, run, fit)
    return out, read_lock(repo / fit.project)


# 1. monorepo ---------------------------------------------------------------

def test_app_in_a_monorepo_subdirectory(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "monorepo")
    fit = Fit("from app.config import settings", "settings", {"REDIS_URL": "redis_url"},
              project="backend", app="app.main:app")
    _, lock = fits(repo, run, fit)
    # the compose file at the repository root, the service that builds ./backend
    compose = lock["components"]["redis"]["compose"]
    assert compose["file"] == "../docker-compose.yml" and compose["app_service"] == "backend"
    assert lock["components"]["redis"]["dependencies"]["file"] == "pyproject.toml"
    assert lock["components"]["metrics"]["wiring"]["file"] == "app/main.py"


def test_workspace_root_picks_the_member_that_holds_the_app(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "monorepo")
    fit = Fit("from app.config import settings", "settings", {"REDIS_URL": "redis_url"},
              project="backend", app="app.main:app", found_project=True,
              notes=("the project is backend/",))
    out, _ = assert_fits(repo, run, fit)
    assert "use --project to pick another directory" in out
    assert (repo / "backend" / "paxx-patch.lock").is_file()


def test_workspace_root_without_the_app_in_a_member_is_refused(tmp_path: Path, run, state) -> None:
    def no_app(repo: Path) -> None:
        shutil.rmtree(repo / "backend" / "app")

    repo = project_repo(tmp_path, "monorepo", transform=no_app)
    err = refused(run, state, repo, expect="--project")
    assert "backend" in err and "workspace" in err


def test_src_layout_package_named_like_the_project(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "src_layout")
    fit = Fit("from shop_api.config import settings", "settings", {"REDIS_URL": "redis_url"},
              app="shop_api.main:app", pythonpath="src")
    _, lock = fits(repo, run, fit)
    assert "src/shop_api/services/cache.py" in lock["components"]["redis"]["files"]
    main = (repo / "src" / "shop_api" / "main.py").read_text()
    assert "from shop_api.services.metrics import MetricsMiddleware, metrics_endpoint\n" in main


# 2. settings shapes --------------------------------------------------------

def test_nested_settings_module_upper_case_fields_and_get_settings(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "settings_nested")
    fit = Fit("from app.core.config import get_settings", "get_settings()",
              {"REDIS_URL": "REDIS_URL", "STORAGE_S3_SECRET_KEY": "STORAGE_S3_SECRET_KEY"},
              app="app.main:app", deletions={"app/core/config.py": 1})
    _, lock = fits(repo, run, fit)
    # inside the app's package, which is what its image and wheel ship
    assert "app/services/cache.py" in lock["components"]["redis"]["files"]
    cache = (repo / "app" / "services" / "cache.py").read_text()
    assert "config = get_settings()" in cache and "config.REDIS_URL" in cache
    assert "config.STORAGE_BACKEND" in (repo / "app" / "services" / "storage.py").read_text()
    text = (repo / "app" / "core" / "config.py").read_text()
    # after the last field, before the computed field and the properties
    assert text.index('POSTGRES_DB: str = "app"') < text.index("# redis") < text.index("@computed_field")
    assert "METRICS_ENABLED: bool = True" in text
    # SecretStr joins the module's `from pydantic import`, in isort's order
    assert "from pydantic import SecretStr, computed_field, field_validator\n" in text


def test_env_prefix_and_model_config_at_the_end(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "env_prefix")
    fit = Fit("from config import settings", "settings",
              {"SHOP_REDIS_URL": "redis_url", "SHOP_METRICS_ENABLED": "metrics_enabled"},
              app="main:app")
    assert_fits(repo, run, fit)
    assert "\nSHOP_REDIS_URL=redis://localhost:6379/0" in (repo / ".env.example").read_text()
    compose = (repo / "docker-compose.yml").read_text()
    assert "      - SHOP_REDIS_URL=redis://redis:6379/0\n" in compose
    config = (repo / "config.py").read_text()
    assert config.index("redis_url: str") < config.index("model_config")


def test_case_sensitive_settings_keep_the_exact_names(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "case_sensitive")
    fit = Fit(*PLAIN, {"App_redis_url": "redis_url", "App_storage_backend": "storage_backend"},
              app="main:app")
    assert_fits(repo, run, fit)
    assert "\nApp_redis_url=" in (repo / ".env.example").read_text()
    assert "      App_redis_url: redis://redis:6379/0\n" in (repo / "compose.yaml").read_text()


def test_multiple_inheritance_fields_go_on_the_instantiated_class(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "multi_inheritance")
    # AppConfig(DatabaseConfig, ServerConfig) is what `config = AppConfig()` builds: it
    # gets the fields, in its bases' UPPER style, read with ServerConfig's prefix
    fit = Fit("from settings import config as settings", "settings", {"API_REDIS_URL": "REDIS_URL"},
              app="main:app")
    _, lock = fits(repo, run, fit)
    assert lock["components"]["redis"]["settings"]["class"] == "AppConfig"
    text = (repo / "settings.py").read_text()
    assert text.index("class AppConfig") < text.index("REDIS_URL: str") < text.index("class TestConfig")
    # inherited from ServerConfig: not added again
    assert lock["components"]["metrics"]["settings"]["fields"] == [
        "METRICS_ENABLED", "METRICS_EXCLUDED_PATHS", "METRICS_LATENCY_BUCKETS",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXCLUDED_URLS",
    ]
    assert "\nAPI_REDIS_URL=" in (repo / ".env.example").read_text()


def test_pydantic_v1_settings_read_the_prefix_of_their_inner_config(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "pydantic_v1")
    # the one-line dependency array gains the items on its line, and SecretStr joins
    # the v1 import (pydantic 2's SecretStr is not a v1 field type)
    fit = Fit(*PLAIN, {"LEGACY_REDIS_URL": "redis_url", "LEGACY_METRICS_ENABLED": "metrics_enabled"},
              app="main:app", deletions={"pyproject.toml": 1, "settings.py": 1})
    _, lock = fits(repo, run, fit)
    assert lock["components"]["redis"]["settings"]["class"] == "Settings"
    assert "\nLEGACY_REDIS_URL=" in (repo / ".env.example").read_text()
    assert "from pydantic.v1 import BaseSettings, SecretStr\n" in (repo / "settings.py").read_text()


def attribute_base(repo: Path) -> None:
    """`import pydantic.v1 as pydantic` / `class Settings(pydantic.BaseSettings)`."""
    path = repo / "settings.py"
    text = path.read_text().replace("from pydantic.v1 import BaseSettings", "import pydantic.v1 as pydantic")
    path.write_text(text.replace("(BaseSettings)", "(pydantic.BaseSettings)"))


def test_pydantic_v1_attribute_base(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "pydantic_v1", transform=attribute_base)
    assert_fits(repo, run, Fit(*PLAIN, {"LEGACY_REDIS_URL": "redis_url"}, app="main:app",
                               deletions={"pyproject.toml": 1}))


# 3. dependencies ------------------------------------------------------------

def test_poetry_inline_tables_mixed_case_and_groups(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_poetry")
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    added = added_dependencies(repo)["pyproject.toml"]
    # Redis in the dev group does not install it for the app; AIOFiles is aiofiles
    assert REDIS_REQUIREMENT in added and not any(d.startswith("aiofiles") for d in added)
    data = tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["poetry"]
    assert data["dependencies"]["redis"] == REDIS_REQUIREMENT.removeprefix("redis")
    assert data["dependencies"]["aioboto3"] == ">=13.0"
    assert (repo / ".env.example").is_file()


def test_pep621_array_with_comments(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_pep621_comments")
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app")
    assert_fits(repo, run, fit)
    added = added_dependencies(repo)["pyproject.toml"]
    assert not any(d.startswith(("redis", "aiofiles")) for d in added), added
    assert "aioboto3>=13.0" in added
    deps = tomllib.loads((repo / "pyproject.toml").read_text())["project"]["dependencies"]
    # the last item has no comma: the new ones go in front of it, so no line changes
    assert deps[:4] == ["fastapi>=0.110", "pydantic-settings>=2.0", "redis[hiredis]>=5", "aioboto3>=13.0"]
    assert deps[-1] == "AIOFiles>=23"
    text = (repo / "pyproject.toml").read_text()
    assert '    "prometheus-client>=0.19",\n    # storage\n    "AIOFiles>=23"  # local backend' in text
    assert '    # "celery>=5",  (not yet)\n]' in text


def test_dynamic_dependencies_from_a_requirements_file(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_dynamic")
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    added = added_dependencies(repo)
    assert list(added) == ["requirements/base.txt"]
    assert not any(d.startswith("redis") for d in added["requirements/base.txt"])  # Redis>=4


def test_requirements_txt_beside_a_pyproject_without_dependencies(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_requirements_only")
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    added = added_dependencies(repo)
    assert list(added) == ["requirements.txt"]
    assert not any(d.startswith("redis") for d in added["requirements.txt"])  # redis[hiredis]


def test_pip_compiled_requirements_get_their_source_edited(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_generated_in")
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app",
              notes=("requirements.txt is generated",))
    out, _ = assert_fits(repo, run, fit)
    assert "requirements.in" in out
    assert list(added_dependencies(repo)) == ["requirements.in"]


def test_uv_exported_requirements_leave_pyproject_to_be_edited(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "deps_generated_uv")
    # documented: a one-line array gains the new items on its line
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app", deletions={"pyproject.toml": 1},
              notes=("requirements.txt is generated",))
    assert_fits(repo, run, fit)
    assert list(added_dependencies(repo)) == ["pyproject.toml"]


def test_generated_requirements_without_an_editable_source_are_refused(tmp_path: Path, run, state) -> None:
    repo = project_repo(tmp_path, "deps_generated_refused")
    err = refused(run, state, repo, expect="requirements.txt")
    assert "generated" in err and "setup.py" in err and "dependency_file" in err


# 4. compose ----------------------------------------------------------------

@pytest.mark.parametrize("name", ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"])
def test_every_compose_file_name(tmp_path: Path, run, name: str) -> None:
    repo = project_repo(tmp_path, "compose_names", rename={"compose.yaml": name})
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))


def test_base_and_override_files_add_to_the_base(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "compose_override")
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app", notes=("compose.override.yaml",))
    _, lock = fits(repo, run, fit)
    assert lock["components"]["redis"]["compose"]["file"] == "compose.yaml"
    assert lock["components"]["redis"]["compose"]["app_service"] == "api"


def test_compose_with_extensions_anchors_profiles_and_comments(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "compose_extensions")
    _, lock = fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    # two services build the app (through the `<<: *app` merge); the one running uvicorn serves it
    assert lock["components"]["redis"]["compose"]["app_service"] == "api"
    text = (repo / "docker-compose.yml").read_text()
    assert "#  flower:\n#    image: mher/flower\n#    profiles: [debug]\n" in text
    # the app is only on the `backend` network, so the new services join it
    services = load_yaml12(text.encode())["services"]
    assert all(services[s]["networks"] == ["backend"] for s in ("redis", "minio", "minio-init", "jaeger"))


def test_restart_no_stays_as_written(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "compose_restart_no")
    # Debian's docker-compose reads YAML 1.1 (`no` is false) and rejects the file before
    # and after; the YAML 1.2 comparison in assert_fits stands in for it
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app", compose_ok_before=False)
    assert_fits(repo, run, fit)
    assert (repo / "docker-compose.yaml").read_text().count("    restart: no\n") == 2


def test_a_service_running_the_same_image_is_reused(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "compose_reuse")
    # the short-form depends_on becomes the long form to carry conditions (documented)
    fit = Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app", deletions={"docker-compose.yml": 1},
              notes=("'cache'",))
    _, lock = fits(repo, run, fit)
    compose = lock["components"]["redis"]["compose"]
    assert compose["services"] == [] and compose["reused"] == {"redis": "cache"}
    assert compose["volumes"] == []  # redis_data was for the redis service only
    storage = lock["components"]["storage"]["compose"]
    assert storage["services"] == ["minio-init"] and storage["reused"] == {"minio": "s3"}
    services = load_yaml12((repo / "docker-compose.yml").read_bytes())["services"]
    assert set(services) == {"web", "cache", "s3", "minio-init", "jaeger"}
    assert services["web"]["environment"]["REDIS_URL"] == "redis://cache:6379/0"
    assert services["web"]["environment"]["STORAGE_S3_ENDPOINT_URL"] == "http://s3:9000"
    # the reused services have no healthcheck: waiting for "healthy" would never end
    assert services["web"]["depends_on"]["s3"] == {"condition": "service_started"}
    assert services["minio-init"]["depends_on"] == {"s3": {"condition": "service_started"}}
    assert "http://s3:9000" in services["minio-init"]["command"][0]


# 5. the app module -----------------------------------------------------------

def test_app_built_by_a_factory_behind_a_main_shim(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "app_factory")
    fit = Fit("from app.settings import settings", "settings", {"REDIS_URL": "redis_url"}, app="main:app")
    _, lock = fits(repo, run, fit)
    assert lock["components"]["metrics"]["wiring"]["file"] == "app/factory.py"
    text = (repo / "app" / "factory.py").read_text()
    assert text.index("app.add_middleware(GZipMiddleware)") < text.index("app.add_middleware(MetricsMiddleware)")
    # in a factory the component's lines go just before `return app`
    assert text.index("setup_tracing(app)") < text.index("    return app")


def test_app_made_by_a_fastapi_subclass_with_its_own_lifespan_method(tmp_path: Path, run) -> None:
    # the app is `shop_api = ShopAPI()`, re-exported by the package; the class passes
    # its own @asynccontextmanager method as the lifespan (a new `lifespan=` argument
    # would have replaced it)
    repo = project_repo(tmp_path, "app_subclass")
    fit = Fit("from shopapi.config import settings", "settings", {"REDIS_URL": "redis_url"},
              app="shopapi.apps:app")
    _, lock = fits(repo, run, fit)
    assert lock["components"]["metrics"]["wiring"]["file"] == "shopapi/apps/web.py"
    text = (repo / "shopapi" / "apps" / "web.py").read_text()
    assert "lifespan=" not in text.split("class ShopAPI")[1].split("def __init__")[0]
    assert "shop_api: ShopAPI = ShopAPI()\n\n# metrics\nshop_api.add_middleware(MetricsMiddleware)" in text
    shutdown = text.split("        yield\n")[1].split("\n\n")[0]
    assert shutdown.splitlines() == [
        "        self.state.open = False",
        "        await close_redis()",
        "        await close_storage()",
        "        await shutdown_tracing()",
    ]


def test_module_level_app_with_on_event_handlers(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "app_on_event")
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    text = (repo / "main.py").read_text()
    assert text.index("TrustedHostMiddleware, allowed_hosts") < text.index("MetricsMiddleware)")
    assert text.index("setup_tracing(app)") < text.index('@app.on_event("startup")')


# 6. env files and line ends --------------------------------------------------

def test_env_template_is_edited_and_env_never_touched(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "env_template")
    env = (repo / ".env").read_bytes()
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app"))
    assert (repo / ".env").read_bytes() == env
    assert "\nREDIS_URL=" in (repo / ".env.template").read_text()
    assert not (repo / ".env.example").exists()
    assert git(repo, "log", "--format=%s", "--", ".env") == "initial\n"



def test_without_an_example_the_development_env_file_gets_the_variables(tmp_path: Path, run) -> None:
    # Shape seen in insistence/RuoYi-Vue3-FastAPI: no env example, one committed env
    # file per environment beside the app
    repo = project_repo(tmp_path, "env_template")
    git(repo, "rm", "-q", ".env.template")
    (repo / ".env.prod").write_text("APP_ENV=prod\n")
    (repo / ".env.dev").write_text("APP_ENV=dev\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "env files per environment")
    code, out, err = run(repo, "add", "redis", "--commit")
    assert code == 0, out + err
    assert "\nREDIS_URL=" in (repo / ".env.dev").read_text()
    assert (repo / ".env.prod").read_text() == "APP_ENV=prod\n"
    assert not (repo / ".env.example").exists()


BOM_FILES = ("settings.py", "main.py", "pyproject.toml", "docker-compose.yml", ".env.example")


def crlf_and_bom(repo: Path) -> None:
    for path in repo.rglob("*"):
        if path.is_file():
            text = path.read_text().replace("\n", "\r\n")
            path.write_bytes(("\ufeff" if path.name in BOM_FILES else "").encode() + text.encode())


def test_crlf_line_ends_and_bom_are_kept(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "app_on_event", transform=crlf_and_bom)
    base = git(repo, "rev-parse", "HEAD").strip()
    # SecretStr goes above the first line of settings.py, so the BOM moves up with it
    assert_fits(repo, run, Fit(*PLAIN, {"REDIS_URL": "redis_url"}, app="main:app",
                               deletions={"settings.py": 1}))
    changed = git(repo, "diff", "--name-only", base, "HEAD").split()
    for name in BOM_FILES:
        assert name in changed
        data = (repo / name).read_bytes()
        assert data.startswith("\ufeff".encode()), name
        assert b"\n" not in data.replace(b"\r\n", b""), name


# 7. shapes of public projects: settings, app and files found wherever they are ----

def test_settings_class_per_environment_gets_the_fields_on_the_common_base(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "settings_per_environment")
    # get_app_settings() picks DevAppSettings or ProdAppSettings by APP_ENV: the fields go
    # on AppSettings, the nearest base both share, in another module than the factory
    fit = Fit("from app.core.config import get_app_settings as get_settings", "get_settings()",
              {"REDIS_URL": "redis_url"}, app="app.main:app")
    _, lock = fits(repo, run, fit)
    settings = lock["components"]["redis"]["settings"]
    assert (settings["file"], settings["class"]) == ("app/core/settings/app.py", "AppSettings")
    # inside the package the Dockerfile copies (`COPY app ./app`), wired in the factory
    assert "app/services/cache.py" in lock["components"]["redis"]["files"]
    main = (repo / "app" / "main.py").read_text()
    assert main.index("application.add_middleware(MetricsMiddleware)") < main.index("    return application")


def test_config_object_made_by_a_factory_and_an_app_named_by_uvicorn_run(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "config_object")
    fit = Fit("from core.config import config as settings", "settings",
              {"REDIS_URL": "REDIS_URL"}, app="app.server:app",
              notes=("docker/docker-compose.yml",))
    _, lock = fits(repo, run, fit)
    assert lock["components"]["redis"]["settings"]["class"] == "Config"
    # the compose file of the repository is in docker/: used, not a new one at the top
    assert lock["components"]["redis"]["compose"]["file"] == "docker/docker-compose.yml"
    assert not (repo / "docker-compose.yml").exists()
    # `uvicorn.run("app.server:app")` in main.py names the app; create_app() makes it
    assert lock["components"]["metrics"]["wiring"]["file"] == "app/server.py"
    assert "    app_.add_middleware(MetricsMiddleware)\n" in (repo / "app" / "server.py").read_text()


def test_env_example_named_for_docker_beside_the_compose_file_in_deploy(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "env_docker")
    _, lock = fits(repo, run, Fit("from app.config import settings", "settings",
                                  {"REDIS_URL": "redis_url"}, app="app.main:app"))
    assert lock["components"]["redis"]["env"]["file"] == "deploy/.env.docker"
    assert lock["components"]["redis"]["compose"]["file"] == "deploy/docker-compose.yml"
    assert not (repo / ".env.example").exists() and not (repo / "docker-compose.yml").exists()
    assert "\nREDIS_URL=" in (repo / "deploy" / ".env.docker").read_text()


def only_a_committed_dotenv(repo: Path) -> None:
    (repo / "deploy" / ".env.docker").rename(repo / ".env")
    compose = repo / "deploy" / "docker-compose.yml"
    compose.write_text(compose.read_text().replace("env_file: .env.docker", "env_file: ../.env"))


def test_a_committed_dotenv_is_never_edited_nor_joined_by_an_example(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "env_docker", transform=only_a_committed_dotenv)
    env = (repo / ".env").read_bytes()
    _, lock = fits(repo, run, Fit("from app.config import settings", "settings",
                                    {"REDIS_URL": "redis_url"}, app="app.main:app",
                                    notes=("never edits", "    REDIS_URL=redis://localhost:6379/0")))
    assert (repo / ".env").read_bytes() == env
    assert not list(repo.rglob(".env.example"))
    assert "env" not in lock["components"]["redis"]


def flat_image(repo: Path) -> None:
    """A flat project whose image copies its two modules by name."""
    (repo / "Dockerfile").write_text(
        "FROM python:3.12-slim\nWORKDIR /app\nCOPY main.py settings.py ./\n"
        'CMD ["uvicorn", "main:app"]\n'
    )


def test_services_the_image_would_not_copy_are_refused(tmp_path: Path, run, state) -> None:
    repo = project_repo(tmp_path, "app_on_event", transform=flat_image)
    err = refused(run, state, repo, expect="Dockerfile:3")
    assert "not services/" in err and "COPY services/" in err


def test_detect_shows_each_convention_with_file_line_and_rule(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "config_object")
    code, out, err = run(repo, "detect", "--json")
    assert code == 0, err
    found = {c["convention"]: c for c in json.loads(out)["conventions"]}
    assert (found["settings class"]["file"], found["settings class"]["line"]) == ("core/config.py", 6)
    assert found["settings object"]["value"] == "config"
    assert found["settings object"]["line"] == 34
    assert found["app"]["file"] == "app/server.py"
    assert "uvicorn" in found["app"]["rule"] and "main.py:6" in found["app"]["rule"]
    assert found["compose file"]["value"] == "docker/docker-compose.yml"
    code, text, _ = run(repo, "detect")
    assert code == 0 and "rule: " in text and "core/config.py:6" in text


def settings_object_configured(repo: Path) -> None:
    with (repo / "pyproject.toml").open("a") as f:
        f.write('\n[tool.paxx-patch]\nsettings_object = "core.config:get_config"\n')


def test_settings_object_names_the_factory_to_call(tmp_path: Path, run) -> None:
    repo = project_repo(tmp_path, "config_object", transform=settings_object_configured)
    fit = Fit("from core.config import get_config as get_settings", "get_settings()",
              {"REDIS_URL": "REDIS_URL"}, app="app.server:app")
    _, lock = fits(repo, run, fit)
    assert lock["components"]["redis"]["settings"]["class"] == "Config"
    cache = (repo / "core" / "services" / "cache.py").read_text()
    assert "config = get_settings()" in cache and "config.REDIS_URL" in cache
