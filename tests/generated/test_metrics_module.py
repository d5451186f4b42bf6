"""The generated services/metrics.py in a FastAPI app, scraped through its own /metrics."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from fastapi import FastAPI
from generated_projects import RenderComponent
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.staticfiles import StaticFiles


def make_app(metrics: ModuleType, static_dir: Path | None = None) -> tuple[FastAPI, asyncio.Event]:
    app = FastAPI()
    release = asyncio.Event()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await release.wait()
        return {"done": True}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("handler failed")

    sub = FastAPI()

    @sub.get("/things/{thing_id}")
    async def read_thing(thing_id: int) -> dict[str, int]:
        return {"thing_id": thing_id}

    app.mount("/sub", sub)
    if static_dir is not None:
        app.mount("/static", StaticFiles(directory=static_dir))
    # What the wiring adds to the user's app:
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_route("/metrics", metrics.metrics_endpoint, include_in_schema=False)
    return app, release


def client(app: FastAPI) -> httpx.AsyncClient:
    # Exceptions become 500 responses, as under a real server.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def samples(text: str, name: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def test_requests_are_counted_by_route_template(render_component: RenderComponent, tmp_path: Path) -> None:
    metrics = render_component("metrics").module("metrics")
    (tmp_path / "logo.txt").write_text("logo")
    app, _ = make_app(metrics, static_dir=tmp_path)

    async def scenario() -> str:
        async with client(app) as http:
            for item_id in (1, 2, 3):
                assert (await http.get(f"/items/{item_id}")).status_code == 200
            assert (await http.get("/items/not-a-number")).status_code == 422
            assert (await http.post("/items/1")).status_code == 405
            assert (await http.get("/sub/things/9")).status_code == 200
            assert (await http.get("/static/logo.txt")).status_code == 200
            assert (await http.get("/boom")).status_code == 500
            assert (await http.request("BREW", "/items/1")).status_code == 405
            response = await http.get("/metrics")
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/plain")
            return response.text

    text = asyncio.run(scenario())
    counted = {
        (s.labels["method"], s.labels["path"], s.labels["status"]): s.value
        for s in samples(text, "http_requests_total")
    }
    assert counted == {
        ("GET", "/items/{item_id}", "200"): 3,
        ("GET", "/items/{item_id}", "422"): 1,
        ("POST", "/items/{item_id}", "405"): 1,
        ("GET", "/sub/things/{thing_id}", "200"): 1,
        ("GET", "/static", "200"): 1,
        ("GET", "/boom", "500"): 1,
        ("OTHER", "/items/{item_id}", "405"): 1,
    }
    assert "/items/1" not in text
    durations = {
        (s.labels["method"], s.labels["path"]): s.value
        for s in samples(text, "http_request_duration_seconds_count")
    }
    assert durations[("GET", "/items/{item_id}")] == 4
    buckets = samples(text, "http_request_duration_seconds_bucket")
    assert any(s.labels["le"] == "+Inf" for s in buckets)
    in_progress = {s.labels["method"]: s.value for s in samples(text, "http_requests_in_progress")}
    assert in_progress["GET"] == 1  # the scrape itself


def test_unmatched_urls_share_one_label(render_component: RenderComponent) -> None:
    metrics = render_component("metrics").module("metrics")
    app, _ = make_app(metrics)

    async def scenario() -> tuple[str, str]:
        async with client(app) as http:
            await http.get("/items/1")
            await http.get("/metrics")  # so that the scrapes' own label exists before
            before = (await http.get("/metrics")).text
            for i in range(50):
                assert (await http.get(f"/probe/{i}/wp-login.php?x={i}")).status_code == 404
            return before, (await http.get("/metrics")).text

    before, after = asyncio.run(scenario())

    def paths(text: str) -> set[str]:
        return {s.labels["path"] for s in samples(text, "http_requests_total")}

    assert len(paths(after) - paths(before)) <= 1
    assert paths(after) - paths(before) == {metrics.UNMATCHED_PATH}
    unmatched = [s for s in samples(after, "http_requests_total") if s.labels["path"] == metrics.UNMATCHED_PATH]
    assert [(s.labels["status"], s.value) for s in unmatched] == [("404", 50)]


def test_in_progress_gauge_follows_requests(render_component: RenderComponent) -> None:
    metrics = render_component("metrics").module("metrics")
    app, release = make_app(metrics)

    def in_progress() -> float | None:
        return REGISTRY.get_sample_value("http_requests_in_progress", {"method": "GET"})

    async def scenario() -> None:
        async with client(app) as http:
            pending = asyncio.ensure_future(http.get("/slow"))
            for _ in range(500):
                if in_progress() == 1:
                    break
                await asyncio.sleep(0.01)
            assert in_progress() == 1
            release.set()
            assert (await pending).status_code == 200
            assert in_progress() == 0

    asyncio.run(scenario())


@pytest.mark.parametrize("value", ["false", "0", "False"])
def test_disabled_metrics_record_nothing(render_component: RenderComponent, value: str) -> None:
    metrics = render_component("metrics", {"METRICS_ENABLED": value}).module("metrics")
    app, _ = make_app(metrics)

    async def scenario() -> int:
        async with client(app) as http:
            for item_id in range(5):
                assert (await http.get(f"/items/{item_id}")).status_code == 200
            await http.get("/nowhere")
            return (await http.get("/metrics")).status_code

    assert asyncio.run(scenario()) == 404
    from prometheus_client import generate_latest

    text = generate_latest(REGISTRY).decode()
    for name in ("http_requests_total", "http_request_duration_seconds_count", "http_requests_in_progress"):
        assert samples(text, name) == []


def test_enabled_flag_can_be_given_explicitly(render_component: RenderComponent) -> None:
    metrics = render_component("metrics", {"METRICS_ENABLED": "true"}).module("metrics")
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    app.add_middleware(metrics.MetricsMiddleware, enabled=False)

    async def scenario() -> None:
        async with client(app) as http:
            await http.get("/ping")

    asyncio.run(scenario())
    assert REGISTRY.get_sample_value("http_requests_total", {"method": "GET", "path": "/ping", "status": "200"}) is None


MULTIPROCESS_APP = textwrap.dedent(
    """
    import asyncio, sys
    import httpx
    from fastapi import FastAPI
    from services.metrics import MetricsMiddleware, metrics_endpoint

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app.add_middleware(MetricsMiddleware)
    app.add_route("/metrics", metrics_endpoint)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            await http.get("/items/1")
            if sys.argv[1] == "scrape":
                print((await http.get("/metrics")).text)
            else:  # a worker: stays alive until told to stop
                print("ready", flush=True)
                sys.stdin.read()

    asyncio.run(main())
    """
)


def _items_counted(text: str) -> list[float]:
    return [s.value for s in samples(text, "http_requests_total") if s.labels.get("path") == "/items/{item_id}"]


def _process_memory(exposition: str) -> dict[int, float]:
    """Resident memory by pid, from the process metrics an exposition carries."""
    found = re.findall(r'^process_resident_memory_bytes\{pid="(\d+)"\} (\S+)$', exposition, re.MULTILINE)
    return {int(pid): float(value) for pid, value in found}


def test_multiprocess_mode_serves_all_workers(render_component: RenderComponent, tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, /metrics sums what every live process recorded;
    a process that starts when none of them is alive any more starts from zero."""
    project = render_component("metrics")
    multiproc = tmp_path / "prometheus"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(multiproc), "PYTHONPATH": str(project.root)}

    def scrape() -> str:
        done = subprocess.run(
            [sys.executable, "-c", MULTIPROCESS_APP, "scrape"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    workers = [
        subprocess.Popen([sys.executable, "-c", MULTIPROCESS_APP, "worker"], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        served = scrape()
        assert _items_counted(served) == [3]
        # each live worker's own process metrics, told apart by pid
        memory = _process_memory(served)
        assert {w.pid for w in workers} <= memory.keys(), served
        assert all(memory[w.pid] > 1_000_000 for w in workers), memory
    finally:
        for worker in workers:
            worker.communicate("")
    served = scrape()
    assert _items_counted(served) == [1]  # the previous run's files were cleared
    assert not {w.pid for w in workers} & _process_memory(served).keys()  # gone workers are not reported


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("0", False), ("true", True), ("on", True)])
def test_a_str_field_from_an_older_settings_class_is_parsed(
    render_component: RenderComponent, monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    metrics = render_component("metrics").module("metrics")
    monkeypatch.setattr(__import__("settings").settings, "metrics_enabled", value)
    assert metrics.metrics_enabled() is expected
