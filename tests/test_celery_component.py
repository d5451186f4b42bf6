"""The celery component in a repository: it brings redis, a worker from the app's own
build, Flower behind a profile, the app's shutdown closes it, `show` tells it from
tasks, and removing it gives the tree back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.test_tasks_component import (
    _compose,
    add_after_redis,
    remove_leaves_redis_alone,
)


def test_add_celery_brings_a_worker_and_flower_and_remove_gives_back_the_tree(tmp_path: Path, run) -> None:
    repo, mutators = add_after_redis(tmp_path, run, "celery")
    assert mutators == ["files", "compose", "dependencies", "settings", "wiring", "lock"]
    services = _compose(repo)["services"]
    worker = services["celery-worker"]
    assert worker["build"] == {"context": ".", "dockerfile": "docker/Dockerfile"}
    assert worker["command"] == ["celery", "-A", "services.celery_app:celery_app", "worker", "--loglevel=info"]
    assert worker["environment"] == {"REDIS_URL": "redis://redis:6379/0",
                                     "CELERY_BROKER_URL": "redis://redis:6379/1",
                                     "CELERY_RESULT_BACKEND": "redis://redis:6379/2"}
    assert worker["depends_on"] == {"redis": {"condition": "service_healthy"}}
    flower = services["flower"]
    assert flower["profiles"] == ["tools"] and flower["ports"] == ["127.0.0.1:5555:5555"]
    # the app waits for redis, not for the worker or Flower
    assert services["api"]["depends_on"] == {"redis": {"condition": "service_healthy"}}
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "await close_celery()" in (repo / "main.py").read_text()
    pyproject = (repo / "pyproject.toml").read_text()
    assert "celery>=" in pyproject and "kombu[redis]>=" in pyproject
    settings = (repo / "settings.py").read_text()
    assert "celery_queues: str = 'email:3,reports:5,analytics:2,cleanup:1'" in settings or (
        'celery_queues: str = "email:3,reports:5,analytics:2,cleanup:1"' in settings)
    assert run(repo, "verify")[0] == 0

    # tasks beside it: both installed, each `show` says how it differs from the other
    assert run(repo, "add", "tasks", "--commit")[0] == 0
    shown = {r["name"]: r["description"] for r in json.loads(run(repo, "list", "--json")[1])}
    assert "ARQ" in shown["celery"] and "Celery" in shown["tasks"]
    assert run(repo, "remove", "tasks", "--commit")[0] == 0

    remove_leaves_redis_alone(tmp_path, run, repo, "celery")
