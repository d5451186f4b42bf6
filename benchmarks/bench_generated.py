"""What the generated code costs: the metrics middleware and the S3 backend.

1. Per-request overhead of the generated `MetricsMiddleware` on a FastAPI app,
   against prometheus-fastapi-instrumentator and starlette-exporter, measured in
   the same run: each variant drives the same app in a process of its own
   (they register metrics of the same names), variants interleaved, the median of
   RUNS runs; overhead = time per request minus that of the bare app. The goal is
   at most half the overhead of the lighter of the two.
2. S3 operations per second (put + head + get of a 1 KiB object) with the
   generated backend's one shared client, and with a client opened per operation
   (what paxx 0.2.3's backend did), against moto's server in its own process.

    python benchmarks/bench_generated.py [--runs N] [--requests N] [--s3-ops N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "generated"))
GOAL = 0.5

DRIVER = r"""
import asyncio, sys, time
from fastapi import FastAPI

variant, requests = sys.argv[1], int(sys.argv[2])
app = FastAPI()


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


if variant == "paxx-patch":
    from services.metrics import MetricsMiddleware
    app.add_middleware(MetricsMiddleware)
elif variant == "instrumentator":
    from prometheus_fastapi_instrumentator import Instrumentator
    Instrumentator().instrument(app)
elif variant == "starlette-exporter":
    from starlette_exporter import PrometheusMiddleware
    app.add_middleware(PrometheusMiddleware)


async def request(i):
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": f"/items/{i % 100}", "raw_path": f"/items/{i % 100}".encode(),
        "root_path": "", "query_string": b"", "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1234), "server": ("bench", 80), "state": {},
    }

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    await app(scope, receive, send)


async def main():
    for i in range(500):  # warm up: routes compiled, label children made
        await request(i)
    started = time.perf_counter()
    for i in range(requests):
        await request(i)
    print((time.perf_counter() - started) / requests * 1e6)

asyncio.run(main())
"""
VARIANTS = ("bare", "paxx-patch", "instrumentator", "starlette-exporter")


def render(root: Path, components: list[str]) -> Path:
    """`paxx-patch add COMPONENTS --commit` on a minimal project (its report silenced)."""
    import contextlib
    import io

    from generated_projects import render_project

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        render_project(root, components)
    return root


def bench_middleware(tmp: Path, runs: int, requests: int) -> dict[str, float]:
    project = render(tmp / "metrics-project", ["metrics"])
    env = {**os.environ, "PYTHONPATH": str(project), "METRICS_ENABLED": "true"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(runs):
        for variant in VARIANTS:
            done = subprocess.run(
                [sys.executable, "-c", DRIVER, variant, str(requests)],
                env=env, cwd=project, capture_output=True, text=True, check=True,
            )
            times[variant].append(float(done.stdout.strip()))
    return {v: statistics.median(t) for v, t in times.items()}


S3_DRIVER = r"""
import asyncio, json, sys, time
import aioboto3
from services.storage import get_storage

operations = int(sys.argv[1])
backend = get_storage()
payload = b"x" * 1024


async def shared():
    await backend.upload("bench/warm", payload)
    started = time.perf_counter()
    for i in range(operations):
        await backend.upload(f"bench/{i}", payload)
        await backend.exists(f"bench/{i}")
        await backend.download(f"bench/{i}")
    elapsed = time.perf_counter() - started
    await backend.aclose()
    return 3 * operations / elapsed


async def per_operation():
    session = aioboto3.Session(region_name="us-east-1")

    def client():
        return session.client("s3", endpoint_url=backend.endpoint_url, config=backend._config)

    started = time.perf_counter()
    for i in range(operations):
        async with client() as s3:
            await s3.put_object(Bucket=backend.bucket, Key=f"bench/{i}", Body=payload)
        async with client() as s3:
            await s3.head_object(Bucket=backend.bucket, Key=f"bench/{i}")
        async with client() as s3:
            body = (await s3.get_object(Bucket=backend.bucket, Key=f"bench/{i}"))["Body"]
            await body.read()
    return 3 * operations / (time.perf_counter() - started)


print(json.dumps({"shared": asyncio.run(shared()), "per_operation": asyncio.run(per_operation())}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def bench_s3(tmp: Path, operations: int) -> dict[str, float]:
    import boto3

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                             aws_access_key_id="bench", aws_secret_access_key="bench",
                             ).create_bucket(Bucket="bench-bucket")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        project = render(tmp / "storage-project", ["storage"])
        env = {
            **os.environ, **credentials, "PYTHONPATH": str(project), "STORAGE_BACKEND": "s3",
            "STORAGE_S3_BUCKET": "bench-bucket", "STORAGE_S3_ENDPOINT_URL": endpoint,
            "AWS_CONFIG_FILE": str(tmp / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "none"),
        }
        done = subprocess.run(
            [sys.executable, "-c", S3_DRIVER, str(operations)],
            env=env, cwd=project, capture_output=True, text=True, check=True,
        )
        figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return figures
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per middleware variant (default 5)")
    parser.add_argument("--requests", type=int, default=20000, help="requests per run (default 20000)")
    parser.add_argument("--s3-ops", type=int, default=200, help="put+head+get rounds (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paxx-bench-generated-") as scratch:
        tmp = Path(scratch)
        medians = bench_middleware(tmp, args.runs, args.requests)
        bare = medians["bare"]
        print(f"metrics middleware, {args.requests} requests x {args.runs} runs (median us/request):")
        for variant in VARIANTS:
            extra = "" if variant == "bare" else f"  overhead {medians[variant] - bare:6.1f} us"
            print(f"  {variant:20} {medians[variant]:7.1f}{extra}")
        ours = medians["paxx-patch"] - bare
        lighter = min(medians["instrumentator"], medians["starlette-exporter"]) - bare
        ratio = ours / lighter if lighter > 0 else float("inf")
        print(f"  overhead ratio paxx-patch / lighter other: {ratio:.2f} (goal <= {GOAL})")
        s3 = bench_s3(tmp, args.s3_ops)
        print(f"S3 against moto, {args.s3_ops} x (put + head + get) of 1 KiB:")
        print(f"  shared client       {s3['shared']:7.1f} ops/s")
        print(f"  client per op       {s3['per_operation']:7.1f} ops/s")
        print(f"  speed-up            {s3['shared'] / s3['per_operation']:7.1f} x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
