"""The wired app under `uvicorn --workers 2`: metrics summed over the workers, and
every span sent when the server is stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from conftest import free_port
from generated_projects import (
    forget_project_modules,
    render_project,
    wait_until_serving,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as ProtoSpan
from prometheus_client.parser import text_string_to_metric_families
from test_tracing_module import Receiver, receiver  # noqa: F401  (the fixture)

APP = '''"""Orders service."""

import os

from fastapi import FastAPI

from services.cache import cache_set

app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    await cache_set(f"item:{item_id}", {"id": item_id}, expire=60)
    return {"item_id": item_id, "pid": os.getpid()}


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}
'''
REQUESTS = 2000


def requests_counted(text: str) -> float:
    return sum(
        s.value for family in text_string_to_metric_families(text) for s in family.samples
        if s.name == "http_requests_total" and s.labels.get("path") == "/items/{item_id}"
    )


async def load(base: str) -> set[int]:
    # no keep-alive: every request is a new connection, so both workers get some
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        semaphore = asyncio.Semaphore(20)

        async def one(i: int) -> int:
            async with semaphore:
                response = await http.get(f"/items/{i}")
                assert response.status_code == 200, response.text
                pid: int = response.json()["pid"]
                return pid

        return set(await asyncio.gather(*(one(i) for i in range(REQUESTS))))


def test_two_workers_metrics_and_spans_at_sigterm(
    tmp_path: Path, redis_url: str, receiver: Receiver  # noqa: F811
) -> None:
    forget_project_modules()
    project = render_project(tmp_path / "project", ["redis", "metrics"], files={"main.py": APP})
    main = (project.root / "main.py").read_text()
    assert "await close_redis()" in main and "await shutdown_tracing()" in main
    port = free_port()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        **os.environ, "PYTHONPATH": str(project.root), "TMPDIR": str(scratch), "REDIS_URL": redis_url,
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "orders",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "main:app", "--workers", "2", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=project.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(f"{base}/health", server)
        pids = asyncio.run(load(base))
        assert len(pids) == 2, pids  # both workers served requests
        scrapes = [httpx.get(f"{base}/metrics", timeout=10).text for _ in range(10)]
        assert [requests_counted(text) for text in scrapes] == [REQUESTS] * 10
        [directory] = scratch.glob("prometheus-*")
        assert {p.name.split("_")[-1] for p in directory.glob("*.db")} == {f"{pid}.db" for pid in pids}
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output

    spans = [span for _, span in receiver.spans()]
    kinds = Counter(span.kind for span in spans)
    names = Counter(span.name for span in spans)
    assert names["GET /items/{item_id}"] == REQUESTS, names.most_common(5)
    assert kinds == {ProtoSpan.SpanKind.SPAN_KIND_SERVER: REQUESTS}, kinds  # no `http send` spans
    assert not any("metrics" in name or "health" in name for name in names), names


@pytest.fixture(autouse=True)
def _forget_modules() -> None:
    forget_project_modules()
