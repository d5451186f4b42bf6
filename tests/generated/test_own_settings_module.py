"""The generated modules reading the components' own settings module, against real services.

The project reads its configuration from os.environ and has no BaseSettings class, so
`paxx-patch add` gives the components `app/services/settings.py`; the cache and the
storage modules import their settings from there and work against a real
redis-server and on disk, configured by the same environment variables.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from generated_projects import BUNDLES_DIR, forget_project_modules, load_bundle_dir

APP = (
    "import os\n\nfrom fastapi import FastAPI\n\n"
    'app = FastAPI(debug=os.environ.get("DEBUG") == "1")\n'
)


@pytest.fixture
def own_settings_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    from paxx_patch.commands.add import add
    from paxx_patch.commands.common import Run
    from paxx_patch.plan.engine import Kind, Output

    forget_project_modules()
    for name in ("redis", "storage"):
        for s in load_bundle_dir(BUNDLES_DIR / name).settings:
            monkeypatch.delenv(s.env_key, raising=False)
    root = tmp_path / "project"
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").touch()
    (root / "app" / "main.py").write_text(APP)
    (root / "requirements.txt").write_text("fastapi>=0.110\n")
    for args in (("init", "-q", "--template="), ("add", "-A"),
                 ("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", "app")):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)
    subprocess.run(["git", "config", "user.name", "T"], cwd=root, check=True)
    subprocess.run(["git", "config", "user.email", "t@example.com"], cwd=root, check=True)
    monkeypatch.chdir(root)  # a .env there is read too, as in the project's own runs
    add(["redis", "storage"], Run(Output(Kind.COMMIT), cwd=root, refresh_lock=False))
    monkeypatch.syspath_prepend(str(root))
    yield root
    forget_project_modules()


def test_cache_and_storage_read_the_components_own_settings(
    own_settings_project: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    root = own_settings_project
    assert "pydantic-settings>=2.0" in (root / "requirements.txt").read_text()
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", "own:")
    # one variable from .env, as pydantic-settings reads it
    (root / ".env").write_text(f"STORAGE_LOCAL_PATH={root / 'uploads'}\nUNRELATED=1\n")
    own = importlib.import_module("app.services.settings")
    assert type(own.settings).__name__ == "ServicesSettings"
    assert own.settings.redis_key_prefix == "own:"
    cache = importlib.import_module("app.services.cache")
    storage = importlib.import_module("app.services.storage")

    async def scenario() -> None:
        await cache.cache_set("user:1", {"name": "Ada"}, expire=30)
        assert await cache.cache_get("user:1") == {"name": "Ada"}
        assert await (await cache.get_redis()).exists("own:user:1") == 1
        assert await cache.cache_delete("user:1") is True
        await cache.close_redis()
        backend = storage.get_storage()
        await backend.upload("notes/a.txt", b"hello")
        assert await backend.download("notes/a.txt") == b"hello"
        assert await backend.exists("notes/a.txt")
        await backend.delete("notes/a.txt")
        await storage.close_storage()

    asyncio.run(scenario())
    assert (root / "uploads" / "notes").is_dir()
