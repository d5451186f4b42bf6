"""What counting costs the generated cache: µs per operation with metrics and without.

Two projects are rendered, `redis` and `redis metrics` (whose cache.py counts each
helper call in cache_operations_total and times it in
cache_operation_duration_seconds). Each drives one redis-server on a free loopback
port from a process of its own, variants interleaved, the median of RUNS runs:

- sequential: one `cache_get` awaited after another (a round trip each);
- concurrent: CONCURRENCY `cache_get` calls at once from one event loop, which the
  cache sends as pipelines (where a fixed cost per call shows most).

overhead = time per operation with metrics minus without.

    python benchmarks/bench_cache_metrics.py [--runs N] [--operations N] [--concurrency N]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "generated"))
VARIANTS = ("plain", "metrics")

DRIVER = r"""
import asyncio, sys, time

from services import cache

mode, operations, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


async def main():
    await cache.cache_set("bench:present", {"n": 1})
    for _ in range(200):  # warm: the pool, the batcher, the label children
        await cache.cache_get("bench:present")
    started = time.perf_counter()
    if mode == "sequential":
        for _ in range(operations):
            await cache.cache_get("bench:present")
    else:
        for _ in range(operations // concurrency):
            await asyncio.gather(*(cache.cache_get("bench:present") for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await cache.close_redis()
    print(elapsed / operations * 1e6)


asyncio.run(main())
"""


def render(root: Path, components: list[str]) -> Path:
    """`paxx-patch add COMPONENTS --commit` on a minimal project (its report silenced)."""
    from generated_projects import render_project

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        render_project(root, components)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per variant and mode (default 5)")
    parser.add_argument("--operations", type=int, default=20000, help="cache_get calls per run (default 20000)")
    parser.add_argument("--concurrency", type=int, default=1000, help="calls at once, concurrent mode (default 1000)")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        print("redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="paxx-bench-cache-metrics-") as scratch:
        tmp = Path(scratch)
        projects = {"plain": render(tmp / "plain", ["redis"]), "metrics": render(tmp / "metrics", ["redis", "metrics"])}
        assert "CACHE_OPERATIONS" in (projects["metrics"] / "services" / "cache.py").read_text()
        port = free_port()
        server = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", scratch],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            env = {**os.environ, "REDIS_URL": f"redis://127.0.0.1:{port}/0"}
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            for mode in ("sequential", "concurrent"):
                times: dict[str, list[float]] = {v: [] for v in VARIANTS}
                for _ in range(args.runs):
                    for variant in VARIANTS:
                        done = subprocess.run(
                            [sys.executable, "-c", DRIVER, mode, str(args.operations), str(args.concurrency)],
                            env={**env, "PYTHONPATH": str(projects[variant])}, cwd=projects[variant],
                            capture_output=True, text=True, check=True,
                        )
                        times[variant].append(float(done.stdout.strip()))
                plain, counted = (statistics.median(times[v]) for v in VARIANTS)
                shape = "one at a time" if mode == "sequential" else f"{args.concurrency} at once"
                print(f"cache_get, {mode} ({shape}), {args.operations} calls x {args.runs} runs (median us/call):")
                print(f"  without metrics  {plain:7.2f}")
                print(f"  with metrics     {counted:7.2f}  overhead {counted - plain:5.2f} us"
                      f" ({(counted - plain) / plain:+.1%})")
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
