"""Startup/shutdown hooks composed into the app's lifespan by the wiring mutator."""

from __future__ import annotations

import importlib
import runpy
from pathlib import Path

import pytest

from paxx_patch.bundle import Bundle, Wiring, load_bundle_dir
from paxx_patch.manifest import ComponentRecord
from paxx_patch.mutators.wiring import WiringMutator
from paxx_patch.runtime.errors import PaxxError
from tests.mutators.test_wiring import fresh_modules, make_ctx, write_bundle

FIXTURES = Path(__file__).parent / "fixtures_lifespan"
HOOKS = """
[wiring]
startup = ["{{ services_package }}.cache:open_redis"]
shutdown = ["{{ services_package }}.cache:close_redis"]
"""
# lifespans edited in place, and those the hooks are composed around (defined in
# another module, built by a call, reached through an attribute, sync or startup-only
# handlers): `add_lifespan_hooks(app, ...)` after the app is made
COMPOSED = [
    "attribute_lifespan", "call_lifespan", "imported_lifespan", "lifespan_factory", "made_by_call",
    "startup_only",
    "sync_handler",
]
WIRED = sorted(p.name for p in FIXTURES.iterdir() if p.name not in COMPOSED)


def bundle_with(tmp_path: Path, wiring: str = HOOKS, name: str = "metrics") -> Bundle:
    directory = write_bundle(tmp_path / name)
    if name != "metrics":
        directory = directory.rename(directory.parent / name)
    (directory / "bundle.toml").write_text(
        f'name = "{name}"\nversion = "1.0.0"\ndescription = "{name}"\n' + wiring
    )
    return load_bundle_dir(directory)


def add(bundle: Bundle, source: bytes, app_name: str = "app") -> tuple[bytes, dict[str, object], list[str]]:
    ctx = make_ctx(bundle, app_name=app_name)
    new = WiringMutator().apply("main.py", source, ctx)
    assert new is not None
    return new, ctx.entries, ctx.notes


def remove(bundle: Bundle, source: bytes, entries: dict[str, object]) -> bytes:
    record = ComponentRecord(name=bundle.name, version="1.0.0", entries=dict(entries))  # type: ignore[arg-type]
    new = WiringMutator().apply("main.py", source, make_ctx(bundle, removing=record))
    assert new is not None
    return new


def test_bundle_schema(tmp_path: Path) -> None:
    assert bundle_with(tmp_path).wiring == Wiring(
        startup=("{{ services_package }}.cache:open_redis",),
        shutdown=("{{ services_package }}.cache:close_redis",),
    )
    with pytest.raises(PaxxError, match=r"bundle\.toml: key `wiring\.shutdown`"):
        bundle_with(tmp_path / "bad", '[wiring]\nshutdown = ["close redis"]\n')


@pytest.mark.parametrize("case", WIRED)
def test_hooks_go_into_the_lifespan(tmp_path: Path, case: str) -> None:
    bundle = bundle_with(tmp_path)
    before = (FIXTURES / case / "before").read_bytes()
    new, entries, notes = add(bundle, before, "create_app" if case == "factory" else "app")
    assert new.decode() == (FIXTURES / case / "after").read_text()
    assert notes == []
    assert entries["wiring"] == {
        "file": "main.py",
        "imports": ["from services.cache import close_redis, open_redis"],
        "lines": ["await open_redis()", "await close_redis()"],
    }
    assert remove(bundle, new, entries) == before


@pytest.mark.parametrize("case", WIRED)
def test_hooks_already_there_are_not_added_again(tmp_path: Path, case: str) -> None:
    after = (FIXTURES / case / "after").read_bytes()
    new, entries, notes = add(bundle_with(tmp_path), after, "create_app" if case == "factory" else "app")
    assert new == after
    assert "wiring" not in entries and notes == []


@pytest.mark.parametrize("case", COMPOSED)
def test_hooks_are_composed_around_a_lifespan_it_cannot_edit(tmp_path: Path, case: str) -> None:
    bundle = bundle_with(tmp_path)
    before = (FIXTURES / case / "before").read_bytes()
    new, entries, notes = add(bundle, before)
    assert new.decode() == (FIXTURES / case / "after").read_text()
    assert notes == []
    assert entries["wiring"] == {
        "file": "main.py",
        "imports": [
            "from services.cache import close_redis, open_redis",
            "from services.lifespan_hooks import add_lifespan_hooks",
        ],
        "lines": [(f"add_lifespan_hooks({'application' if case == 'lifespan_factory' else 'app'}, "
                   "startup=[open_redis], shutdown=[close_redis])")],
    }
    assert add(bundle, new)[0] == new
    assert remove(bundle, new, entries) == before


def test_components_share_a_created_lifespan_and_leave_it_one_by_one(tmp_path: Path) -> None:
    redis = bundle_with(tmp_path, '[wiring]\nshutdown = ["{{ services_package }}.cache:close_redis"]\n', "redis")
    storage = bundle_with(tmp_path, '[wiring]\nshutdown = ["{{ services_package }}.storage:close_storage"]\n', "storage")
    before = (FIXTURES / "multiline_call" / "before").read_bytes()
    with_redis, redis_entries, _ = add(redis, before)
    both, storage_entries, _ = add(storage, with_redis)
    assert both.count(b"async def lifespan") == 1
    assert b"    yield\n    await close_redis()\n    await close_storage()\n" in both
    assert both.count(b"lifespan=lifespan") == 1

    only_storage = remove(redis, both, redis_entries)
    assert b"close_redis" not in only_storage
    assert b"    yield\n    await close_storage()\n" in only_storage
    assert b"from contextlib import asynccontextmanager" in only_storage
    assert remove(storage, only_storage, storage_entries) == before


def test_a_lifespan_made_by_an_earlier_release_is_taken_out_on_remove(tmp_path: Path) -> None:
    # 0.1 named the created lifespan's parameter `app` (ruff's ARG001 objects to it,
    # so it is `_app` now); removing the last hook still takes the whole lifespan out
    bundle = bundle_with(tmp_path)
    before = (FIXTURES / "multiline_call" / "before").read_bytes()
    new, entries, _ = add(bundle, before)
    assert b"async def lifespan(_app: FastAPI) -> AsyncIterator[None]:" in new
    older = new.replace(b"lifespan(_app: FastAPI)", b"lifespan(app: FastAPI)")
    assert remove(bundle, older, entries) == before


def test_a_user_lifespan_that_only_yields_is_kept_on_remove(tmp_path: Path) -> None:
    bundle = bundle_with(tmp_path)
    before = (FIXTURES / "existing" / "before").read_bytes()
    new, entries, _ = add(bundle, before)
    assert remove(bundle, new, entries) == before  # its comments make it the user's


STUB_CACHE = '''
events: list[str] = []


async def open_redis() -> None:
    events.append("open")


async def close_redis() -> None:
    events.append("close")
'''


@pytest.mark.filterwarnings("ignore:\\s*on_event is deprecated:DeprecationWarning")
@pytest.mark.parametrize("case", ["existing", "multiline_call", "on_event", "try_finally"])
def test_the_wired_app_runs_the_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    from fastapi.testclient import TestClient

    source = (FIXTURES / case / "after").read_text()
    source = source.replace("from settings import settings\n", "").replace("settings.app_name", '"demo"')
    source = source.replace("from db import engine\n", "from services.db import engine\n")
    source = "\n".join(line for line in source.splitlines() if "# noqa: F821" not in line) + "\n"
    (tmp_path / "wired_main.py").write_text(source)
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "__init__.py").write_text("")
    (tmp_path / "services" / "cache.py").write_text(STUB_CACHE)
    (tmp_path / "services" / "db.py").write_text(
        "from services.cache import events\n\n\nclass Engine:\n"
        "    async def connect(self) -> None:\n        events.append('db up')\n\n"
        "    async def dispose(self) -> None:\n        events.append('db down')\n\n\nengine = Engine()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with fresh_modules("services", "wired_main"):
        app = importlib.import_module("wired_main").app
        events = importlib.import_module("services.cache").events
        with TestClient(app):
            assert "close" not in events
            started = list(events)
    assert started[-1] == "open" and events[-1] == "close"
    assert events.count("open") == events.count("close") == 1
    if case == "try_finally":
        assert events == ["db up", "open", "db down", "close"]



ATTRIBUTES_ONLY = b'''import contextlib
import typing

from fastapi import FastAPI


def session() -> typing.AsyncIterator[int]:
    raise NotImplementedError


managed = contextlib.asynccontextmanager(session)
app = FastAPI()
'''


def test_a_created_lifespan_imports_what_the_module_names_only_as_attributes(tmp_path: Path) -> None:
    """`contextlib.asynccontextmanager` and `typing.AsyncIterator` bind neither name: the
    new lifespan gets its imports, and the module runs (it raised NameError before)."""
    new, _, _ = add(bundle_with(tmp_path), ATTRIBUTES_ONLY)
    assert b"from contextlib import asynccontextmanager\n" in new
    assert b"from collections.abc import AsyncIterator\n" in new
    # the hooks' module is not there: the lifespan is only defined, not run
    module = tmp_path / "wired_main.py"
    module.write_bytes(new.replace(b"from services.cache import close_redis, open_redis\n", b""))
    assert callable(runpy.run_path(str(module))["lifespan"])


def test_an_import_the_module_makes_in_a_try_block_is_not_made_again(tmp_path: Path) -> None:
    source = ATTRIBUTES_ONLY.replace(
        b"import typing\n",
        b"import typing\n\ntry:\n    from contextlib import asynccontextmanager\nexcept ImportError:\n"
        b"    asynccontextmanager = None\n",
    )
    new, _, _ = add(bundle_with(tmp_path), source)
    assert new.count(b"from contextlib import asynccontextmanager") == 1
    assert b"from collections.abc import AsyncIterator\n" in new
