"""The websocket component in a repository: it brings redis, the app service gets its
Redis URL, the wired app serves the room route with its lifespan, and removing it gives
the tree back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git, init_repo
from tests.test_tasks_component import (
    PROJECT,
    _compose,
    add_after_redis,
    remove_leaves_redis_alone,
)

WIRED_ROOM_CHECK = r"""
from fastapi.testclient import TestClient

from main import app  # wired by paxx-patch: setup_websocket(app), close_websockets()

with TestClient(app) as client:  # the lifespan runs, and at the end its shutdown
    with client.websocket_connect("/ws/lobby") as one, client.websocket_connect("/ws/lobby") as two:
        welcome = one.receive_json()
        assert welcome["type"] == "welcome" and welcome["room"] == "lobby", welcome
        assert two.receive_json()["type"] == "welcome"
        one.send_text('{"hello": "room"}')
        expected = {"type": "message", "room": "lobby", "from": welcome["id"], "data": {"hello": "room"}}
        assert one.receive_json() == expected and two.receive_json() == expected
print("ok", flush=True)
"""


def test_add_websocket_brings_redis_and_remove_gives_back_the_tree(tmp_path: Path, run) -> None:
    repo, mutators = add_after_redis(tmp_path, run, "websocket")
    # no services of its own, but the app service's environment: a compose commit
    assert mutators == ["files", "compose", "dependencies", "settings", "wiring", "lock"]
    api = _compose(repo)["services"]["api"]
    assert api["environment"]["WS_REDIS_URL"] == "redis://redis:6379/0"
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    main = (repo / "main.py").read_text()
    assert "setup_websocket(app)" in main and "await close_websockets()" in main
    pyproject = (repo / "pyproject.toml").read_text()
    assert "websockets>=" in pyproject and "redis>=" in pyproject
    settings = (repo / "settings.py").read_text()
    assert "ws_heartbeat_interval: float = 20.0" in settings and "ws_redis_url: str = " in settings
    assert run(repo, "verify")[0] == 0

    code, out, err = run(repo, "remove", "redis", "--commit")
    assert code == 2 and "websocket is installed and requires redis" in err, out + err
    remove_leaves_redis_alone(tmp_path, run, repo, "websocket")


def test_the_wired_sample_app_serves_rooms_with_its_lifespan(sample_repo: Path, run, redis_url: str) -> None:
    code, out, err = run(sample_repo, "add", "websocket", "--commit")
    assert code == 0, out + err
    env = {**os.environ, "REDIS_URL": redis_url, "WS_REDIS_URL": redis_url,
           "WS_CHANNEL_PREFIX": f"sample{os.getpid()}:", "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run([sys.executable, "-c", WIRED_ROOM_CHECK], cwd=sample_repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr


def test_a_bundle_with_only_app_environment_edits_an_existing_compose_file_and_creates_none(
    tmp_path: Path, run
) -> None:
    bundle = tmp_path / "bundles" / "flags"
    (bundle / "templates").mkdir(parents=True)
    (bundle / "bundle.toml").write_text(
        'name = "flags"\nversion = "1.0.0"\ndescription = "d"\n\n'
        '[[settings]]\nname = "flags_url"\ntype = "str"\ndefault = "http://localhost:9"\n'
        'description = "d"\n\n[app_environment]\nFLAGS_URL = "http://flags:9"\n')
    with_compose = init_repo(tmp_path / "with", PROJECT)
    code, _, err = run(with_compose, "add", "flags", "--commit", "--bundle-path", str(tmp_path / "bundles"))
    assert code == 0, err
    assert _compose(with_compose)["services"]["api"]["environment"] == {"FLAGS_URL": "http://flags:9"}
    assert run(with_compose, "remove", "flags", "--commit", "--bundle-path", str(tmp_path / "bundles"))[0] == 0
    assert "environment" not in _compose(with_compose)["services"]["api"]

    files = {k: v for k, v in PROJECT.items() if k != "docker-compose.yml"}
    without = init_repo(tmp_path / "without", files)
    code, _, err = run(without, "add", "flags", "--commit", "--bundle-path", str(tmp_path / "bundles"))
    assert code == 0, err
    assert not (without / "docker-compose.yml").exists()
    assert "compose" not in git(without, "log", "--format=%s")
