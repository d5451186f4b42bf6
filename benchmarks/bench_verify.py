"""How much the pre-commit hook costs: `paxx-patch verify` against a bare interpreter start.

Builds a sample project with three components installed (redis, storage, metrics:
with `paxx-patch demo` and `paxx-patch add`, or by hand if those fail), then prints
the median wall time of each command over RUNS runs, measured in the same run, and
its ratio to `python -c pass`. The goal for the hook is a ratio of at most 2.0.

    python benchmarks/bench_verify.py [RUNS]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from paxx_patch.manifest import LOCK_NAME, ComponentRecord, Lock, blob_id

GOAL = 2.0


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def install_with_cli(base: Path) -> Path:
    project = base / "demo"
    paxx = [sys.executable, "-m", "paxx_patch"]
    subprocess.run([*paxx, "demo", str(project)], check=True, capture_output=True)
    subprocess.run(
        [*paxx, "add", "storage", "metrics", "--commit"],
        cwd=project,
        check=True,
        capture_output=True,
    )
    return project


def install_by_hand(base: Path) -> Path:
    project = base / "by-hand"
    project.mkdir()
    git(project, "init", "-q")
    git(project, "config", "user.name", "bench")
    git(project, "config", "user.email", "bench@example.com")
    (project / "main.py").write_text("from fastapi import FastAPI\n\napp = FastAPI()\n")
    lock = Lock()
    for name, files in {
        "redis": ["cache.py"],
        "storage": ["storage.py"],
        "metrics": ["metrics.py", "tracing.py"],
    }.items():
        record = ComponentRecord(name=name, version="1.0.0")
        for file in files:
            content = f'"""Made by paxx-patch {name} 1.0.0."""\n'.encode() + b"x = 1\n" * 150
            (project / "services").mkdir(exist_ok=True)
            (project / "services" / file).write_bytes(content)
            record.files[f"services/{file}"] = blob_id(content)
        lock.components[name] = record
    (project / LOCK_NAME).write_text(lock.dumps())
    git(project, "add", "-A")
    git(project, "commit", "-qm", "install by hand")
    return project


def median_ms(commands: dict[str, list[str]], cwd: Path, runs: int) -> dict[str, tuple[float, int]]:
    """Median wall time per command; the commands take turns so that drift hits all alike."""
    times: dict[str, list[float]] = {label: [] for label in commands}
    codes = {}
    for _ in range(runs):
        for label, command in commands.items():
            start = time.perf_counter()
            codes[label] = subprocess.run(
                command, cwd=cwd, stdout=subprocess.DEVNULL, check=False
            ).returncode
            times[label].append(time.perf_counter() - start)
    return {label: (statistics.median(t) * 1000, codes[label]) for label, t in times.items()}


def main() -> int:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    os.environ.update(GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        base = Path(tmp)
        os.environ["HOME"] = tmp
        try:
            project, how = install_with_cli(base), "paxx-patch demo + add"
        except subprocess.CalledProcessError:
            project, how = install_by_hand(base), "by hand"
        owned = (project / LOCK_NAME).read_text().count('"services/')
        every_file = git(project, "ls-files").split()
        commit = ["main.py", "services/cache.py"]  # what a typical commit passes
        verify = [sys.executable, "-m", "paxx_patch", "verify"]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "verify main.py services/cache.py": [*verify, *commit],
            "verify (everything, lock too)": verify,
            "verify FILE... (--all-files)": [*verify, *every_file],
        }
        script = Path(sys.executable).with_name("paxx-patch")
        if script.exists():
            commands["paxx-patch verify main.py ..."] = [str(script), "verify", *commit]
        for command in commands.values():  # warm the file cache and .pyc files
            subprocess.run(command, cwd=project, stdout=subprocess.DEVNULL, check=False)
        results = median_ms(commands, project, runs)

    baseline = results["python -c pass"][0]
    print(f"{owned} owned files of 3 components, installed {how}; median of {runs} runs")
    print(f"{'command':<34} {'exit':>4} {'median ms':>10} {'ratio':>6}")
    for label, (ms, code) in results.items():
        print(f"{label:<34} {code:>4} {ms:>10.1f} {ms / baseline:>6.2f}")
    ratio = results["verify main.py services/cache.py"][0] / baseline
    print(f"a typical commit costs {ratio:.2f}x an empty interpreter start (goal <= {GOAL})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
