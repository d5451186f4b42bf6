"""Metrics across components: with metrics installed, before or after them, the cache,
database, storage, websocket and task modules record their own metrics on /metrics;
without it they do not import prometheus_client at all. Real redis-server, PostgreSQL,
moto's S3, an ARQ worker and a Celery worker."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PostgresServer
from generated_projects import (
    BUNDLES_DIR,
    RenderComponent,
    S3Server,
    load_bundle_dir,
    render_project,
)
from prometheus_client.parser import text_string_to_metric_families

# A scripted workload in a process of its own: 1 set, 3 hits, 2 misses, 1 delete, then
# 4 selects, 1 create and 2 inserts inside one session, and /metrics at the end.
WORKLOAD = textwrap.dedent(
    """
    import asyncio

    from sqlalchemy import text

    from services import cache, db
    from services.metrics import metrics_endpoint

    async def main() -> None:
        await cache.cache_set("present", {"n": 1})
        for _ in range(3):
            assert await cache.cache_get("present") == {"n": 1}
        for _ in range(2):
            assert await cache.cache_get("absent") is None
        assert await cache.cache_delete("present")
        async with db.get_sessionmaker()() as session:
            for _ in range(4):
                await session.execute(text("select 1"))
            await session.execute(text("create temporary table t (x int)"))
            await session.execute(text("insert into t values (1)"))
            await session.execute(text("INSERT into t values (2)"))
            print("in use:", db.POOL_IN_USE._value.get())
        await cache.close_redis()
        await db.close_db()

    asyncio.run(main())
    print(metrics_endpoint(None).body.decode())
    """
)
WATCHED = ("cache_operations_total", "cache_operation_duration_seconds_count",
           "db_query_duration_seconds_count", "db_pool_connections_in_use", "db_pool_size")


def run_workload(root: Path, redis_url: str, server: PostgresServer) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    env = {**os.environ, "PYTHONPATH": str(root), "REDIS_URL": redis_url,
           "REDIS_KEY_PREFIX": f"{root.name}:", "DATABASE_URL": server.url(),
           "DATABASE_PASSWORD": server.password}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run([sys.executable, "-c", WORKLOAD], cwd=root, env=env,
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    in_use, _, text = done.stdout.partition("\n")
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
        if s.name in WATCHED
    }
    return values, in_use


def test_cache_and_db_metrics_whichever_order_the_components_came(
    tmp_path: Path, redis_url: str, postgres_server: PostgresServer
) -> None:
    orders = {"after": ["redis", "postgres", "metrics"], "before": ["metrics", "redis", "postgres"],
              "together": ["redis", "metrics", "postgres"]}
    projects = {
        name: render_project(tmp_path / name, names, one_by_one=name != "together").root
        for name, names in orders.items()
    }
    for module in ("services/cache.py", "services/db.py", "services/metrics.py"):
        texts = {name: (root / module).read_text() for name, root in projects.items()}
        assert len(set(texts.values())) == 1, module
    results = {name: run_workload(root, redis_url, postgres_server) for name, root in projects.items()}
    values, in_use = results["after"]
    assert all(r == (values, in_use) for r in results.values())
    assert in_use == "in use: 1.0"

    def value(name: str, **labels: str) -> float:
        return values.get((name, tuple(sorted(labels.items()))), 0.0)

    hits = value("cache_operations_total", operation="get", result="hit")
    misses = value("cache_operations_total", operation="get", result="miss")
    assert (hits, misses) == (3, 2)
    assert hits / (hits + misses) == pytest.approx(0.6)
    assert value("cache_operations_total", operation="set", result="ok") == 1
    assert value("cache_operations_total", operation="delete", result="ok") == 1
    assert value("cache_operation_duration_seconds_count", operation="get") == 5
    # the dialect's own first-connect queries count as well: at least the workload's
    assert value("db_query_duration_seconds_count", operation="select") >= 4
    assert value("db_query_duration_seconds_count", operation="insert") == 2
    assert value("db_query_duration_seconds_count", operation="other") >= 1
    assert value("db_pool_connections_in_use") == 0  # all checked in again
    assert value("db_pool_size") == 0  # the engine was disposed of
    # bounded labels: operations and results only, never a key or a statement
    labels = {k for (_, ls) in values for k, _ in ls}
    assert labels <= {"operation", "result"}


def test_without_metrics_the_modules_import_no_prometheus_client(tmp_path: Path) -> None:
    modules = ["cache", "db", "storage", "websocket", "tasks", "celery_app"]
    root = render_project(tmp_path / "plain", ["redis", "postgres", "storage", "websocket", "tasks", "celery"]).root
    for module in modules:
        assert "prometheus" not in (root / "services" / f"{module}.py").read_text()
    env = {**os.environ, "PYTHONPATH": str(root)}
    imports = "".join(f"import services.{m}\n" for m in modules)
    check = f"import sys\n{imports}assert 'prometheus_client' not in sys.modules, 'imported'"
    done = subprocess.run([sys.executable, "-c", check], cwd=root, env=env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True,
                          text=True).stdout


def test_an_edited_cache_module_keeps_the_edit_as_metrics_come_and_go(tmp_path: Path) -> None:
    """Adding metrics renders the installed redis again over its pristine file, three-way:
    the user's edit stays; removing metrics takes the metrics code out, the edit still there."""
    from paxx_patch.commands.add import add
    from paxx_patch.commands.common import Run
    from paxx_patch.commands.update import remove
    from paxx_patch.plan.engine import Kind, Output

    root = render_project(tmp_path / "edited", ["redis"]).root
    cache = root / "services" / "cache.py"
    plain = cache.read_text()
    edited = plain.replace("_PUBSUB_POLL_SECONDS = 1.0", "_PUBSUB_POLL_SECONDS = 2.5")
    assert edited != plain
    cache.write_text(edited)
    _git(root, "commit", "-qam", "poll less often")

    assert add(["metrics"], Run(Output(Kind.COMMIT), cwd=root)) == 0
    with_metrics = render_project(tmp_path / "pristine", ["redis", "metrics"]).root
    pristine = (with_metrics / "services" / "cache.py").read_text()
    assert cache.read_text() == pristine.replace("_PUBSUB_POLL_SECONDS = 1.0", "_PUBSUB_POLL_SECONDS = 2.5")
    lock = (root / "paxx-patch.lock").read_text()
    recorded = _git(with_metrics, "hash-object", "services/cache.py").strip()
    assert f'"services/cache.py" = "{recorded}"' in lock  # the new pristine, not the edit
    assert _git(root, "status", "--porcelain") == ""
    subjects = _git(root, "log", "--format=%s", "-2").splitlines()
    version = load_bundle_dir(BUNDLES_DIR / "redis").version
    assert subjects == [f"paxx(redis): record redis {version} in paxx-patch.lock",
                        "paxx(redis): update services/cache.py"]

    assert remove(["metrics"], Run(Output(Kind.COMMIT), cwd=root)) == 0
    assert cache.read_text() == edited
    assert _git(root, "status", "--porcelain") == ""


# Storage, websocket, ARQ and Celery in one process of its own, in multiprocess mode
# beside a real Celery worker; /metrics (which sums both) is printed at the end.
OTHERS_WORKLOAD = textwrap.dedent(
    """
    import asyncio
    import contextlib
    import io

    from arq.worker import create_worker
    from fastapi import FastAPI
    from prometheus_client.parser import text_string_to_metric_families
    from starlette.testclient import TestClient

    from services import celery_app, storage, tasks, websocket
    from services.metrics import metrics_endpoint

    async def files() -> None:
        backend = storage.get_storage()
        await backend.upload("a/one.txt", b"hello")
        await backend.upload("a/two.txt", io.BytesIO(b"0123456789"))
        assert await backend.download("a/one.txt") == b"hello"
        chunks = [c async for c in backend.stream("a/two.txt", chunk_size=4)]
        assert b"".join(chunks) == b"0123456789"
        assert not await backend.exists("a/none.txt")
        with contextlib.suppress(FileNotFoundError):
            await backend.download("a/none.txt")
            raise AssertionError("downloaded a missing key")
        await backend.delete("a/one.txt")

    async def jobs() -> None:
        for name in ("world", "there"):
            assert await tasks.enqueue("say_hello", name) is not None
        assert await tasks.enqueue("fail") is not None
        worker = create_worker(tasks.WorkerSettings, burst=True, poll_delay=0.05)
        await worker.main()
        await worker.close()
        await tasks.close_tasks()
        sent = await celery_app.enqueue(celery_app.say_hello, "world")
        async with asyncio.timeout(30):
            assert await celery_app.wait_for(sent) == "Hello, world!"

    async def lifespan(app):
        yield
        await websocket.close_websockets()

    app = FastAPI(lifespan=lifespan)
    websocket.setup_websocket(app)
    with TestClient(app) as client, client.websocket_connect("/ws/lobby") as ws:
        assert ws.receive_json()["type"] == "welcome"
        ws.send_text("hi")
        assert ws.receive_json()["data"] == "hi"

    asyncio.run(files())
    asyncio.run(jobs())

    def finished(text):
        return any(s.name == "celery_tasks_finished_total"
                   for f in text_string_to_metric_families(text) for s in f.samples)

    async def scrape():
        # the worker counts a task once its result is stored: wait for that count
        async with asyncio.timeout(10):
            while not finished(text := metrics_endpoint(None).body.decode()):
                await asyncio.sleep(0.05)
        return text

    print(asyncio.run(scrape()))
    """
)
OTHERS_WATCHED = ("storage_operations_total", "storage_operation_duration_seconds_count", "storage_bytes_total",
                  "websocket_connections", "websocket_messages_total", "websocket_dropped_total",
                  "tasks_enqueued_total", "tasks_started_total", "tasks_finished_total",
                  "tasks_duration_seconds_count", "celery_tasks_published_total", "celery_tasks_started_total",
                  "celery_tasks_finished_total", "celery_task_duration_seconds_count")
FAILING_JOB = "async def fail(ctx):\n    raise RuntimeError('on purpose')\n"


def run_others(root: Path, redis_url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    import redis

    base = redis_url.rsplit("/", 1)[0]
    for database in (13, 14, 15):
        redis.Redis.from_url(f"{base}/{database}").flushdb()
    (root / "jobs.py").write_text(FAILING_JOB, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1",
           "REDIS_URL": f"{base}/13", "REDIS_KEY_PREFIX": f"{root.name}:", "WS_REDIS_URL": f"{base}/13",
           "WS_CHANNEL_PREFIX": f"{root.name}:", "STORAGE_LOCAL_PATH": str(root / "uploads"),
           "TASKS_FUNCTIONS": "jobs:fail", "CELERY_BROKER_URL": f"{base}/14",
           "CELERY_RESULT_BACKEND": f"{base}/15", "PROMETHEUS_MULTIPROC_DIR": str(root / "prometheus")}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "services.celery_app:celery_app", "worker", "--loglevel=warning",
         "--concurrency=2", "--without-mingle", "--without-gossip"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        done = subprocess.run([sys.executable, "-c", OTHERS_WORKLOAD], cwd=root, env=env,
                              capture_output=True, text=True, check=False, timeout=120)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert done.returncode == 0, done.stderr + output
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(done.stdout) for s in family.samples
        if s.name in OTHERS_WATCHED
    }


def test_storage_websocket_and_task_metrics_whichever_order_the_components_came(
    tmp_path: Path, redis_url: str
) -> None:
    names = ["redis", "storage", "websocket", "tasks", "celery"]
    orders = {"after": [*names, "metrics"], "before": ["metrics", *names]}
    projects = {name: render_project(tmp_path / name, order, one_by_one=True).root for name, order in orders.items()}
    for module in ("storage.py", "websocket.py", "tasks.py", "celery_app.py", "metrics.py"):
        texts = {name: (root / "services" / module).read_text() for name, root in projects.items()}
        assert len(set(texts.values())) == 1, module
    results = {name: run_others(root, redis_url) for name, root in projects.items()}
    values = results["after"]
    assert results["before"] == values

    def value(name: str, **labels: str) -> float:
        return values.get((name, tuple(sorted(labels.items()))), 0.0)

    # storage: 2 uploads, a download, a stream, an exists, a missing download, a delete
    for operation, result, count in [("upload", "ok", 2), ("download", "ok", 1), ("download", "missing", 1),
                                     ("stream", "ok", 1), ("exists", "ok", 1), ("delete", "ok", 1)]:
        assert value("storage_operations_total", operation=operation, result=result) == count, operation
    assert value("storage_operation_duration_seconds_count", operation="download") == 2
    assert value("storage_bytes_total", operation="upload") == 15  # bytes, and a file object's
    assert value("storage_bytes_total", operation="download") == 5
    assert value("storage_bytes_total", operation="stream") == 10
    # websocket: one client, its one text relayed back after the welcome
    assert value("websocket_messages_total", direction="received") == 1
    assert value("websocket_messages_total", direction="sent") == 2
    assert value("websocket_connections") == 0  # closed again
    # ARQ: two greetings and a job that fails, run by a worker
    assert value("tasks_enqueued_total", function="say_hello") == 2
    assert value("tasks_enqueued_total", function="fail") == 1
    assert value("tasks_started_total", function="say_hello") == 2
    assert value("tasks_finished_total", function="say_hello", status="succeeded") == 2
    assert value("tasks_finished_total", function="fail", status="failed") == 1
    assert value("tasks_duration_seconds_count", function="fail") == 1
    # Celery: counted where it was sent and in the worker's process, summed on /metrics
    task = "services.say_hello"
    assert value("celery_tasks_published_total", task=task, queue="default") == 1
    assert value("celery_tasks_started_total", task=task) == 1
    assert value("celery_tasks_finished_total", task=task, state="SUCCESS") == 1
    assert value("celery_task_duration_seconds_count", task=task) == 1
    # bounded labels: never a key, a room, a connection or a job's arguments
    labels = {k for (_, ls) in values for k, _ in ls}
    assert labels <= {"operation", "result", "direction", "function", "status", "task", "queue", "state"}


def test_s3_calls_are_counted_and_streams_stopped_early_count_as_ok(
    render_component: RenderComponent, s3_server: S3Server
) -> None:
    from prometheus_client import REGISTRY

    storage = render_component(["storage", "metrics"], {
        "STORAGE_BACKEND": "s3", "STORAGE_S3_BUCKET": s3_server.bucket,
        "STORAGE_S3_ENDPOINT_URL": s3_server.endpoint_url, "STORAGE_S3_ACCESS_KEY": "testing",
        "STORAGE_S3_SECRET_KEY": "testing"}).module("storage")
    backend = storage.get_storage()
    assert isinstance(backend, storage.S3StorageBackend)  # measured, and still the class it was

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    async def scenario() -> None:
        await backend.upload("m/big.bin", io.BytesIO(b"z" * 300_000))
        for _ in range(60):  # more early stops than the pool has connections (50): none held
            async for _chunk in backend.stream("m/big.bin", chunk_size=1000):
                break
        assert await backend.download("m/big.bin") == b"z" * 300_000
        with pytest.raises(FileNotFoundError):
            await backend.download("m/none.bin")
        await backend.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert value("storage_operations_total", operation="stream", result="ok") == 60
    assert value("storage_bytes_total", operation="stream") == 60 * 1000
    assert value("storage_bytes_total", operation="upload") == 300_000
    assert value("storage_bytes_total", operation="download") == 300_000
    assert value("storage_operations_total", operation="download", result="missing") == 1
    assert value("storage_operation_duration_seconds_count", operation="upload") == 1
