"""The generated services/celery_app.py: real Celery worker processes on a real
redis-server, tasks queued from an event loop, queues taken by priority, and a task
whose worker is killed with SIGKILL run again on the next worker."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis
from generated_projects import Project, RenderComponent

# each test its own Redis databases: a worker never takes another test's messages
_databases = itertools.count(1)

JOBS = '''\
import os
import time

import redis

from services.celery_app import celery_app


def _redis() -> redis.Redis:
    return redis.Redis.from_url(os.environ["CELERY_RESULT_BACKEND"])


@celery_app.task
def add(a: int, b: int) -> int:
    return a + b


@celery_app.task
def fails() -> None:
    raise ValueError("the task failed")


@celery_app.task
def record(queue: str, n: int) -> None:
    _redis().rpush("ran", f"{queue}:{n}")


@celery_app.task
def interrupted(key: str) -> str:
    attempt = _redis().incr(key)
    if attempt == 1:
        time.sleep(120)  # the worker is killed meanwhile
    return f"attempt {attempt}"
'''


def _render(render_component: RenderComponent, redis_url: str, **env: str) -> Project:
    base = redis_url.rsplit("/", 1)[0]
    broker, results = next(_databases), next(_databases)
    environment = {"REDIS_URL": redis_url, "CELERY_BROKER_URL": f"{base}/{broker}",
                   "CELERY_RESULT_BACKEND": f"{base}/{results}", "CELERY_TASK_MODULES": "jobs",
                   "CELERY_TASK_ROUTES": "jobs.add:email, jobs.f*:analytics", **env}
    project = render_component(["redis", "celery"], environment)
    (project.root / "jobs.py").write_text(JOBS, encoding="utf-8")
    sys.modules.pop("jobs", None)
    return project


@contextmanager
def worker(project: Project, concurrency: int = 2) -> Iterator[subprocess.Popen[str]]:
    """The compose service's command, as a process group of its own; stopped by pid."""
    env = {**os.environ, "PYTHONPATH": str(project.root), "PYTHONDONTWRITEBYTECODE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "services.celery_app:celery_app", "worker",
         "--loglevel=info", f"--concurrency={concurrency}", "--without-mingle", "--without-gossip"],
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _results_redis() -> Any:
    return redis.Redis.from_url(os.environ["CELERY_RESULT_BACKEND"], decode_responses=True)


def test_tasks_queued_from_the_event_loop_run_on_a_worker_without_blocking_it(
    render_component: RenderComponent, redis_url: str
) -> None:
    project = _render(render_component, redis_url)
    module = project.module("celery_app")
    import jobs

    async def scenario() -> tuple[list[Any], float, float]:
        results = await asyncio.gather(*(module.enqueue(jobs.add, n, 1) for n in range(200)))
        hello = await module.enqueue(f"{project.style.services_package}.say_hello", "world")
        async with asyncio.timeout(60):
            values = [await module.wait_for(r) for r in [*results, hello]]
        failed = await module.enqueue(jobs.fails)
        with pytest.raises(ValueError, match="the task failed"):
            async with asyncio.timeout(30):
                await module.wait_for(failed)
        # the broker stops answering for a second: the send waits, the loop does not
        lag = 0.0
        ticking = True

        async def ticker() -> None:
            nonlocal lag
            while ticking:
                before = time.monotonic()
                await asyncio.sleep(0.005)
                lag = max(lag, time.monotonic() - before - 0.005)

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).client_pause(1000)
        started = time.monotonic()
        late = await module.enqueue(jobs.add, 20, 22)
        took = time.monotonic() - started
        ticking = False
        await tick
        async with asyncio.timeout(30):
            values.append(await module.wait_for(late))
        await module.close_celery()
        return values, lag, took

    with worker(project) as process:
        values, lag, took = asyncio.run(scenario())
    output = process.stdout.read() if process.stdout else ""
    assert values == [n + 1 for n in range(200)] + ["Hello, world!", 42], output
    assert took > 0.9 and lag < 0.5, (took, lag)
    # the tasks' routes
    router = module.celery_app.amqp.router
    assert [router.route({}, name)["queue"].name for name in ("jobs.add", "jobs.fails", "jobs.record")] == [
        "email", "analytics", "default"]


def test_a_worker_takes_the_queues_by_priority(render_component: RenderComponent, redis_url: str) -> None:
    project = _render(render_component, redis_url)
    module = project.module("celery_app")
    import jobs

    # queued before any worker runs: the low-priority ones first
    order = [("cleanup", 1), ("default", 0), ("analytics", 2), ("email", 3), ("reports", 5)]

    async def queue_all() -> None:
        for queue, _ in order:
            for n in range(3):
                await module.enqueue(jobs.record, queue, n, queue=queue)

    asyncio.run(queue_all())
    assert module.queue_priorities("email:3,reports:5,analytics:2,cleanup:1", "default") == [
        "reports", "email", "analytics", "cleanup", "default"]
    with worker(project, concurrency=1) as process:
        deadline = time.monotonic() + 60
        while _results_redis().llen("ran") < 15:
            assert time.monotonic() < deadline and process.poll() is None, "the tasks did not run"
            time.sleep(0.1)
    ran = [entry.split(":")[0] for entry in _results_redis().lrange("ran", 0, -1)]
    assert ran == [q for q in ("reports", "email", "analytics", "cleanup", "default") for _ in range(3)]


def test_a_task_whose_worker_is_killed_runs_again_on_the_next_worker(
    render_component: RenderComponent, redis_url: str
) -> None:
    project = _render(render_component, redis_url, CELERY_VISIBILITY_TIMEOUT="2")
    module = project.module("celery_app")
    import jobs

    result = asyncio.run(module.enqueue(jobs.interrupted, "attempts"))
    with worker(project, concurrency=1) as first:
        deadline = time.monotonic() + 60
        while _results_redis().get("attempts") != "1":
            assert time.monotonic() < deadline and first.poll() is None, "the task did not start"
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)  # the worker and its pool, mid-task
        first.wait(timeout=10)
    with worker(project, concurrency=1) as second:

        async def finished() -> Any:
            try:
                async with asyncio.timeout(60):
                    return await module.wait_for(result)
            except TimeoutError:
                return None

        value = asyncio.run(finished())
        assert second.poll() is None
    logged = second.stdout.read() if second.stdout else ""
    assert value == "attempt 2", logged[-2000:]
    assert _results_redis().get("attempts") == "2"
