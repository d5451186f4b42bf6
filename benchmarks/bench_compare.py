"""paxx-patch side by side with paxx 0.2.3 and copier, measured in one run.

Rows: `add redis --commit` against `paxx infra add redis` on the sample project
(a fresh copy per run); `add redis --branch` at 1k/10k/100k tracked files;
`update redis --branch` (the bundle one minor release on, one template line changed)
against `copier update` of an equivalent one-file template on the same
repositories; `verify` against `python -c pass`. Runs take turns so that drift
hits all alike. Peak memory is the largest resident set of the command or of any
process it waited for (GNU time's %M).

paxx 0.2.3 and copier go into the benchmark's own virtualenv (default under
~/.cache/paxx-patch-bench); when they cannot be installed their rows are skipped.
For the row against paxx, this checkout is pip-installed into a virtualenv of its
own beside it, the way users get both: pip writes their bytecode at install, while
the development virtualenv (editable, and without bytecode where
PYTHONDONTWRITEBYTECODE is set) compiles every module on every run.

    python benchmarks/bench_compare.py [--quick] [--runs N] [--sizes 1000,100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from functools import partial
from pathlib import Path

from bench_add import git, make_repo, newer_bundle
from bench_verify import install_with_cli
from copier_template import make_template

PAXX_PATCH = [sys.executable, "-m", "paxx_patch"]
ROOT = Path(__file__).resolve().parents[1]


class Runs:
    """Wall time and peak RSS of each command run, by label.

    The peak comes from GNU time (%M: the largest resident set of the command or of
    any process it waited for). Without /usr/bin/time it is the rusage `os.wait4`
    returns, whose floor is this script's own size (the child starts as its copy).
    """

    TIME = shutil.which("time", path="/usr/bin:/bin")

    def __init__(self) -> None:
        self.runs: dict[str, list[tuple[float, int]]] = defaultdict(list)

    def __call__(self, label: str, cmd: list[str], cwd: Path, keep: bool = True) -> None:
        with tempfile.NamedTemporaryFile() as err, tempfile.NamedTemporaryFile("r") as peak:
            wrap = [self.TIME, "-q", "-f", "%M", "-o", peak.name] if self.TIME else []
            start = time.perf_counter()
            proc = subprocess.Popen([*wrap, *cmd], cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                tail = err.read().decode(errors="replace")[-1500:]
                raise RuntimeError(f"`{' '.join(cmd)}` exited {proc.returncode} in {cwd}:\n{tail}")
            kb = int(peak.read().split()[-1]) if self.TIME else usage.ru_maxrss
        if keep:  # not a warm-up run
            self.runs[label].append((elapsed, kb))

    def median(self, label: str) -> float:
        return statistics.median(t for t, _ in self.runs[label])

    def peak_mb(self, label: str) -> float:
        return max(kb for _, kb in self.runs[label]) / 1024


def tool_venv(venv: Path) -> dict[str, Path | str]:
    """The paxx and copier executables of the benchmark's own venv, or why they are missing."""
    tools: dict[str, Path | str] = {}
    if not (venv / "bin" / "python").exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            why = f"could not create a virtualenv in {venv}: {made.stderr.strip()[-300:]}"
            print(f"NOTE: {why} -- the paxx and copier rows are skipped", file=sys.stderr)
            return {"paxx": why, "copier": why}
    for exe, requirement in (("paxx", "paxx==0.2.3"), ("copier", "copier")):
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             "--ignore-requires-python", requirement],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode == 0 and (venv / "bin" / exe).exists():
            tools[exe] = venv / "bin" / exe
        else:
            why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            tools[exe] = f"could not install {requirement} into {venv}: {why}"
            print(f"NOTE: {tools[exe]} -- its rows are skipped", file=sys.stderr)
    return tools


def installed_self(venv: Path) -> Path | str:
    """This checkout pip-installed (bytecode written) into `venv`: its paxx-patch, or why not."""
    if not (venv / "bin" / "python").exists():
        made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False)
        if made.returncode != 0:
            return f"could not create a virtualenv in {venv}: {made.stderr.strip()[-300:]}"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "--force-reinstall", "--no-deps", str(ROOT)], capture_output=True, text=True, check=False)
    if proc.returncode == 0:  # the dependencies too, the first time
        proc = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", str(ROOT)],
            capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not (venv / "bin" / "paxx-patch").exists():
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"NOTE: could not pip-install paxx-patch into {venv}: {why}", file=sys.stderr)
        return f"could not pip-install paxx-patch into {venv}: {why}"
    return venv / "bin" / "paxx-patch"


def bench_add_vs_paxx(tmp: Path, runs: int, rec: Runs, paxx: Path | str, installed: Path | str) -> None:
    base = make_repo(tmp / "sample", 0)
    for i in range(runs + 1):  # run 0 warms the caches
        fresh = shutil.copytree(base, tmp / f"add-{i}", symlinks=True)
        rec("paxx-patch add redis --commit (sample)", [*PAXX_PATCH, "add", "redis", "--commit"], fresh, i > 0)
        if isinstance(installed, Path):
            fresh = shutil.copytree(base, tmp / f"installed-{i}", symlinks=True)
            rec("paxx-patch add redis --commit (sample, pip-installed)", [str(installed), "add", "redis",
                                                                          "--commit"], fresh, i > 0)
            # what the wiring's libcst costs to import, over a bare start, in the same virtualenv
            python = str(installed.with_name("python"))
            rec("python -c 'import libcst' (pip-installed venv)", [python, "-c", "import libcst"], fresh, i > 0)
            rec("python -c pass (pip-installed venv)", [python, "-c", "pass"], fresh, i > 0)
        if isinstance(paxx, Path):  # paxx writes files only: the copy needs no history
            fresh = shutil.copytree(base, tmp / f"paxx-{i}", ignore=shutil.ignore_patterns(".git"))
            rec("paxx infra add redis (sample)", [str(paxx), "infra", "add", "redis"], fresh, i > 0)
            rec("python -c pass (paxx venv)", [str(paxx.with_name("python")), "-c", "pass"], fresh, i > 0)


def bench_sizes(tmp: Path, sizes: list[int], runs: int, rec: Runs, copier: Path | str) -> None:
    repos = {n: make_repo(tmp / f"repo{n}", n) for n in sizes}
    os.sync()  # the checkout of 100k files must not be written back while timing
    for i in range(runs + 1):
        for n, repo in repos.items():
            rec(f"add redis --branch ({n:,} files)", [*PAXX_PATCH, "add", "redis", "--branch", f"add-{i}"],
                repo, i > 0)
    bundles = newer_bundle(tmp / "newer")
    template: Path | None = None
    for repo in repos.values():
        subprocess.run([*PAXX_PATCH, "add", "redis", "--commit"], cwd=repo, check=True, capture_output=True)
        if isinstance(copier, Path):
            template = template or make_template(tmp / "template", (repo / "services/cache.py").read_text())
            subprocess.run([str(copier), "copy", "--quiet", "--defaults", "--vcs-ref", "v1", str(template), "."],
                           cwd=repo, check=True, capture_output=True)
            git(repo, "add", ".copier-answers.yml", "lib")
            git(repo, "commit", "-qm", "copier copy v1")
    os.sync()
    for i in range(runs + 1):
        for n, repo in repos.items():
            update = [*PAXX_PATCH, "update", "redis", "--bundle-path", str(bundles), "--branch", f"up-{i}"]
            rec(f"update redis --branch ({n:,} files)", update, repo, i > 0)
            git(repo, "rev-parse", "--verify", "-q", f"up-{i}")  # the update was made
            if isinstance(copier, Path):  # copier needs a clean tree: reset after each run
                rec(f"copier update --vcs-ref v2 ({n:,} files)", [
                    str(copier), "update", "--quiet", "--defaults", "--vcs-ref", "v2"], repo, i > 0)
                assert "# next" in (repo / "lib" / "cache.py").read_text(), "copier update changed nothing"
                git(repo, "reset", "-q", "--hard", "HEAD")
                git(repo, "clean", "-fdq")


def bench_verify(tmp: Path, runs: int, rec: Runs) -> None:
    project = install_with_cli(tmp)
    script = Path(sys.executable).with_name("paxx-patch")
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -m paxx_patch verify main.py services/cache.py": [*PAXX_PATCH, "verify", "main.py",
                                                                   "services/cache.py"],
    }
    if script.exists():
        commands["paxx-patch verify main.py services/cache.py"] = [str(script), "verify", "main.py",
                                                                    "services/cache.py"]
    for i in range(runs + 1):
        for label, cmd in commands.items():
            rec(label, cmd, project, i > 0)


def ratio_row(rec: Runs, name: str, num: str, den: str, goal: float) -> tuple[str, str, str, str]:
    if num not in rec.runs or den not in rec.runs:
        return name, "skipped", f"<= {goal}", "-"
    r = rec.median(num) / rec.median(den)
    return name, f"{r:.2f}", f"<= {goal}", "met" if r <= goal else "MISSED"


def _without_libcst(rec: Runs) -> tuple[str, str, str, str]:
    """The add row with libcst's import taken out (its own process less a bare start):
    how far the rest of the run is from paxx 0.2.3. An estimate: the separate import
    also pays for modules the run imports anyway, so it slightly overstates libcst."""
    name = "add less libcst's import / paxx infra add redis"
    labels = ("paxx-patch add redis --commit (sample, pip-installed)",
              "python -c 'import libcst' (pip-installed venv)", "python -c pass (pip-installed venv)",
              "paxx infra add redis (sample)")
    if not all(label in rec.runs for label in labels):
        return name, "skipped", "-", "-"
    add, libcst, bare, paxx = (rec.median(label) for label in labels)
    return name, f"{(add - (libcst - bare)) / paxx:.2f}", "-", "estimate"


def report(rec: Runs, sizes: list[int], tools: dict[str, Path | str]) -> None:
    print(f"\n{'command':<58} {'runs':>4} {'median s':>9} {'peak MB':>8}")
    for label, samples in rec.runs.items():
        print(f"{label:<58} {len(samples):>4} {rec.median(label):>9.3f} {rec.peak_mb(label):>8.1f}")
    for exe, why in tools.items():
        if isinstance(why, str):
            print(f"{exe + ' rows':<58} skipped: {why}")
    small, big = f"({sizes[0]:,} files)", f"({sizes[-1]:,} files)"
    rows = [
        ratio_row(rec, "add redis / paxx infra add redis (pip-installed)",
                  "paxx-patch add redis --commit (sample, pip-installed)", "paxx infra add redis (sample)", 1.0),
        _without_libcst(rec),
        ratio_row(rec, f"add --branch {big} / {small}", f"add redis --branch {big}",
                  f"add redis --branch {small}", 1.1),
        ratio_row(rec, f"update --branch {big} / {small}", f"update redis --branch {big}",
                  f"update redis --branch {small}", 1.1),
        ratio_row(rec, f"update / copier update {big}", f"update redis --branch {big}",
                  f"copier update --vcs-ref v2 {big}", 0.1),
        ratio_row(rec, "verify / python -c pass", "python -m paxx_patch verify main.py services/cache.py",
                  "python -c pass", 2.0),
    ]
    print(f"\n{'ratio (medians)':<48} {'value':>7} {'target':>8}  result")
    for name, value, goal, result in rows:
        print(f"{name:<48} {value:>7} {goal:>8}  {result}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 runs at 1k and 10k files")
    parser.add_argument("--runs", type=int, help="runs per command (default 11; verify 3x as many)")
    parser.add_argument("--sizes", help="tracked files, comma separated (default 1000,10000,100000)")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    parser.add_argument("--venv", type=Path, default=cache / "paxx-patch-bench" / "venv",
                        help="virtualenv for paxx 0.2.3 and copier (created when missing)")
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 11)
    sizes = sorted(int(s) for s in (args.sizes or ("1000,10000" if args.quick else "1000,10000,100000")).split(","))
    os.environ.update(GIT_CONFIG_NOSYSTEM="1")
    for var in [v for v in os.environ if v.startswith("GIT_") and v != "GIT_CONFIG_NOSYSTEM"]:
        del os.environ[var]
    started = time.perf_counter()
    tools = tool_venv(args.venv)
    installed = installed_self(args.venv.with_name("venv-paxx-patch"))
    if isinstance(installed, str):
        tools["paxx-patch (pip-installed)"] = installed
    rec = Runs()
    with tempfile.TemporaryDirectory(prefix="paxx-compare-") as tmp:
        root = Path(tmp)
        for step, call in (
            ("add", partial(bench_add_vs_paxx, runs=runs, rec=rec, paxx=tools["paxx"], installed=installed)),
            ("sizes", partial(bench_sizes, sizes=sizes, runs=runs, rec=rec, copier=tools["copier"])),
            ("verify", partial(bench_verify, runs=runs * 3, rec=rec)),
        ):
            (root / step).mkdir()
            t0 = time.perf_counter()
            call(root / step)
            print(f"[{step}: {time.perf_counter() - t0:.0f} s]", flush=True)
    report(rec, sizes, tools)
    print(f"\ntotal {time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs, "
          f"python {sys.version.split()[0]}, {subprocess.check_output(['git', '--version'], text=True).strip()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
