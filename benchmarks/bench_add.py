"""Median wall time of `paxx-patch add redis --branch` at 1k and 100k tracked files.

Cost must not grow with the size of the repository: the ratio 100k / 1k is the
figure that matters (goal: at or below 1.25). Run: python benchmarks/bench_add.py
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "paxx_patch" / "sample"
BUNDLES = Path(__file__).resolve().parent.parent / "bundles"


def bump_docstring(text: str) -> str:
    """A one-line change: a comment after the module docstring's first line."""
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith('"""'))
    lines[at] = lines[at].rstrip("\n") + "  # next\n"
    return "".join(lines)


def newer_bundle(root: Path) -> Path:
    """bundles/redis one minor release later, one line of templates/cache.py.j2 changed.

    Returns the directory to pass as --bundle-path. The version is read from the
    bundle, so the benchmarks keep working as the bundle moves on.
    """
    shutil.copytree(BUNDLES / "redis", root / "redis")
    toml = root / "redis" / "bundle.toml"
    toml.write_text(re.sub(r'^version = "(\d+)\.(\d+)\.\d+"',
                           lambda m: f'version = "{m[1]}.{int(m[2]) + 1}.0"', toml.read_text(), count=1,
                           flags=re.MULTILINE))
    template = root / "redis" / "templates" / "cache.py.j2"
    template.write_text(bump_docstring(template.read_text()))
    return root


def git(repo: Path, *args: str, input: bytes | None = None) -> None:
    subprocess.run(["git", *args], cwd=repo, input=input, check=True, capture_output=True)


def make_repo(path: Path, n_files: int) -> Path:
    """The sample project plus `n_files` filler files, committed and checked out."""
    shutil.copytree(SAMPLE, path, ignore=shutil.ignore_patterns("__init__.py", "__pycache__"))
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Bench")
    git(path, "config", "user.email", "bench@example.com")
    stream = bytearray()
    stream += b"commit refs/heads/main\ncommitter Bench <bench@example.com> 0 +0000\ndata 6\nfiller\n"
    for i in range(n_files):
        body = f"# module {i}\nVALUE = {i}\n".encode()
        stream += b"M 100644 inline pkg/m%03d/f%06d.py\ndata %d\n%s\n" % (i % 500, i, len(body), body)
    stream += b"\n"
    git(path, "fast-import", "--quiet", input=bytes(stream))
    git(path, "reset", "-q", "--hard", "main")
    git(path, "add", "-A")
    git(path, "commit", "-qm", "sample project")
    return path


def time_add(repo: Path, runs: int, tag: str) -> list[float]:
    times = []
    for i in range(runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "paxx_patch", "add", "redis", "--branch", f"bench-{tag}-{i}"],
            cwd=repo, check=True, capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return times


def runs_and_sizes(description: str | None) -> tuple[int, list[int]]:
    """The options every size benchmark takes: --runs N --sizes 1000,100000."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--sizes", default="1000,100000")
    args = parser.parse_args()
    return args.runs, [int(s) for s in args.sizes.split(",")]


def main() -> int:
    runs, sizes = runs_and_sizes(__doc__)
    medians = {}
    with tempfile.TemporaryDirectory(prefix="paxx-bench-") as tmp:
        for n in sizes:
            repo = make_repo(Path(tmp) / f"repo{n}", n)
            time_add(repo, 1, "warm")  # warm the page cache
            medians[n] = statistics.median(time_add(repo, runs, "run"))
    print(f"{'tracked files':>14}  {'median add --branch (s)':>24}")
    for n, m in medians.items():
        print(f"{n:>14,}  {m:>24.3f}")
    if len(sizes) >= 2:
        ratio = medians[sizes[-1]] / medians[sizes[0]]
        print(f"ratio {sizes[-1]:,} / {sizes[0]:,} = {ratio:.2f} (goal <= 1.25)")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    raise SystemExit(main())
