"""What a fleet roll-out costs: `paxx-patch fleet autofix add redis metrics` over N
local repositories (copies of the sample project, file:// remotes, all-repos'
json_file source and merge_to_master push) at -j 1 and at -j JOBS, against one
`paxx-patch add redis metrics --commit` on its own in the same project (median of 5).

Each run starts from fresh remotes and a fresh all-repos-clone (not timed). The
figures: wall time of each roll-out, seconds per repository, the speed-up of -j
JOBS over -j 1, and the fixer's overhead per repository at -j 1 (its time per
repository over the single add: the clone, the branch, the merge and the push).

    python benchmarks/bench_fleet.py [--repos N] [--jobs J]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "paxx_patch" / "sample"
IDENTITY = {"GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def project(path: Path, env: dict[str, str]) -> Path:
    shutil.copytree(SAMPLE, path, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "service"]):
        run(["git", *args], path, env)
    return path


def fleet(root: Path, repos: int, env: dict[str, str]) -> Path:
    """Fresh remotes, an all-repos config, its clones; returns the config."""
    template = project(root / "template", env)
    urls = {}
    for n in range(repos):
        remote = root / "remotes" / f"service-{n:03}.git"
        run(["git", "clone", "-q", "--bare", str(template), str(remote)], root, env)
        urls[f"service-{n:03}"] = remote.as_uri()
    (root / "repos.json").write_text(json.dumps(urls))
    config = root / "all-repos.json"
    config.write_text(json.dumps({
        "output_dir": "output", "source": "all_repos.source.json_file",
        "source_settings": {"filename": str(root / "repos.json")},
        "push": "all_repos.push.merge_to_master", "push_settings": {},
    }))
    config.chmod(0o600)
    run([sys.executable, "-m", "all_repos.clone", "-C", str(config), "-j", "8"], root, env)
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repos", type=int, default=50, help="repositories in the fleet (default 50)")
    parser.add_argument("--jobs", type=int, default=8, help="the parallel run's -j (default 8)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paxx-bench-fleet-") as scratch:
        tmp = Path(scratch)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        env.update(IDENTITY, HOME=str(tmp), GIT_CONFIG_NOSYSTEM="1")
        one = statistics.median(
            run([sys.executable, "-m", "paxx_patch", "add", "redis", "metrics", "--commit", "--quiet",
                 "--no-lock"], project(tmp / f"single-{n}", env), env)
            for n in range(5)
        )
        times = {}
        for jobs in (1, args.jobs):
            config = fleet(tmp / f"j{jobs}", args.repos, env)
            times[jobs] = run([sys.executable, "-m", "paxx_patch", "fleet", "autofix", "add", "redis", "metrics",
                               "--no-lock", "-C", str(config), "-j", str(jobs), "--color", "never"], config.parent, env)
    print(f"fleet roll-out of add redis metrics, {args.repos} repositories, {os.cpu_count()} cores:")
    for jobs, seconds in times.items():
        print(f"  -j {jobs:<3} {seconds:7.1f} s   {seconds / args.repos:5.2f} s per repository")
    print(f"  speed-up -j {args.jobs} over -j 1: {times[1] / times[args.jobs]:.2f}x")
    print(f"  one `paxx-patch add redis metrics --commit` (median of 5): {one:.2f} s")
    print(f"  fixer overhead per repository at -j 1: {times[1] / args.repos - one:+.2f} s "
          f"({times[1] / args.repos / one:.2f}x a single add)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
