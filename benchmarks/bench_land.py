"""Median wall time of `paxx-patch add redis --commit` at 1k and 100k tracked files,
and of its landing alone (the transaction in paxx_patch.git.land).

Landing copies and rewrites the index (as any git checkout does) but stats and
writes only the touched paths, so the 100k / 1k ratio should stay near that of
`add --branch` (benchmarks/bench_add.py). Run: python benchmarks/bench_land.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_add import git, make_repo, runs_and_sizes

PROBE = """
import sys, time
from paxx_patch.git import land
inner = land.land_on_head
def timed(*args, **kwargs):
    start = time.perf_counter()
    try:
        return inner(*args, **kwargs)
    finally:
        print(f"landing {time.perf_counter() - start:.6f}", file=sys.stderr)
land.land_on_head = timed
from paxx_patch.cli.main import main
raise SystemExit(main(sys.argv[1:]))
"""


def time_commit(repo: Path, runs: int) -> tuple[list[float], list[float]]:
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    whole, landing = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", PROBE, "add", "redis", "--commit"],
                              cwd=repo, check=True, capture_output=True, text=True)
        whole.append(time.perf_counter() - start)
        landing.append(float(proc.stderr.rsplit("landing ", 1)[1].split()[0]))
        git(repo, "reset", "-q", "--hard", base)
    return whole, landing


def main() -> int:
    runs, sizes = runs_and_sizes(__doc__)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="paxx-bench-") as tmp:
        for n in sizes:
            repo = make_repo(Path(tmp) / f"repo{n}", n)
            time_commit(repo, 1)  # warm the page cache
            whole, landing = time_commit(repo, runs)
            rows[n] = statistics.median(whole), statistics.median(landing)
    print(f"{'tracked files':>14}  {'add --commit (s)':>17}  {'of it landing (s)':>18}")
    for n, (w, landed) in rows.items():
        print(f"{n:>14,}  {w:>17.3f}  {landed:>18.3f}")
    if len(sizes) >= 2:
        print(f"ratio {sizes[-1]:,} / {sizes[0]:,}: add --commit "
              f"{rows[sizes[-1]][0] / rows[sizes[0]][0]:.2f}, landing "
              f"{rows[sizes[-1]][1] / rows[sizes[0]][1]:.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    raise SystemExit(main())
