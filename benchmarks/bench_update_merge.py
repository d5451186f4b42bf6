"""Median wall time of a three-way `update redis` (the user edited services/cache.py).

The path bench_compare.py does not take: owned files differ from their pristine
render, so the update merges them (git merge-file) before landing. `--branch`
touches no index; `--commit` also updates the index and the two touched files,
which git does by rewriting the whole index file, so it grows a little with the
number of tracked files. Run: python benchmarks/bench_update_merge.py
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from bench_add import make_repo, newer_bundle, runs_and_sizes


def run(repo: Path, *args: str) -> None:
    subprocess.run(args, cwd=repo, check=True, capture_output=True)


def edited_install(path: Path, n_files: int) -> Path:
    repo = make_repo(path, n_files)
    run(repo, "paxx-patch", "add", "redis", "--commit")
    cache = repo / "services" / "cache.py"
    cache.write_text(cache.read_text().replace("async def close_redis() -> None:",
                                               "async def close_redis() -> None:  # mine"))
    run(repo, "git", "commit", "-qam", "edit the generated cache module")
    return repo


def time_updates(repo: Path, bundles: Path, output: list[str], runs: int) -> float:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True,
                          capture_output=True, text=True).stdout.strip()
    times = []
    for i in range(runs):
        run(repo, "git", "status", "--short")  # a fresh index, as a user's would be
        args = [a.replace("{i}", str(i)) for a in output]
        start = time.perf_counter()
        run(repo, "paxx-patch", "update", "redis", *args, "--bundle-path", str(bundles))
        times.append(time.perf_counter() - start)
        run(repo, "git", "reset", "-q", "--hard", head)
    return statistics.median(times)


def main() -> int:
    runs, sizes = runs_and_sizes(__doc__)
    rows: dict[str, dict[int, float]] = {"--branch": {}, "--commit": {}}
    with tempfile.TemporaryDirectory(prefix="paxx-bench-") as tmp:
        bundles = newer_bundle(Path(tmp) / "bundles")
        for n in sizes:
            repo = edited_install(Path(tmp) / f"repo{n}", n)
            rows["--branch"][n] = time_updates(repo, bundles, ["--branch", "merged-{i}"], runs)
            rows["--commit"][n] = time_updates(repo, bundles, ["--commit"], runs)
    print(f"{'three-way update redis':<24}" + "".join(f"{n:>12,}" for n in sizes) + "   ratio")
    for name, medians in rows.items():
        ratio = medians[sizes[-1]] / medians[sizes[0]]
        print(f"{name:<24}" + "".join(f"{medians[n]:>11.3f}s" for n in sizes) + f"   {ratio:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
