"""The generated services/tasks.py: a real ARQ worker process and a real redis-server."""

from __future__ import annotations

import asyncio
import importlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from generated_projects import FACTORY_STYLE, Project, RenderComponent

_queues = itertools.count()

JOBS = '''\
from typing import Any


async def add(ctx: dict[str, Any], a: int, b: int) -> int:
    return a + b


async def stamp(ctx: dict[str, Any]) -> None:
    await ctx["redis"].incr("cron-ran")
'''

CRON_WORKER = '''\
from arq import cron

from jobs import stamp
from {package}.tasks import worker_settings

WorkerSettings = worker_settings(
    cron_jobs=[cron(stamp, second=set(range(60)), run_at_startup=True)],
)
'''


BUSY_WORKER = '''\
from {package}.tasks import worker_settings

WorkerSettings = worker_settings()
WorkerSettings.poll_delay = 0.001  # polling all the time: a signal finds it on the wire
'''


def _environment(redis_url: str) -> dict[str, str]:
    """A queue of its own per test: the redis-server is shared by the session."""
    return {"REDIS_URL": redis_url, "TASKS_QUEUE_NAME": f"test:queue:{next(_queues)}",
            "TASKS_FUNCTIONS": "jobs:add"}


@contextmanager
def worker(project: Project, settings: str) -> Iterator[subprocess.Popen[str]]:
    """`arq SETTINGS` as a process in the project, as compose runs it; stopped by pid."""
    env = {**os.environ, "PYTHONPATH": str(project.root), "PYTHONDONTWRITEBYTECODE": "1"}
    arq = Path(sys.executable).with_name("arq")
    process = subprocess.Popen([str(arq), settings], cwd=project.root, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _render(
    render_component: RenderComponent, redis_url: str, env: dict[str, str] | None = None,
    **kwargs: object,
) -> Project:
    environment = {**_environment(redis_url), **(env or {})}
    project = render_component("tasks", environment, **kwargs)  # type: ignore[arg-type]
    (project.root / "jobs.py").write_text(JOBS, encoding="utf-8")
    return project


@pytest.mark.parametrize("style", [None, FACTORY_STYLE], ids=["module", "factory"])
def test_a_worker_process_runs_jobs_the_app_enqueues(
    render_component: RenderComponent, redis_url: str, style: object
) -> None:
    project = _render(render_component, redis_url, **({"style": style} if style else {}))
    package = project.style.services_package
    tasks = project.module("tasks")

    async def scenario() -> tuple[str, int]:
        hello = await tasks.enqueue("say_hello", "world")
        total = await tasks.enqueue("add", 2, b=40)
        assert hello is not None and total is not None
        results = (await hello.result(timeout=30), await total.result(timeout=30))
        await tasks.close_tasks()
        return results

    with worker(project, f"{package}.tasks.WorkerSettings") as process:
        results = asyncio.run(scenario())
        check = subprocess.run(
            [str(Path(sys.executable).with_name("arq")), "--check", f"{package}.tasks.WorkerSettings"],
            cwd=project.root, env={**os.environ, "PYTHONPATH": str(project.root)},
            capture_output=True, text=True, timeout=60,
        )
        assert process.poll() is None
    output = process.stdout.read() if process.stdout else ""
    assert results == ("Hello, world!", 42), output
    # the compose healthcheck: the worker records that it is alive
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_job_id_already_queued_is_not_queued_twice(
    render_component: RenderComponent, redis_url: str
) -> None:
    tasks = _render(render_component, redis_url).module("tasks")

    async def scenario() -> None:
        assert await tasks.enqueue("say_hello", "a", _job_id="only-once") is not None
        assert await tasks.enqueue("say_hello", "a", _job_id="only-once") is None
        await (await tasks.get_tasks_pool()).delete("arq:job:only-once")
        await tasks.close_tasks()

    asyncio.run(scenario())


def test_concurrent_first_calls_share_one_bounded_pool(
    render_component: RenderComponent, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    tasks = _render(render_component, redis_url, {"REDIS_MAX_CONNECTIONS": "4"}).module("tasks")
    queue = os.environ["TASKS_QUEUE_NAME"]
    server = redis.Redis.from_url(redis_url)

    def clients() -> int:
        """Connections the redis-server has open, as it counts them."""
        return len(server.client_list())

    async def scenario() -> None:
        before = clients()
        pools = await asyncio.gather(*(tasks.get_tasks_pool() for _ in range(200)))
        jobs = await asyncio.gather(*(tasks.enqueue("say_hello", str(i)) for i in range(200)))
        assert len({id(p) for p in pools}) == 1 and len(tasks._pools) == 1
        assert len({job.job_id for job in jobs}) == 200
        # 200 callers at once waited for the pool's 4 connections instead of opening more
        assert 1 <= clients() - before <= 4
        pool = pools[0]
        assert await pool.zcard(queue) == 200
        await pool.delete(queue)
        await tasks.close_tasks()
        assert not tasks._pools
        assert clients() == before  # closed, not left to the garbage collector
        await tasks.close_tasks()  # a second close is harmless

    asyncio.run(scenario())
    asyncio.run(scenario())  # a new event loop gets a pool of its own
    server.close()


def test_worker_settings_come_from_the_settings_when_first_read(
    render_component: RenderComponent, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"TASKS_MAX_JOBS": "3", "TASKS_JOB_TIMEOUT": "7"}
    project = _render(render_component, redis_url, env, style=FACTORY_STYLE)
    tasks = project.module("tasks")
    assert "WorkerSettings" not in vars(tasks)  # nothing read on import
    settings = tasks.WorkerSettings
    assert settings is tasks.WorkerSettings
    own = vars(settings)  # what ARQ reads
    assert own["max_jobs"] == 3 and own["job_timeout"] == 7
    assert own["queue_name"] == os.environ["TASKS_QUEUE_NAME"]
    assert [f.__name__ for f in own["functions"]] == ["say_hello", "add"]
    assert own["redis_settings"].port == int(redis_url.rsplit(":", 1)[1].split("/")[0])
    with pytest.raises(AttributeError):
        tasks.NoSuchThing  # noqa: B018
    monkeypatch.setenv("TASKS_FUNCTIONS", "jobs:nothing_here")
    importlib.import_module("app.core.config").get_settings.cache_clear()
    with pytest.raises(ValueError, match="TASKS_FUNCTIONS: 'jobs:nothing_here' is not a function"):
        tasks.worker_settings()


def test_cron_jobs_of_the_users_own_worker_module(
    render_component: RenderComponent, redis_url: str
) -> None:
    project = _render(render_component, redis_url)
    package = project.style.services_package
    (project.root / "cron_worker.py").write_text(CRON_WORKER.format(package=package))
    import redis

    client = redis.Redis.from_url(redis_url)
    client.delete("cron-ran")
    with worker(project, "cron_worker.WorkerSettings") as process:
        deadline = time.monotonic() + 30
        while int(client.get("cron-ran") or 0) < 2:
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stdout.read() if process.stdout else "")
            time.sleep(0.2)
    client.delete("cron-ran")
    client.close()


def test_a_worker_told_to_stop_stops_whatever_it_was_sending(
    render_component: RenderComponent, redis_url: str
) -> None:
    """SIGTERM (`docker compose stop`) ends the worker in every one of these rounds.

    With the worker's commands sent through asyncio.wait_for (Python 3.11), ARQ's
    cancel of its main loop was lost in most rounds and the worker polled on.
    """
    import redis

    project = _render(render_component, redis_url)
    package = project.style.services_package
    (project.root / "busy_worker.py").write_text(BUSY_WORKER.format(package=package))
    client = redis.Redis.from_url(redis_url)
    health = os.environ["TASKS_QUEUE_NAME"] + ":health-check"
    try:
        for attempt in range(5):
            client.delete(health)
            with worker(project, "busy_worker.WorkerSettings") as process:
                deadline = time.monotonic() + 30
                while not client.exists(health):  # written by the worker's poll loop
                    assert process.poll() is None and time.monotonic() < deadline
                    time.sleep(0.05)
                time.sleep(0.1 + attempt / 20)
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pytest.fail(f"round {attempt}: the worker ignored SIGTERM")
                assert process.returncode == 0, process.stdout.read() if process.stdout else ""
    finally:
        client.close()
