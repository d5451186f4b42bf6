"""Metrics across components: with metrics installed, before or after them, the cache
and database modules record their own metrics on /metrics; without it they do not
import prometheus_client at all. Real redis-server and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import PostgresServer
from generated_projects import BUNDLES_DIR, load_bundle_dir, render_project
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
    root = render_project(tmp_path / "plain", ["redis", "postgres"]).root
    for module in ("cache.py", "db.py"):
        assert "prometheus" not in (root / "services" / module).read_text()
    env = {**os.environ, "PYTHONPATH": str(root)}
    check = "import sys\nimport services.cache, services.db\nassert 'prometheus_client' not in sys.modules"
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
    from paxx_patch.commands.update import remove
    from paxx_patch.plan.engine import Kind, Output

    root = render_project(tmp_path / "edited", ["redis"]).root
    cache = root / "services" / "cache.py"
    plain = cache.read_text()
    edited = plain.replace("_PUBSUB_POLL_SECONDS = 1.0", "_PUBSUB_POLL_SECONDS = 2.5")
    assert edited != plain
    cache.write_text(edited)
    _git(root, "commit", "-qam", "poll less often")

    assert add(names=["metrics"], output=Output(Kind.COMMIT), cwd=root) == 0
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

    assert remove(names=["metrics"], output=Output(Kind.COMMIT), cwd=root) == 0
    assert cache.read_text() == edited
    assert _git(root, "status", "--porcelain") == ""
