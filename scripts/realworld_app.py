"""How a real project runs its FastAPI app, found without paxx-patch, for scripts/realworld.py.

- `run_targets`: the `module:attr` (or `module:factory()`, `--factory`) targets named by
  how the project is run: Dockerfile CMD/ENTRYPOINT, compose `command`/`entrypoint`,
  Procfile, Makefile, shell scripts, task runners in pyproject.toml, gunicorn
  configuration, `uvicorn.run("...")` / `uvicorn.run(app)` in code, `fastapi run
  path.py`, `python -m pkg` / `python path.py` that start a server, and the default of
  the uvicorn-gunicorn images;
- `app_chain`: the modules from the target to the one whose code calls `FastAPI(...)`
  (or a subclass), following imports, factories and `app = make()`;
- `lifespan_modules`: where the `lifespan=` passed to that call is defined, followed
  through imports, attributes and factory calls;
- `check_entries`: each `[wiring]` entry of a component present, as ours (imported from
  the generated module, under any alias), in those modules or one they import.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

SERVERS = r"(?:uvicorn|gunicorn|hypercorn|granian|daphne|fastapi\s+(?:run|dev)|APP_MODULE|wsgi_app|uvicorn\.run|uvicorn\.Config)"
TARGET_RE = re.compile(r"(?<![\w/.:-])([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)(\(\))?(?![\w:/])")
TESTY = re.compile(r"(^|/)(tests?|testing|examples?|docs?|mocks?|fixtures|scripts/dev)(/|$)|(^|/)(test_[^/]*|[^/]*_test|conftest|[^/]*mock[^/]*)\.py$")
RUN_FILE = re.compile(
    r"(^|/)([\w.-]*Dockerfile[\w.-]*|[\w.-]*\.dockerfile|(docker-)?compose[\w.-]*\.ya?ml|Procfile[\w.-]*|"
    r"[Mm]akefile|GNUmakefile|[\w.-]*\.mk|[Jj]ustfile|Taskfile\.ya?ml|[\w.-]*\.sh|supervisord?[\w.-]*\.conf|"
    r"gunicorn[\w.-]*\.py|gunicorn[\w.-]*\.conf|pyproject\.toml|fly\.toml|app\.yaml|render\.yaml|"
    r"railway\.(json|toml)|package\.json|[\w.-]*\.service)$"
)


@dataclass
class RunTarget:
    module: str  # dotted module, or a path to a file ("app/main.py") for `fastapi run`
    attr: str  # "app", "get_app", ...
    factory: bool
    source: str  # file:line that names it
    command: str  # the command as written (shortened)
    file: str | None = None  # the module's file in the repository, once resolved


@dataclass
class AppInfo:
    targets: list[RunTarget] = field(default_factory=list)
    chain: list[str] = field(default_factory=list)  # files from the run target to the creator
    creator: str | None = None  # the file whose code calls FastAPI(...)
    creator_line: int | None = None
    lifespan: list[str] = field(default_factory=list)  # files defining the lifespan
    lifespan_how: str = ""  # "lifespan=NAME (local)", "on_event", "none", ...
    guessed: bool = False  # no run command named the app: the likeliest module was taken


# ---------------------------------------------------------------------------- parsing

_TREES: dict[Path, ast.Module | None] = {}
_IMPORTS: dict[tuple[Path, str], dict[str, tuple[str, str | None]]] = {}
_BY_NAME: dict[int, dict[str, list[str]]] = {}


def _by_name(files: set[str] | list[str]) -> dict[str, list[str]]:
    key = id(files)
    if key not in _BY_NAME:
        index: dict[str, list[str]] = {}
        for f in files:
            index.setdefault(PurePosixPath(f).name, []).append(f)
        _BY_NAME[key] = index
    return _BY_NAME[key]


def _ending(files: set[str] | list[str], tail: str) -> list[str]:
    """Files that are `tail` or end with `/tail`."""
    return [f for f in _by_name(files).get(PurePosixPath(tail).name, []) if f == tail or f.endswith("/" + tail)]


def tree_of(path: Path) -> ast.Module | None:
    if path not in _TREES:
        try:
            _TREES[path] = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError, OSError):
            _TREES[path] = None
    return _TREES[path]


def forget_trees() -> None:
    _TREES.clear()
    _IMPORTS.clear()
    _BY_NAME.clear()


def _commands_in(repo: Path, rel: str) -> Iterator[tuple[int, str]]:
    """(line, command text) pairs of a run file, continuation lines joined."""
    try:
        text = (repo / rel).read_text(errors="replace")
    except OSError:
        return
    name = PurePosixPath(rel).name
    if re.search(r"compose[\w.-]*\.ya?ml$", name) or name.endswith((".yaml", ".yml")):
        # a command given as a YAML list spans lines: join each block's items
        lines = text.splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)(command|entrypoint|cmd|run|start)\s*:\s*(.*)$", line)
            if not m:
                if re.search(SERVERS, line):
                    yield i + 1, line
                continue
            indent, rest = len(m.group(1)), m.group(3)
            parts = [rest]
            for nxt in lines[i + 1:]:
                stripped = nxt.strip()
                if stripped and (len(nxt) - len(nxt.lstrip())) <= indent:
                    break
                parts.append(stripped.lstrip("- ").strip("'\""))
            yield i + 1, " ".join(parts)
        return
    text = text.replace("\\\n", " ")
    for i, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("#") and not name.endswith(".py"):
            continue
        yield i + 1, line


def _targets_in_command(command: str) -> Iterator[tuple[str, str, bool]]:
    """(module, attr, factory) named by one command line that starts a server."""
    command = re.sub(r'[\[\]",\']', " ", command)
    m = re.search(SERVERS, command)
    if not m:
        return
    after = command[m.start():]
    factory_flag = "--factory" in after
    found = False
    for t in TARGET_RE.finditer(after):
        module, attr = t.group(1), t.group(2)
        if module in ("http", "https", "tcp", "unix", "redis", "postgres", "postgresql", "localhost"):
            continue
        if re.fullmatch(r"\d+", attr) or module.startswith(("0.", "127.")):
            continue
        found = True
        yield module, attr, factory_flag or bool(t.group(3))
    if not found:
        f = re.match(r"fastapi\s+(?:run|dev)\b(.*)", after)
        if f:
            path = re.search(r"(?<![\w-])([\w./-]+\.py)\b", f.group(1))
            # without a path the FastAPI CLI looks for main.py, app.py, api.py, app/main.py, ...
            yield (path.group(1) if path else "main.py"), "app", False


def run_targets(repo: Path, files: list[str]) -> list[RunTarget]:
    out: list[RunTarget] = []
    seen: set[tuple[str, str, str]] = set()

    def add(module: str, attr: str, factory: bool, source: str, command: str) -> None:
        key = (module, attr, source.split(":")[0])
        if key not in seen:
            seen.add(key)
            out.append(RunTarget(module, attr, factory, source, " ".join(command.split())[:160]))

    for rel in files:
        if not RUN_FILE.search(rel) or TESTY.search(rel) and not rel.endswith(".sh"):
            continue
        for line, command in _commands_in(repo, rel):
            for module, attr, factory in _targets_in_command(command):
                add(module, attr, factory, f"{rel}:{line}", command)
            # `python -m pkg` / `python app/main.py` in a run file: the module it starts
            for m in re.finditer(r"\bpython[\d.]*\s+(?:-\w\s+)*(?:-m\s+([\w.]+)|([\w./-]+\.py))", command):
                if "pytest" in command or "alembic" in command:
                    continue
                module = m.group(1) or m.group(2)
                add(module, "__main__", False, f"{rel}:{line}", command)
        if re.search(r"dockerfile", rel, re.IGNORECASE):
            text = (repo / rel).read_text(errors="replace")
            image = re.search(r"^FROM\s+tiangolo/uvicorn-gunicorn\S*", text, re.MULTILINE)
            if image and not any(t.source.startswith(rel + ":") for t in out):
                # the image runs APP_MODULE, by default app.main:app (or main:app without app/main.py)
                env = re.search(r"(?:APP_MODULE|MODULE_NAME)[= ]+\"?([\w.]+)(?::(\w+))?", text)
                module = env.group(1) if env else "app.main"
                add(module, (env.group(2) if env and env.group(2) else "app"), False,
                    f"{rel}:{text[:image.start()].count(chr(10)) + 1}", f"{image.group(0)} (its default APP_MODULE)")
    # uvicorn.run(...) in code
    for rel in grep(repo, r"uvicorn|hypercorn|granian|Granian"):
        if TESTY.search(rel):
            continue
        tree = tree_of(repo / rel)
        if tree is None:
            continue
        for node in ast.walk(tree):
            # `hypercorn_main(["pkg:app", ...])`, `Config(app="pkg:app")`: a target given as a string
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and (t := TARGET_RE.fullmatch(
                    node.value)) and module_file(repo, files, t.group(1), rel):
                add(t.group(1), t.group(2), bool(t.group(3)), f"{rel}:{node.lineno}", node.value)
                continue
            if not (isinstance(node, ast.Call) and _dotted(node.func) in (
                    "uvicorn.run", "run", "uvicorn.Config", "Config", "hypercorn.asyncio.serve",
                    "granian.Granian", "Granian")):
                continue
            if not node.args:
                kw = next((k.value for k in node.keywords if k.arg in ("app", "target")), None)
                if kw is None:
                    continue
                first = kw
            else:
                first = node.args[0]
            factory = any(k.arg == "factory" and isinstance(k.value, ast.Constant) and k.value.value
                          for k in node.keywords)
            command = ast.unparse(node)
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                t = TARGET_RE.fullmatch(first.value)
                if t:
                    add(t.group(1), t.group(2), factory or bool(t.group(3)), f"{rel}:{node.lineno}", command)
            elif isinstance(first, ast.Name):
                made = assigned_in_function(tree, node, first.id)
                if made is not None:  # `app = create_app(cfg)` ... `uvicorn.Config(app)` in a method
                    add(rel, made, True, f"{rel}:{node.lineno}", command)
                else:
                    add(rel, first.id, False, f"{rel}:{node.lineno}", command)
            elif isinstance(first, ast.Call) and isinstance(first.func, ast.Name):
                add(rel, first.func.id, True, f"{rel}:{node.lineno}", command)
    return out


def assigned_in_function(tree: ast.Module, call: ast.Call, name: str) -> str | None:
    """The function whose call the function around `call` assigns to `name` first."""
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) and any(n is call for n in ast.walk(func)):
            for n in ast.walk(func):
                if isinstance(n, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in n.targets) \
                        and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Name):
                    return n.value.func.id
    return None


def grep(repo: Path, pattern: str) -> list[str]:
    """Tracked Python files matching an extended regular expression."""
    import subprocess

    out = subprocess.run(["git", "grep", "-l", "-E", pattern, "--", "*.py"], cwd=repo, check=False,
                         capture_output=True, text=True).stdout
    return out.splitlines()


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


# ---------------------------------------------------------------------------- modules

def module_file(repo: Path, files: list[str], module: str, near: str = "", run: bool = False) -> str | None:
    """The repository file a dotted module (or a path) names; nearest to `near` first."""
    if module.endswith(".py") or "/" in module:
        rel = os.path.normpath(module.lstrip("./")) if not module.startswith("/") else module.lstrip("/")
        candidates = _ending(files, rel)
        if not candidates and not rel.endswith(".py"):
            candidates = _ending(files, rel + "/__main__.py")
    else:
        parts = module.replace(".", "/")
        # `python -m pkg` runs pkg/__main__.py; `pkg:app` is pkg/__init__.py
        tails = (parts + ".py", parts + ("/__main__.py" if run else "/__init__.py"))
        candidates = [f for t in tails for f in _ending(files, t)]
    if not candidates:
        return None
    base = str(PurePosixPath(near).parent) if near else ""

    def rank(f: str) -> tuple[int, int, int, int]:
        inside = 0 if base in ("", ".") or f.startswith(base + "/") else 1
        return (bool(TESTY.search(f)), inside, f.endswith("__init__.py"), len(f))

    return min(candidates, key=rank)


def resolve_import(repo: Path, files: set[str], importer: str, module: str | None, level: int) -> str | None:
    """The file an import in `importer` reaches (absolute: from an ancestor directory)."""
    if level:
        base = PurePosixPath(importer).parent
        for _ in range(level - 1):
            base = base.parent
        parts = [*base.parts, *(module.split(".") if module else [])]
        stem = "/".join(parts)
        for cand in (stem + ".py", stem + "/__init__.py"):
            if cand in files:
                return cand
        return None
    if not module:
        return None
    # an absolute import starts at an import root: a directory that is no package
    # itself (no __init__.py), the importer's own ones first, then any such root
    path = module.replace(".", "/")
    top = module.split(".")[0]
    dirs = [PurePosixPath(importer).parent, *PurePosixPath(importer).parent.parents]
    roots = [str(d) for d in dirs if _root(files, str(d))]
    for f in [*_ending(files, top + "/__init__.py"), *_ending(files, top + ".py")]:
        root = f.removesuffix(top + "/__init__.py").removesuffix(top + ".py").rstrip("/") or "."
        if root not in roots and _root(files, root):
            roots.append(root)
    # a package directory at an ancestor that is a package itself (`src/__init__.py`
    # beside `src/app/`, run from src/); a lone module there is not taken (a local
    # `fastapi.py` beside the importer does not shadow the library)
    for d in dirs:
        prefix = "" if str(d) in (".", "") else f"{d}/"
        if f"{prefix}{top}/__init__.py" in files and str(d) not in roots:
            roots.append(str(d))
    for root in roots:
        prefix = "" if root in (".", "") else f"{root}/"
        for cand in (f"{prefix}{path}.py", f"{prefix}{path}/__init__.py"):
            if cand in files:
                return cand
    return None


def _root(files: set[str], directory: str) -> bool:
    return (directory in (".", "") or f"{directory}/__init__.py" not in files)


def imports_of(repo: Path, files: set[str], rel: str) -> dict[str, tuple[str, str | None]]:
    """Local name -> (file, attribute or None for a module) for first-party imports of `rel`."""
    if (repo, rel) in _IMPORTS:
        return _IMPORTS[(repo, rel)]
    tree = tree_of(repo / rel)
    out: dict[str, tuple[str, str | None]] = {}
    _IMPORTS[(repo, rel)] = out
    if tree is None:
        return out
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for a in node.names:
                if a.name == "*":
                    continue
                # `from pkg import mod` may name a module
                sub = resolve_import(repo, files, rel, f"{node.module}.{a.name}" if node.module else a.name,
                                     node.level)
                if sub is not None:
                    out[a.asname or a.name] = (sub, None)
                    continue
                target = resolve_import(repo, files, rel, node.module, node.level)
                if target is not None:
                    out[a.asname or a.name] = (target, a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                target = resolve_import(repo, files, rel, a.name, 0)
                if target is not None:
                    out[a.asname or a.name.split(".")[0] if not a.asname else a.asname] = (
                        target if a.asname else resolve_import(repo, files, rel, a.name.split(".")[0], 0) or target,
                        None,
                    )
    return out


def _app_classes(tree: ast.Module) -> set[str]:
    classes = {"FastAPI", "fastapi.FastAPI"}
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(_dotted(b) in classes or _dotted(b).endswith("FastAPI")
                                                  for b in node.bases):
            classes.add(node.name)
    return classes


def _creates_app(node: ast.AST, classes: set[str]) -> ast.Call | None:
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and (_dotted(n.func) in classes or _dotted(n.func).endswith(".FastAPI")):
            return n
    return None


def follow(repo: Path, files: set[str], rel: str, attr: str, depth: int = 0) -> tuple[list[str], ast.Call | None, str | None]:
    """(chain of files, the FastAPI(...) call, its file) for `attr` of module `rel`."""
    tree = tree_of(repo / rel)
    if tree is None or depth > 8:
        return [rel], None, None
    classes = _app_classes(tree)
    imported = imports_of(repo, files, rel)
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)}

    def from_expr(expr: ast.AST) -> tuple[list[str], ast.Call | None, str | None] | None:
        call = _creates_app(expr, classes) if isinstance(expr, ast.Call) and (
            _dotted(expr.func) in classes) else None
        if call is not None:
            return [rel], call, rel
        if isinstance(expr, ast.Call):
            name = _dotted(expr.func)
            head, _, tail = name.partition(".")
            if name in defs:
                return follow(repo, files, rel, name, depth + 1)
            if head in imported:
                target, sub = imported[head]
                chain, c, where = follow(repo, files, target, tail.split(".")[0] if sub is None and tail else (sub or tail), depth + 1)
                return [rel, *chain], c, where
            if isinstance(expr.func, ast.Attribute):  # `Application().app`, `Builder(...).build()`
                return from_expr(expr.func.value)
        if isinstance(expr, ast.Attribute):
            return from_expr(expr.value)
        if isinstance(expr, ast.Name):
            if expr.id in imported:
                target, sub = imported[expr.id]
                chain, c, where = follow(repo, files, target, sub or "app", depth + 1)
                return [rel, *chain], c, where
            if expr.id in defs:
                return follow(repo, files, rel, expr.id, depth + 1)
        return None

    if attr == "__main__":  # a module run as a script: what it serves
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _dotted(node.func) in ("uvicorn.run", "run") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    t = TARGET_RE.fullmatch(first.value)
                    if t:
                        f = module_file(repo, sorted(files), t.group(1), rel)
                        if f:
                            chain, c, where = follow(repo, files, f, t.group(2), depth + 1)
                            return [rel, *chain], c, where
                got = from_expr(first)
                if got:
                    return got
        call = _creates_app(tree, classes)
        return [rel], call, rel if call is not None else None
    if attr in defs:
        node = defs[attr]
        if isinstance(node, ast.ClassDef):
            call = _creates_app(node, classes)
            return [rel], call, rel if call is not None else None
        call = _creates_app(node, classes)
        if call is not None:
            return [rel], call, rel
        for n in ast.walk(node):
            if isinstance(n, ast.Return) and n.value is not None:
                got = from_expr(n.value)
                if got:
                    return got
        return [rel], None, None
    for node in tree.body:
        targets: list[ast.AST] = []
        value = None
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        if value is not None and any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            if isinstance(value, ast.Call) and _dotted(value.func) in classes:
                return [rel], value, rel
            got = from_expr(value)
            if got and got[1] is not None:
                return got
            # made by a call that cannot be followed (a registry picking the edition's
            # factory): the module's own FastAPI(...) below is the app
    if attr in imported:
        target, sub = imported[attr]
        chain, c, where = follow(repo, files, target, sub or "app", depth + 1)
        return [rel, *chain], c, where
    call = _creates_app(tree, classes)
    return [rel], call, rel if call is not None else None


def lifespan_files(repo: Path, files: set[str], creator: str, call: ast.Call) -> tuple[list[str], str]:
    """Files defining the lifespan passed to the FastAPI(...) call, and how it is given."""
    kw = next((k.value for k in call.keywords if k.arg == "lifespan"), None)
    tree = tree_of(repo / creator)
    made_by = _dotted(call.func)
    if kw is None and made_by.split(".")[-1] != "FastAPI":
        cls = next((n for n in (tree.body if tree else []) if isinstance(n, ast.ClassDef) and n.name == made_by), None)
        if cls is not None and "lifespan" in ast.unparse(cls):
            return [creator], f"its class {made_by}(FastAPI) sets lifespan= in __init__"
    if kw is None:
        text = (repo / creator).read_text(errors="replace")
        if re.search(r"on_event\(|add_event_handler\(|on_startup=|on_shutdown=", text):
            return [creator], "on_event/event handlers"
        if any(k.arg is None for k in call.keywords):
            return [], "FastAPI(**kwargs): lifespan, if any, inside the kwargs"
        return [], "no lifespan"
    imported = imports_of(repo, files, creator)
    defs = {n.name for n in (tree.body if tree else []) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    found: list[str] = []
    how = ast.unparse(kw)
    for n in ast.walk(kw.func if isinstance(kw, ast.Call) else kw):
        if isinstance(n, ast.Name):
            if n.id in imported:
                found.append(imported[n.id][0])
            elif n.id in defs:
                found.append(creator)
            elif tree is not None:  # a local variable: what it was assigned from
                for node in ast.walk(tree):
                    if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == n.id for t in node.targets):
                        value = node.value.func if isinstance(node.value, ast.Call) else node.value
                        head = _dotted(value).split(".")[0]
                        if head in imported:
                            found.append(imported[head][0])
                        elif head in defs:
                            found.append(creator)
    if not found:
        found = [creator]
    return list(dict.fromkeys(found)), f"lifespan={how}"


def find_app(repo: Path, files: list[str], prefer: str | None = None) -> AppInfo:
    """The app the project runs; `prefer`: of several apps a repository runs (services
    of a monorepo), the one made in or reached through that file, when one is."""
    info = AppInfo(targets=run_targets(repo, files))
    fileset = set(files)
    best: tuple[list[str], ast.Call | None, str | None] | None = None
    for t in info.targets:
        t.file = t.module if t.module in fileset else module_file(
            repo, files, t.module, t.source.split(":")[0], run=t.attr == "__main__")
    # the app most of the project's run files start (ten compose files name the API
    # server, one script a sidecar), the first named among equals
    named = Counter((t.file, t.attr) for t in info.targets if t.file is not None)
    for t in sorted(info.targets, key=lambda t: -named[t.file, t.attr]):
        if t.file is None:
            continue
        attr = t.attr
        if t.attr == "__main__" and not t.file.endswith("__main__.py"):
            attr = "__main__"
        got = follow(repo, fileset, t.file, attr)
        if got[1] is not None and (best is None or best[1] is None):
            best = got
        if got[1] is not None and prefer is not None and not TESTY.search(t.file) and prefer in (
                *got[0], got[2]):
            best = got
            break
    if best is None or best[1] is None:
        # no run command named it: the shortest non-test module that calls FastAPI(
        info.guessed = True
        cands = [f for f in grep(repo, r"FastAPI\(") if not TESTY.search(f)]
        if cands:
            f = min(cands, key=lambda p: (not p.endswith(("main.py", "app.py", "application.py")), len(p)))
            best = follow(repo, fileset, f, "app")
    if best is not None and best[1] is not None:
        info.chain = list(dict.fromkeys(best[0] + ([best[2]] if best[2] else [])))
        info.creator, info.creator_line = best[2], best[1].lineno
        info.lifespan, info.lifespan_how = lifespan_files(repo, fileset, best[2], best[1])  # type: ignore[arg-type]
    return info


def reachable(repo: Path, files: list[str], info: AppInfo) -> list[str]:
    """The modules an entry may live in: the chain, the lifespan's, and their direct imports."""
    fileset = set(files)
    core = list(dict.fromkeys([*info.chain, *info.lifespan]))
    out = list(core)
    for rel in core:
        for target, _ in imports_of(repo, fileset, rel).values():
            if target not in out:
                out.append(target)
    return out


# ---------------------------------------------------------------------------- entries

@dataclass(frozen=True)
class Entry:
    component: str
    kind: str  # middleware, calls, routes, startup, shutdown
    module_file: str  # the generated module's file in the repository
    name: str
    path: str = ""  # for routes


def bundle_entries(bundles: Path, component: str, generated: dict[str, str]) -> list[Entry]:
    """The `[wiring]` entries of a bundle, with the generated module each names.

    `generated` maps a generated file's name ("metrics.py") to its repository path."""
    import tomllib

    toml = bundles / component / "bundle.toml"
    if not toml.is_file():
        return []
    wiring = tomllib.loads(toml.read_text()).get("wiring", {})
    out = []

    def ref(text: str) -> tuple[str, str]:
        value = re.sub(r"\{\{\s*services_package\s*\}\}\.?", "", text)
        module, _, name = value.rpartition(":")
        leaf = module.split(".")[-1] + ".py"
        return generated.get(leaf, leaf), name

    for kind in ("middleware", "calls", "startup", "shutdown"):
        for text in wiring.get(kind, []):
            f, name = ref(text)
            out.append(Entry(component, kind, f, name))
    for path, text in (wiring.get("routes") or {}).items():
        f, name = ref(text)
        out.append(Entry(component, "routes", f, name, path))
    return out


def _ours(repo: Path, files: set[str], rel: str, entry: Entry) -> tuple[set[str], set[str]]:
    """Names bound in `rel` to the entry's object, and names bound to its module."""
    tree = tree_of(repo / rel)
    names: set[str] = set()
    modules: set[str] = set()
    if tree is None:
        return names, modules
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = resolve_import(repo, files, rel, node.module, node.level)
            for a in node.names:
                if target == entry.module_file and a.name == entry.name:
                    names.add(a.asname or a.name)
                sub = resolve_import(repo, files, rel, f"{node.module}.{a.name}" if node.module else a.name,
                                     node.level)
                if sub == entry.module_file:
                    modules.add(a.asname or a.name)
        elif isinstance(node, ast.Import):
            for a in node.names:
                if resolve_import(repo, files, rel, a.name, 0) == entry.module_file:
                    modules.add(a.asname or a.name)
    return names, modules


def _refers(node: ast.AST, names: set[str], modules: set[str], attr: str) -> bool:
    if isinstance(node, ast.Name) and node.id in names:
        return True
    if isinstance(node, ast.Attribute) and node.attr == attr and _dotted(node.value) in modules | {
            m for m in modules}:
        return True
    return isinstance(node, ast.Attribute) and node.attr == attr and any(
        _dotted(node.value).endswith("." + m) or _dotted(node.value) == m for m in modules)


def _functions(tree: ast.Module) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for n in ast.walk(tree):
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
            yield n


def _handler_phase(func: ast.FunctionDef | ast.AsyncFunctionDef, tree: ast.Module) -> str | None:
    for d in func.decorator_list:
        if isinstance(d, ast.Call) and _dotted(d.func).endswith("on_event") and d.args and isinstance(
                d.args[0], ast.Constant):
            return str(d.args[0].value)
    for n in ast.walk(tree):
        if isinstance(n, ast.Call):
            fn = _dotted(n.func)
            if fn.endswith("add_event_handler") and len(n.args) >= 2 and isinstance(n.args[0], ast.Constant) \
                    and _dotted(n.args[1]) == func.name:
                return str(n.args[0].value)
            for k in n.keywords:
                if k.arg in ("on_startup", "on_shutdown") and any(_dotted(e) == func.name for e in ast.walk(k.value)):
                    return k.arg.removeprefix("on_")
    return None


def find_entry(repo: Path, files: set[str], modules: Iterable[str], entry: Entry) -> tuple[str | None, str]:
    """(where the entry is, "" or why it does not count) over the reachable modules."""
    misplaced = ""
    for rel in modules:
        tree = tree_of(repo / rel)
        if tree is None:
            continue
        names, mods = _ours(repo, files, rel, entry)
        if not names and not mods:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            fn = _dotted(node.func)
            args = [*node.args, *(k.value for k in node.keywords)]
            here = f"{rel}:{node.lineno}"
            if entry.kind == "middleware":
                if fn.endswith(("add_middleware", "Middleware")) and args and _refers(
                        args[0], names, mods, entry.name):
                    return here, ""
            elif entry.kind == "routes":
                if any(_refers(a, names, mods, entry.name) for a in args) and (
                        fn.split(".")[-1] in ("add_route", "add_api_route", "mount", "Route", "route", "get",
                                              "api_route")):
                    path = next((a.value for a in node.args if isinstance(a, ast.Constant)), "?")
                    return f"{here} (path {path})", ""
            elif entry.kind == "calls":
                if _refers(node.func, names, mods, entry.name):
                    return here, ""
            elif any(k.arg == entry.kind and any(_refers(e, names, mods, entry.name) for e in ast.walk(k.value))
                     for k in node.keywords):
                return here, ""  # composed: add_lifespan_hooks(app, shutdown=[close_redis])
            elif _refers(node.func, names, mods, entry.name) or any(
                    _refers(a, names, mods, entry.name) for a in args):
                # startup/shutdown: in a lifespan (before/after its yield) or a handler of that phase
                phase = _phase_at(tree, node.lineno)
                if phase in (entry.kind, "passed"):
                    return here, ""
                if _refers(node.func, names, mods, entry.name) is False:
                    return here, ""  # passed to a helper that composes the lifespan
                misplaced = f"{here} calls it outside a {entry.kind} path ({phase or 'no lifespan or handler'})"
    return None, misplaced


def _phase_at(tree: ast.Module, line: int) -> str | None:
    inner = None
    for func in _functions(tree):
        end = getattr(func, "end_lineno", func.lineno)
        if func.lineno <= line <= end and (inner is None or func.lineno >= inner.lineno):
            inner = func
    if inner is None:
        return None
    yields = [n.lineno for n in ast.walk(inner) if isinstance(n, ast.Yield | ast.YieldFrom)]
    if yields:
        return "startup" if line < min(yields) else "shutdown"
    return _handler_phase(inner, tree)


def describe(info: AppInfo) -> str:
    t = next((t for t in info.targets if t.file and info.chain and t.file == info.chain[0]), None)
    run = f"{t.module}:{t.attr}{' --factory' if t.factory else ''} ({t.source})" if t else (
        "guessed" if info.guessed else "no run command")
    return json.dumps({"run": run, "creator": f"{info.creator}:{info.creator_line}",
                       "lifespan": info.lifespan_how})
