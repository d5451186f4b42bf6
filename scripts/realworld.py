"""Try `paxx-patch add redis storage metrics --commit` on a directory of real projects.

    python scripts/realworld.py CORPUS_DIR [--only NAME ...] [--components NAME ... | all] [--json OUT]

Each sub-directory of CORPUS_DIR is a git clone. For each one: a fresh clone in a
temporary directory, the app found from how the project runs (scripts/realworld_app.py:
Dockerfile CMD/ENTRYPOINT, compose command, Procfile, Makefile, scripts, pyproject tasks,
`uvicorn.run`, gunicorn/hypercorn configuration, `fastapi run`, `python -m`), then the add
with `--json`, classified as

- fit: exit 0 and every deep check holds;
- wrong: exit 0 but a check failed (the problems say which);
- refused: exit 2 (the reason is paxx-patch's message);
- crash: anything else.

Deep checks on a change that landed: every `[wiring]` entry (middleware, calls, routes,
startup, shutdown) of every component in the lock is ours (imported from the generated
module) and present where the app that runs is made, where its lifespan is defined, or in
a module those import, shutdown calls after the lifespan's `yield` or in a shutdown handler;
no warning or note says "by hand" or "could not wire"; each uv/poetry/pdm lock beside or
above the edited dependency file is in the change or named in a warning; the generated
modules are shipped by the Dockerfile that ships the app (its COPY lines) and by the wheel's
package list when one is declared; their imports resolve from the same import root; every
changed Python file compiles; `ruff check` under the project's own configuration finds no
more problems in the touched files than before, and `ruff format --check` passes on the
added ones where the project configures ruff or black; no compose file or env example was
created while the project had one, and a committed `.env` was not edited. Prints a table
and the totals; `--json` writes per project its result, reason, problems, shape, how the
app runs, and paxx-patch's warnings and notes. `--components all` adds every component but
postgres.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realworld_app

COMPONENTS = ("redis", "storage", "metrics")
ALL_BUT_POSTGRES = ("redis", "storage", "metrics", "logging", "tasks")
BUNDLES = Path(__file__).resolve().parents[1] / "bundles"
LOCKFILES = ("uv.lock", "poetry.lock", "pdm.lock")
# what a run that wired everything never says
BY_HAND = re.compile(r"by hand|could not wire|could not add|left it as it is instead of adding|"
                     r"were not added", re.IGNORECASE)
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    "GIT_AUTHOR_NAME": "corpus", "GIT_AUTHOR_EMAIL": "corpus@example.invalid",
    "GIT_COMMITTER_NAME": "corpus", "GIT_COMMITTER_EMAIL": "corpus@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
    "PYTHONPATH": str(Path(__file__).resolve().parents[1]),  # this checkout's paxx_patch
}
RUFF = Path(sys.executable).with_name("ruff")
COMPOSE_RE = re.compile(r"(^|/)(docker-)?compose(\.[\w-]+)?\.ya?ml$")
ENV_RE = re.compile(r"(^|/)\.env(\.[\w-]+)?$")


@dataclass
class Result:
    project: str
    shape: str
    result: str
    reason: str
    problems: list[str] = field(default_factory=list)
    app: str = ""  # how the app runs, found without paxx-patch
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run(args: list[str], cwd: Path, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=check,
                          timeout=600)


def git(cwd: Path, *args: str) -> str:
    return run(["git", *args], cwd, check=True).stdout


def paxx(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "paxx_patch", *args], cwd)


def shape_of(repo: Path, files: list[str], info: realworld_app.AppInfo | None = None) -> str:
    """A few words on the layout: how it runs, lifespan, settings, compose, locks."""
    def grep(pattern: str) -> list[str]:
        out = run(["git", "grep", "-l", "-E", pattern, "HEAD", "--", "*.py"], repo).stdout
        return [line.split(":", 1)[1] for line in out.splitlines()]

    v1 = grep(r"from pydantic import .*BaseSettings")
    v2 = grep(r"from pydantic_settings import|pydantic_settings\.BaseSettings")
    pyd = "v2" if v2 else "v1" if v1 else "no BaseSettings"
    instance = grep(r"^[A-Za-z_]\w*\s*(:\s*[\w.]+)?\s*=\s*(get_)?\w*[Ss]ettings\(\)")
    settings = f"settings {pyd}" + (f" (instance in {instance[0]})" if instance else " (no module-level instance)"
                                    if v1 or v2 else "")
    compose = sorted(f for f in files if COMPOSE_RE.search(f))
    locks = sorted(f for f in files if PurePosixPath(f).name in LOCKFILES)
    if info is None:
        apps = grep(r"FastAPI\(")
        where = f"app in {PurePosixPath(min(apps, key=len)).parent}" if apps else "app ?"
    else:
        t = next((t for t in info.targets if t.file and info.chain and t.file == info.chain[0]), None)
        run_by = (f"{t.module}:{t.attr}{' --factory' if t.factory else ''} ({t.source.split(':')[0]})"
                  if t else "no run command")
        where = f"runs {run_by}; app made in {info.creator}; {info.lifespan_how or '?'}"
        if info.lifespan and info.lifespan != [info.creator]:
            where += f" in {','.join(info.lifespan)}"
    return (f"{where}; {settings}; compose {','.join(compose) or 'none'}; "
            f"locks {','.join(locks) or 'none'}")


def dockerfile_copies(repo: Path, files: list[str]) -> dict[str, tuple[str, list[str]]]:
    """Dockerfile -> (build context, sources of its COPY/ADD lines), contexts from compose."""
    contexts: dict[str, str] = {}
    for compose in (f for f in files if COMPOSE_RE.search(f)):
        for m in re.finditer(r"context:\s*(\S+)(?:\s*\n\s*dockerfile:\s*(\S+))?",
                             (repo / compose).read_text(errors="replace")):
            base = PurePosixPath(compose).parent
            context = os.path.normpath(str(base / m.group(1).strip("'\"")))
            dockerfile = os.path.normpath(
                str(PurePosixPath(context) / (m.group(2) or "Dockerfile").strip("'\""))
            )
            contexts[dockerfile] = context
    out = {}
    for f in files:
        if not re.search(r"(^|/)[\w.-]*Dockerfile[\w.-]*$", f):
            continue
        text = (repo / f).read_text(errors="replace").replace("\\\n", " ")
        sources = []
        for line in text.splitlines():
            words = line.split()
            if not words or words[0].upper() not in ("COPY", "ADD"):
                continue
            args = [w for w in words[1:] if not w.startswith("--")]
            if args and args[0].startswith("["):
                try:
                    args = json.loads(" ".join(args))
                except ValueError:
                    continue
            sources += [a.rstrip("/") or "." for a in args[:-1]]
        context = contexts.get(f, str(PurePosixPath(f).parent))
        out[f] = ("" if context == "." else context, sources)
    return out


def shipped(path: str, context: str, sources: list[str]) -> bool:
    relative = os.path.relpath(path, context or ".")
    if relative.startswith(".."):
        return False
    for source in sources:
        source = os.path.normpath(source.lstrip("/"))
        if source == "." or relative == source or relative.startswith(source + "/"):
            return True
    return False


def wheel_packages(pyproject: dict[str, object]) -> list[str] | None:
    """Directories a wheel ships, when the build configuration lists them."""
    tool = pyproject.get("tool", {})
    assert isinstance(tool, dict)
    hatch = tool.get("hatch", {}).get("build", {}).get("targets", {}).get("wheel", {})
    if isinstance(hatch, dict) and hatch.get("packages"):
        return [str(p) for p in hatch["packages"]]
    poetry = tool.get("poetry", {}).get("packages")
    if poetry and isinstance(poetry, list):
        # a pattern ships the directory before it; a file (`pyproject.toml`) is no package
        return [str(PurePosixPath(p.get("from", ".")) / re.split(r"/?[^/]*[*?[]", p["include"])[0])
                .removeprefix("./") for p in poetry if isinstance(p, dict) and "include" in p
                and not ("." in PurePosixPath(p["include"]).name and "*" not in p["include"])]
    setuptools = tool.get("setuptools", {}).get("packages")
    if isinstance(setuptools, list):
        return [p.replace(".", "/") for p in setuptools]
    return None


def ruff_findings(cwd: Path, files: list[str]) -> Counter[str]:
    """Rule code -> number of findings of the project's own ruff configuration."""
    present = [f for f in files if (cwd / f).is_file()]
    if not present or not RUFF.exists():
        return Counter()
    out = run([str(RUFF), "check", "--no-fix", "--output-format", "json", "--exit-zero", *present], cwd)
    try:
        return Counter(str(f.get("code")) for f in json.loads(out.stdout or "[]"))
    except ValueError:
        return Counter()


def deep_checks(work: Path, base: str, files_before: list[str], info: realworld_app.AppInfo,
                said: list[str]) -> list[str]:
    problems: list[str] = []
    changed = [line.split("\t") for line in git(work, "diff", "--name-status", base, "HEAD").splitlines()]
    added = [c[1] for c in changed if c[0] == "A"]
    touched = [c[-1] for c in changed]
    for path in touched:
        if path.endswith(".py") and (work / path).is_file():
            try:
                compile((work / path).read_bytes(), path, "exec")
            except SyntaxError as e:
                problems.append(f"{path}:{e.lineno} does not compile")
    locks = [p for p in touched if p.endswith("paxx-patch.lock")]
    if not locks:
        return [*problems, "no lock written"]
    lock_path = locks[0]
    root = str(PurePosixPath(lock_path).parent).removeprefix(".")
    lock = tomllib.loads((work / lock_path).read_text())
    owned = [str(PurePosixPath(root) / f) if root else f
             for c in lock.get("components", {}).values() for f in c.get("files", {})]
    # imports: each generated `from X import` of a project module resolves from the
    # import root the services package implies
    services = [f for f in owned if f.endswith("/cache.py") or f == "cache.py"]
    if services:
        text = (work / services[0]).read_text()
        m = re.search(r"^from (\S+) import (settings|get_settings)", text, re.MULTILINE)
        own = services[0].removesuffix(".py").split("/")
        if m:
            module = m.group(1)
            # some directory above the generated module must be an import root that has it
            roots = ["/".join(own[:i]) for i in range(len(own))]
            ok = any((work / r / (module.replace(".", "/") + ".py")).is_file()
                     or (work / r / module.replace(".", "/") / "__init__.py").is_file()
                     for r in roots)
            if not ok:
                problems.append(f"{services[0]} imports {module}, which no import root has")
    # app wired: metrics' wiring when it is installed, else any component's (postgres's
    # shutdown call), so that runs without metrics are judged too
    components = lock.get("components", {})
    wiring = components.get("metrics", {}).get("wiring") or next(
        (c["wiring"] for c in components.values() if isinstance(c, dict) and c.get("wiring")), None)
    if not wiring:
        problems.append("app not wired")
    else:
        wired = str(PurePosixPath(root) / wiring["file"]) if root else wiring["file"]
        text = (work / wired).read_text()
        m = re.search(r"^\s*from (\S+)\.metrics import", text, re.MULTILINE)
        if m:
            wired_dir = PurePosixPath(wired).parent.parts
            target = m.group(1).replace(".", "/") + "/metrics.py"
            if not any((work / "/".join(wired_dir[:i]) / target).is_file()
                       for i in range(len(wired_dir) + 1)):
                problems.append(f"{wired} imports {m.group(1)}.metrics, which does not resolve")
    all_files = git(work, "ls-files").splitlines()
    problems += wiring_checks(work, all_files, lock, root, info)
    problems += lockfile_checks(files_before, touched, lock, root, said)
    # shipped by the Dockerfile that ships the app
    copies = dockerfile_copies(work, all_files)
    app_file = info.creator or (
        (str(PurePosixPath(root) / wiring["file"]) if root else wiring["file"]) if wiring else None)
    generated = [f for f in owned if f.endswith(".py")]
    if app_file and generated:
        shipping = {d: cs for d, cs in copies.items() if shipped(app_file, *cs)}
        for dockerfile, (context, sources) in shipping.items():
            missing = [f for f in generated if not shipped(f, context, sources)]
            if missing:
                problems.append(f"{dockerfile} does not COPY {missing[0]}")
    pyproject_path = work / root / "pyproject.toml"
    if pyproject_path.is_file() and generated:
        try:
            packages = wheel_packages(tomllib.loads(pyproject_path.read_text()))
        except tomllib.TOMLDecodeError:
            packages = None
        def in_wheel(path: str) -> bool:
            return any(os.path.relpath(path, root or ".").startswith(p.rstrip("/") + "/")
                       for p in packages or [])

        # only a wheel that ships the app must ship what it imports
        if packages and (app_file is None or in_wheel(app_file)):
            relative = [os.path.relpath(f, root or ".") for f in generated]
            missing = [f for f in relative if not any(f.startswith(p.rstrip("/") + "/") for p in packages)]
            if missing:
                problems.append(f"wheel packages {packages} do not include {missing[0]}")
    # files created although the repository had one
    before_compose = [f for f in files_before if COMPOSE_RE.search(f)]
    for f in added:
        if COMPOSE_RE.search(f) and before_compose:
            problems.append(f"created {f} although {before_compose[0]} exists")
        if ENV_RE.search(f):
            # an env file of the project (its directory or above it), not a frontend's beside it
            others = [e for e in files_before if ENV_RE.search(e) and (
                (parent := str(PurePosixPath(e).parent)) == "." or (root or ".") == parent
                or (root or "").startswith(parent + "/") or str(PurePosixPath(f).parent) == parent)]
            if others:
                problems.append(f"created {f} although {others[0]} exists")
    problems += [f"edited {p}" for p in touched if PurePosixPath(p).name == ".env"]
    # lint under the project's configuration
    # from the project's directory, as its developers run it: without a configuration,
    # ruff takes the directory it runs in for the project root (first-party modules)
    py = [os.path.relpath(t, root or ".") for t in touched if t.endswith(".py")]
    if py:
        after = ruff_findings(work / root, py)
        before_tree = work.parent / "before"
        if not before_tree.exists():
            git(work, "worktree", "add", "-q", "--detach", str(before_tree), base)
        before = ruff_findings(before_tree / root, py)
        more = after - before
        if not configures_ruff(work, root):
            # a project linted by flake8 writes its E402 suppressions for flake8; ruff's defaults
            # leave E402 out and call the comment unused: that says nothing of the change
            more.pop("RUF100", None)
        if more:
            codes = ", ".join(f"{code} x{n}" for code, n in sorted(more.items()))
            problems.append(f"ruff: {sum(more.values())} more finding(s) in the touched files ({codes})")
    # the generated modules formatted as the project's own formatter configuration wants
    new_py = [a for a in added if a.endswith(".py")]
    if new_py and RUFF.exists() and formats_with_ruff_or_black(work):
        out = run([str(RUFF), "format", "--check", "--no-cache", *new_py], work)
        if out.returncode != 0:
            # what ruff says of the files (`Would reformat: ...`), not its warnings about
            # the project's configuration (a deprecated top-level `select`)
            lines = [line for line in (out.stdout + out.stderr).splitlines()
                     if line.strip() and not line.startswith("warning:")]
            said = [line for line in lines if line.startswith("Would reformat")][:3] or lines[-1:]
            problems.append(f"ruff format --check fails on added files: {' '.join(said)}")
    return problems


def wiring_checks(work: Path, files: list[str], lock: dict, root: str,
                  info: realworld_app.AppInfo) -> list[str]:
    """Every `[wiring]` entry of every component, ours, where the app that runs has it."""
    if info.creator is None:
        return ["no FastAPI app found from how the project runs (harness could not follow it)"]
    modules = realworld_app.reachable(work, files, info)
    core = set(info.chain) | set(info.lifespan)
    fileset = set(files)
    problems = []
    app = f"the app {info.creator}:{info.creator_line}"
    for name, component in lock.get("components", {}).items():
        generated = {PurePosixPath(f).name: str(PurePosixPath(root) / f) if root else f
                     for f in component.get("files", {})}
        wired = (component.get("wiring") or {}).get("file")
        if wired:
            wired = str(PurePosixPath(root) / wired) if root else wired
            if wired not in modules:
                problems.append(f"{name}: wired into {wired}, but {app} runs from {' -> '.join(info.chain)}")
        for entry in realworld_app.bundle_entries(BUNDLES, name, generated):
            where, why = realworld_app.find_entry(work, fileset, modules, entry)
            if where is None:
                what = f"{entry.kind} {entry.name}" + (f" at {entry.path}" if entry.path else "")
                problems.append(f"{name}: [wiring] {what} missing from {app}"
                                + (f" ({why})" if why else "")
                                + ("" if wired else " (nothing of it wired)"))
            elif where.split(":")[0] not in core and entry.kind in ("startup", "shutdown"):
                pass  # a helper module the app imports holds it
    return problems


def lockfile_checks(files_before: list[str], touched: list[str], lock: dict, root: str,
                    said: list[str]) -> list[str]:
    """Each uv/poetry/pdm lock beside (or above) the edited dependency file: refreshed or named."""
    deps = {(c.get("dependencies") or {}).get("file") for c in lock.get("components", {}).values()}
    dirs = {str(PurePosixPath(root) / d).removeprefix("./") if root else d for d in deps if d}
    dirs = {str(PurePosixPath(d).parent) for d in dirs} or {root or "."}
    problems = []
    for f in files_before:
        if PurePosixPath(f).name not in LOCKFILES:
            continue
        where = str(PurePosixPath(f).parent)
        if not any(d == where or where == "." or d.startswith(where + "/") for d in dirs):
            continue
        if f in touched or any(f in text or (where == "." and PurePosixPath(f).name in text) for text in said):
            continue
        problems.append(f"{f} neither refreshed nor named in a warning")
    return problems


def configures_ruff(work: Path, root: str) -> bool:
    """A ruff configuration in the project's directory or one above it."""
    directory = work / root
    while True:
        if (directory / "ruff.toml").is_file() or (directory / ".ruff.toml").is_file():
            return True
        try:
            if "ruff" in tomllib.loads((directory / "pyproject.toml").read_text()).get("tool", {}):
                return True
        except (OSError, tomllib.TOMLDecodeError):
            pass
        if directory == work:
            return False
        directory = directory.parent


def formats_with_ruff_or_black(work: Path) -> bool:
    """A ruff or black configuration anywhere the project keeps one."""
    for config in work.rglob("pyproject.toml"):
        if ".git" in config.parts:
            continue
        try:
            tool = tomllib.loads(config.read_text(errors="replace")).get("tool", {})
        except (tomllib.TOMLDecodeError, OSError):
            continue
        if "ruff" in tool or "black" in tool:
            return True
    return any(work.rglob("ruff.toml")) or any(work.rglob(".ruff.toml"))


def try_project(source: Path, scratch: Path, components: Sequence[str] = COMPONENTS) -> Result:
    name = source.name
    work = scratch / name / "repo"
    run(["git", "clone", "-q", str(source), str(work)], scratch, check=True)
    base = git(work, "rev-parse", "HEAD").strip()
    files = git(work, "ls-files").splitlines()
    realworld_app.forget_trees()
    info = realworld_app.find_app(work, files)
    shape = shape_of(work, files, info)
    app = realworld_app.describe(info)
    added = paxx(work, "add", *components, "--commit", "--json")
    report: dict[str, object] = {}
    try:
        report = json.loads(added.stdout) if added.stdout.strip().startswith("{") else {}
    except ValueError:
        pass
    warnings = [str(w) for w in report.get("warnings", [])] if isinstance(report.get("warnings"), list) else [
        line for line in added.stdout.splitlines() if line.startswith("warning")]
    notes = [str(n) for n in report.get("notes", [])] if isinstance(report.get("notes"), list) else []
    message = (added.stderr.strip() or added.stdout.strip()).splitlines()
    if added.returncode == 2:
        text = " ".join(message)
        return Result(name, shape, "refused", text.removeprefix("error: "), [], app, warnings, notes)
    if added.returncode != 0:
        return Result(name, shape, "crash", f"exit {added.returncode}: {' '.join(message[-3:])}", [], app,
                      warnings, notes)
    if git(work, "rev-parse", "HEAD").strip() == base:
        return Result(name, shape, "wrong", "exit 0 but nothing committed", ["nothing committed"], app,
                      warnings, notes)
    realworld_app.forget_trees()
    after = git(work, "ls-files").splitlines()
    # of several apps the repository runs, the one paxx-patch wired is judged
    try:
        lock_text = next((work / f).read_text() for f in after if PurePosixPath(f).name == "paxx-patch.lock")
        lock_root = next(str(PurePosixPath(f).parent) for f in after if PurePosixPath(f).name == "paxx-patch.lock")
        wired = next((c["wiring"]["file"] for c in tomllib.loads(lock_text).get("components", {}).values()
                      if isinstance(c.get("wiring"), dict) and c["wiring"].get("file")), None)
        prefer = str(PurePosixPath(lock_root) / wired) if wired and lock_root != "." else wired
    except (StopIteration, tomllib.TOMLDecodeError, KeyError):
        prefer = None
    info_after = realworld_app.find_app(work, after, prefer)
    problems = deep_checks(work, base, files, info_after, [*warnings, *notes])
    problems += [f"said: {' '.join(text.split())[:400]}" for text in [*warnings, *notes] if BY_HAND.search(text)]
    if problems:
        return Result(name, shape, "wrong", "; ".join(problems), problems, app, warnings, notes)
    return Result(name, shape, "fit", "; ".join(warnings), [], app, warnings, notes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--components", nargs="+", default=list(COMPONENTS),
                        help=f"what to add (default: {' '.join(COMPONENTS)}; `all` for "
                             f"{' '.join(ALL_BUT_POSTGRES)})")
    args = parser.parse_args(argv)
    if args.components == ["all"]:
        args.components = list(ALL_BUT_POSTGRES)
    sources = sorted(p for p in args.corpus.iterdir() if (p / ".git").exists())
    if args.only:
        sources = [p for p in sources if p.name in args.only]
    results = []
    with tempfile.TemporaryDirectory(prefix="paxx-realworld-") as tmp:
        for source in sources:
            try:
                result = try_project(source, Path(tmp), args.components)
            except (subprocess.SubprocessError, OSError, UnicodeDecodeError) as e:
                result = Result(source.name, "?", "crash", f"harness: {e}", [f"harness: {e}"])
            results.append(result)
            print(f"{result.project:<50} {result.result:<8} {result.reason[:200]}", file=sys.stderr)
            shutil.rmtree(Path(tmp) / source.name, ignore_errors=True)
    width = max(len(r.project) for r in results) if results else 10
    print(f"\n{'project':<{width}}  {'shape':<60}  {'result':<8}  reason")
    for r in results:
        print(f"{r.project:<{width}}  {r.shape[:60]:<60}  {r.result:<8}  {r.reason}")
    totals = {k: sum(r.result == k for r in results) for k in ("fit", "wrong", "refused", "crash")}
    print("\ntotals: " + ", ".join(f"{k} {v}" for k, v in totals.items()) + f" of {len(results)}")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
