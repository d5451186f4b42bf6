"""All three components on the sample project, and the wired app actually running."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import git

WIRED_APP_CHECK = r"""
import asyncio, os
import httpx
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client.parser import text_string_to_metric_families

from main import app  # wired by paxx-patch: middleware, /metrics, setup_tracing(app)

spans = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(spans))

async def main():
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for i in range(3):
            assert (await client.get(f"/items/{i}")).status_code == 200
        for i in range(50):
            assert (await client.get(f"/nowhere/{i}")).status_code == 404
        response = await client.get("/metrics")
    return response

response = asyncio.run(main())
enabled = os.environ["METRICS_ENABLED"] == "true"
if enabled:
    text = response.text
else:  # /metrics is switched off too; read the process's registry directly
    from prometheus_client import REGISTRY, generate_latest
    assert response.status_code == 404
    text = generate_latest(REGISTRY).decode()
families = {f.name: f for f in text_string_to_metric_families(text)}
requests = [s for s in families["http_requests"].samples if s.name == "http_requests_total"]
paths = {s.labels["path"] for s in requests}
if enabled:
    assert {s.labels["path"]: s.value for s in requests}["/items/{item_id}"] == 3, requests
    assert not any(p.startswith("/nowhere/") for p in paths), paths
    assert len(paths - {"/items/{item_id}", "/metrics"}) <= 1, paths
    assert "http_request_duration_seconds" in families
    assert families["http_requests_in_progress"].type == "gauge"
else:
    assert requests == [], requests
server = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
assert server, "no server span recorded"
assert {s.resource.attributes["service.name"] for s in server} == {"shop-api"}
print("ok", flush=True)
os._exit(0)  # skip the OTLP exporter's shutdown retries: nothing listens in tests
"""


def run_wired_app(repo: Path, metrics_enabled: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "METRICS_ENABLED": metrics_enabled, "OTEL_SERVICE_NAME": "shop-api",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run([sys.executable, "-c", WIRED_APP_CHECK], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)


def test_all_three_components_as_separate_commits(sample_repo: Path, run) -> None:
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, _out, err = run(sample_repo, "add", "redis", "storage", "metrics", "--commit")
    assert code == 0, err
    log = git(sample_repo, "log", "--reverse", "--format=%(trailers:key=Paxx-Component,valueonly)%x00%(trailers:key=Paxx-Mutator,valueonly)", f"{base}..HEAD")
    rows = [tuple(part.strip() for part in line.split("\0")) for line in log.strip().split("\n\n") if line.strip()]
    components = [c for c, _ in rows]
    # each component's commits are contiguous and end with its lock commit
    assert components == sorted(components, key=["redis", "storage", "metrics"].index)
    for name in ("redis", "storage", "metrics"):
        mutators = [m for c, m in rows if c == name]
        assert mutators[0] == "files" and mutators[-1] == "lock", (name, mutators)
    assert ("metrics", "wiring") in rows
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=sample_repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert git(sample_repo, "status", "--porcelain") == ""
    assert run(sample_repo, "verify")[0] == 0


def test_wired_app_serves_metrics_and_traces(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "metrics", "--commit")[0] == 0
    proc = run_wired_app(sample_repo, "true")
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_metrics_disabled_records_nothing(sample_repo: Path, run) -> None:
    assert run(sample_repo, "add", "metrics", "--commit")[0] == 0
    proc = run_wired_app(sample_repo, "false")
    assert proc.stdout.strip() == "ok", proc.stdout + proc.stderr


def test_no_recognisable_app_prints_the_lines_to_add(sample_repo: Path, run) -> None:
    (sample_repo / "main.py").write_text('"""Nothing creates an app here."""\n\nprint("hello")\n')
    git(sample_repo, "commit", "-qam", "no app")
    base = git(sample_repo, "rev-parse", "HEAD").strip()
    code, out, err = run(sample_repo, "add", "metrics", "--commit")
    assert code == 0, err
    mutators = git(sample_repo, "log", "--format=%(trailers:key=Paxx-Mutator,valueonly)", f"{base}..HEAD")
    assert "wiring" not in mutators and "lock" in mutators
    assert "add_middleware(MetricsMiddleware)" in out + err
    assert "setup_tracing(" in out + err
    assert (sample_repo / "main.py").read_text() == '"""Nothing creates an app here."""\n\nprint("hello")\n'


WIRED_TASKS_CHECK = r"""
import asyncio, os
import httpx
from main import app  # wired by paxx-patch: close_tasks() in its lifespan
from services import tasks

@app.post("/hello/{name}")
async def hello(name: str) -> dict[str, str]:
    job = await tasks.enqueue("say_hello", name)
    assert job is not None
    return {"job": job.job_id, "result": await job.result(timeout=30)}

async def main():
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post("/hello/world")
        assert response.status_code == 200, response.text
        assert response.json()["result"] == "Hello, world!", response.json()
        assert len(tasks._pools) == 1
    assert len(tasks._pools) == 0  # the lifespan's shutdown closed the pool
    print("ok", flush=True)

asyncio.run(main())
"""


def test_wired_app_enqueues_a_job_a_real_worker_runs(sample_repo: Path, run, redis_url: str) -> None:
    code, out, err = run(sample_repo, "add", "tasks", "--commit")
    assert code == 0, out + err
    assert "await close_tasks()" in (sample_repo / "main.py").read_text()
    env = {**os.environ, "REDIS_URL": redis_url, "PYTHONDONTWRITEBYTECODE": "1"}
    arq = Path(sys.executable).with_name("arq")
    worker = subprocess.Popen([str(arq), "services.tasks.WorkerSettings"], cwd=sample_repo, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        done = subprocess.run([sys.executable, "-c", WIRED_TASKS_CHECK], cwd=sample_repo, env=env,
                              capture_output=True, text=True, timeout=120)
    finally:
        worker.terminate()
        logged = worker.communicate(timeout=30)[0]
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr + logged
    assert "say_hello" in logged
