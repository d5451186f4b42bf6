"""paxx-patch bundle check DIR: validate a bundle and try it on the sample project.

The bundle is loaded and validated as `add` would, then added with `--commit` to
a copy of the built-in sample project in a temporary repository. What the commits
change is reported and checked the way paxx-patch checks its own bundles: the
compose file with `docker-compose config -q` (when installed), every Python file
compiled (never run), and the files it makes with `ruff check` and `ruff format
--check` under ruff's defaults (when ruff is there).
Exit 0: the checks passed; 1: one failed; 2: the bundle is invalid.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paxx_patch.bundle import load_bundle_dir
from paxx_patch.git.repo import Git
from paxx_patch.git.scratch import scratch_repository
from paxx_patch.runtime.errors import EXIT_FAILED, EXIT_OK, PaxxError

SAMPLE = Path(__file__).resolve().parent.parent / "sample"
COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


@dataclass
class Outcome:
    name: str
    passed: bool | None  # None: skipped
    detail: str = ""


def bundle_check(*, directory: str, sets: dict[str, str] | None = None) -> int:
    from paxx_patch.commands.add import add
    from paxx_patch.commands.common import Run
    from paxx_patch.plan.engine import Kind, Output

    path = Path(directory).resolve()
    if not (path / "bundle.toml").is_file():
        raise PaxxError(f"{directory}: no bundle.toml there; name the bundle's directory "
                        "(the one holding bundle.toml and templates/).")
    bundle = load_bundle_dir(path)
    print(f"{bundle.toml_path}: a valid bundle ({bundle.name} {bundle.version}).")
    with tempfile.TemporaryDirectory(prefix="paxx-bundle-check-") as scratch:
        repo = Path(scratch) / "sample"
        repo.mkdir()
        for item in SAMPLE.iterdir():
            if item.is_file() and item.name != "__init__.py":
                shutil.copy2(item, repo / item.name)
        git = scratch_repository(repo, "Sample FastAPI project")
        base = git.head()
        add([bundle.name], Run(Output(Kind.COMMIT), bundle_path=[str(path.parent)], refresh_lock=False,
                               quiet=True, cwd=repo), sets or {})
        commits = git.out("log", "--reverse", "--format=%h %s", f"{base}..HEAD").splitlines()
        changed = git.out("diff", "--name-status", base or "", "HEAD").splitlines()
        print(f"\nOn the sample project, `paxx-patch add {bundle.name}` makes "
              f"{len(commits)} commit{'s' if len(commits) != 1 else ''}:")
        for line in commits:
            print(f"  {line}")
        print("changing:")
        for line in changed:
            status, _, name = line.partition("\t")
            print(f"  {'added' if status == 'A' else 'modified' if status == 'M' else status}: {name}")
        files = [line.partition("\t")[2] for line in changed if not line.startswith("D")]
        made = [line.partition("\t")[2] for line in changed if line.startswith("A")]
        outcomes = [_compose(repo), _compiles(repo, files), *_ruff(repo, made)]
        if bundle.observes:
            outcomes += _observed(bundle.observes, repo, git, path, made, sets or {})
    print("\nchecks:")
    for o in outcomes:
        mark = "skipped" if o.passed is None else "ok" if o.passed else "FAILED"
        print(f"  {o.name}: {mark}{': ' + o.detail if o.detail else ''}")
    failed = [o.name for o in outcomes if o.passed is False]
    if failed:
        print(f"\n{len(failed)} check{'s' if len(failed) != 1 else ''} failed: {', '.join(failed)}. "
              f"Fix the bundle in {path} and run `paxx-patch bundle check` again.")
        return EXIT_FAILED
    print("\nThe bundle passes.")
    return EXIT_OK


def _observed(observes: tuple[str, ...], repo: Path, git: Git, path: Path, made: list[str],
              sets: dict[str, str]) -> list[Outcome]:
    """Add the components the bundle observes: its files are rendered again with
    `installed.NAME` true, and checked again."""
    from paxx_patch.commands.add import add
    from paxx_patch.commands.common import Run
    from paxx_patch.plan.engine import Kind, Output

    base = git.head()
    add(list(observes), Run(Output(Kind.COMMIT), bundle_path=[str(path.parent)], refresh_lock=False,
                            quiet=True, cwd=repo), sets)
    changed = set(git.out("diff", "--name-only", base or "", "HEAD").splitlines())
    again = [name for name in made if name in changed and name != "paxx-patch.lock"]
    print(f"then `paxx-patch add {' '.join(observes)}` renders again: "
          f"{', '.join(again) or 'none of its files'}")
    with_them = f" (with {', '.join(observes)})"
    outcomes = [_compiles(repo, again), *_ruff(repo, again)]
    return [Outcome(o.name + with_them, o.passed, o.detail) for o in outcomes]


def _run(command: list[str], cwd: Path) -> tuple[bool, str]:
    try:
        proc = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    output = (proc.stdout + proc.stderr).strip()
    return proc.returncode == 0, "\n    ".join(output.splitlines()[:20])


def _compose(repo: Path) -> Outcome:
    name = "compose config"
    files = [n for n in COMPOSE_NAMES if (repo / n).is_file()]
    tool = shutil.which("docker-compose")
    if not files:
        return Outcome(name, None, "no compose file")
    if tool is None:
        return Outcome(name, None, "docker-compose is not installed")
    ok, out = _run([tool, "-f", files[0], "config", "-q"], repo)
    return Outcome(name, ok, "" if ok else out)


def _compiles(repo: Path, files: list[str]) -> Outcome:
    problems = []
    python = [f for f in files if f.endswith(".py")]
    for name in python:
        try:
            compile((repo / name).read_bytes(), name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as e:
            line = getattr(e, "lineno", None)
            problems.append(f"{name}{':' + str(line) if line else ''}: {e}")
    detail = "; ".join(problems) or f"{len(python)} Python file{'s' if len(python) != 1 else ''}"
    return Outcome("Python compiles", not problems, detail)


def _ruff(repo: Path, files: list[str]) -> list[Outcome]:
    """The files the bundle makes, under ruff's defaults, as paxx-patch checks its own
    (the project's own configuration may differ from project to project)."""
    python = [f for f in files if f.endswith(".py")]
    beside = Path(sys.executable).parent / "ruff"
    tool = shutil.which("ruff") or (str(beside) if beside.is_file() else None)
    if not python:
        return [Outcome("ruff", None, "no Python files")]
    if tool is None:
        return [Outcome("ruff", None, "ruff is not installed")]
    outcomes = []
    for label, args in (("ruff check", ["check"]), ("ruff format --check", ["format", "--check"])):
        ok, out = _run([tool, *args, "--isolated", "--no-cache", *python], repo)
        outcomes.append(Outcome(label, ok, "" if ok else out))
    return outcomes
