"""What `add redis storage metrics` must leave behind in a project it fits.

`assert_fits` runs the whole cycle on a committed fixture project: add, check
every changed file, import the settings (and the app), validate compose, verify,
then remove and compare the tree with the original.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import FIXTURES, git, init_repo

COMPONENTS = ("redis", "storage", "metrics")
COMPOSE_NAMES = (
    "compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml",
    "compose.override.yaml", "compose.override.yml",
    "docker-compose.override.yaml", "docker-compose.override.yml",
)


@dataclass
class Fit:
    settings_import: str  # what the generated modules import, e.g. "from settings import settings"
    settings_expr: str  # and how they reach the object, e.g. "settings" or "get_settings()"
    env: dict[str, str]  # a few environment variables -> the attribute each one sets
    project: str = ""  # --project DIR
    deletions: dict[str, int] = field(default_factory=dict)  # documented exceptions
    notes: tuple[str, ...] = ()  # told to the user
    app: str | None = None  # "module:app" to import and serve /metrics from
    compose_ok_before: bool | None = None  # None: whatever docker-compose says
    pythonpath: str = ""  # inside the project directory, e.g. "src" for a src layout
    found_project: bool = False  # run without --project: paxx-patch must find `project`


def project_repo(
    tmp_path: Path, fixture: str, *, rename: dict[str, str] | None = None,
    transform: Callable[[Path], None] | None = None,
) -> Path:
    """The fixture project committed in a new repository."""
    repo = tmp_path / fixture
    shutil.copytree(FIXTURES / fixture, repo, ignore=shutil.ignore_patterns("__pycache__"))
    for old, new in (rename or {}).items():
        (repo / old).rename(repo / new)
    if transform is not None:
        transform(repo)
    return init_repo(repo, {})


def to_plain(value: Any) -> Any:
    """ruamel's round-trip objects as plain dicts, lists and scalars (merges resolved)."""
    if isinstance(value, dict):
        return {str(k): to_plain(value[k]) for k in value}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def load_yaml12(data: bytes) -> Any:
    from ruamel.yaml import YAML

    return to_plain(YAML(typ="rt", pure=True).load(data.decode("utf-8-sig")))


def _normal_depends(service: dict[str, Any]) -> None:
    deps = service.get("depends_on")
    if isinstance(deps, list):
        service["depends_on"] = {d: {"condition": "service_started"} for d in deps}


def compose_without_added(after: Any, before: Any, entries: Iterable[dict[str, Any]]) -> Any:
    """The edited compose document minus what the lock says was added to it."""
    data = copy.deepcopy(after)
    for entry in entries:
        for name in entry.get("services", []):
            del data["services"][name]
        for name in entry.get("volumes", []):
            del data["volumes"][name]
        if data.get("volumes") == {} and "volumes" not in before:
            del data["volumes"]
        app = entry.get("app_service")
        if not app:
            continue
        service = data["services"][app]
        env = service.get("environment")
        added = set(entry.get("app_environment", []))
        if isinstance(env, dict):
            service["environment"] = {k: v for k, v in env.items() if k not in added}
        elif isinstance(env, list):
            service["environment"] = [i for i in env if i.split("=", 1)[0] not in added]
        if service.get("environment") in ({}, []) and "environment" not in before["services"][app]:
            del service["environment"]
        deps = service.get("depends_on")
        if isinstance(deps, dict):
            for name in entry.get("app_depends_on", []):
                del deps[name]
            if not deps and "depends_on" not in before["services"][app]:
                del service["depends_on"]
    for services in (data.get("services") or {}, before.get("services") or {}):
        for service in services.values():
            if isinstance(service, dict):
                _normal_depends(service)
    return data


def docker_compose_ok(directory: Path) -> tuple[bool, str]:
    proc = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=directory, capture_output=True, text=True, check=False
    )
    return proc.returncode == 0, proc.stderr


def compose_dirs(repo: Path) -> list[Path]:
    return sorted({p.parent for name in COMPOSE_NAMES for p in repo.rglob(name)})


def read_lock(project: Path) -> dict[str, Any]:
    return tomllib.loads((project / "paxx-patch.lock").read_text(encoding="utf-8-sig"))


def check_changed_files(repo: Path, base: str, fit: Fit) -> list[str]:
    """Every changed file parses; shared files only gain lines. Returns the changed paths."""
    from ruamel.yaml import YAML

    rows = [line.split("\t") for line in git(repo, "diff", "--name-status", base, "HEAD").splitlines()]
    for status, path in rows:
        if status == "D":
            continue
        data = (repo / path).read_bytes()
        if path.endswith(".py"):
            compile(data, path, "exec")
        elif path.endswith((".toml", ".lock")):
            tomllib.loads(data.decode("utf-8-sig"))
        elif path.endswith((".yaml", ".yml")):
            YAML(typ="rt", pure=True).load(data.decode("utf-8-sig"))
    assert not [p for s, p in rows if s == "D"], rows
    numstat = git(repo, "diff", "--numstat", base, "HEAD")
    for added, deleted, path in (line.split("\t") for line in numstat.splitlines()):
        allowed = fit.deletions.get(path, 0) + len(_app_call_lines_changed(repo, base, path))
        assert deleted == str(allowed), (path, numstat)
    return [p for _, p in rows]


def _app_call_lines_changed(repo: Path, base: str, path: str) -> list[int]:
    """Lines of `path` changed inside a `FastAPI(...)` call (a `lifespan=` added to it)."""
    import ast
    import re

    old = git(repo, "show", f"{base}:{path}", check=False) if path.endswith(".py") else ""
    try:
        tree = ast.parse(old)
    except SyntaxError:
        return []
    calls = [
        (node.lineno, node.end_lineno or node.lineno) for node in ast.walk(tree)
        if isinstance(node, ast.Call) and ast.unparse(node.func).rpartition(".")[2] == "FastAPI"
    ]
    deleted = []
    diff = git(repo, "diff", "-U0", base, "HEAD", "--", path)
    for hunk in re.finditer(r"^@@ -(\d+)(?:,(\d+))? ", diff, re.MULTILINE):
        start, count = int(hunk.group(1)), int(hunk.group(2) or 1)
        deleted += range(start, start + count)
    return [line for line in deleted if any(a <= line <= b for a, b in calls)]


def check_settings(repo: Path, fit: Fit) -> None:
    """The settings module imports and each new field reads its environment variable."""
    from paxx_patch.bundle import load_bundle
    from paxx_patch.commands.status import collect_status
    from paxx_patch.discover.project import Project

    info = collect_status(fit.project or None, [], cwd=repo)["project"]
    project = Project(**info)
    assert (project.settings_import, project.settings_expr) == (fit.settings_import, fit.settings_expr)
    expected: dict[str, Any] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "STORAGE", "METRICS", "OTEL"))}
    env["PYTHONPATH"] = str(repo / fit.project / fit.pythonpath)
    for name in COMPONENTS:
        for setting in load_bundle(name).settings:
            attr, key = project.field_name(setting.name), project.env_key(setting.name)
            if key in fit.env:
                assert fit.env.pop(key) == attr, (key, attr)
            value: Any = {"bool": False, "int": 7, "float": 2.5}.get(setting.type, f"from-env-{setting.name}")
            env[key] = "false" if value is False else str(value)
            expected[attr] = value
    assert not fit.env, f"expected environment variables not used: {fit.env}"
    script = (
        f"import json\n{fit.settings_import}\nconfig = {fit.settings_expr}\nout = {{}}\n"
        f"for attr in {sorted(expected)!r}:\n"
        "    value = getattr(config, attr)\n"
        "    out[attr] = value.get_secret_value() if hasattr(value, 'get_secret_value') else value\n"
        "print(json.dumps(out))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=repo / fit.project, env=env, capture_output=True, text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


def check_app(repo: Path, fit: Fit) -> None:
    """The wired app imports and serves /metrics."""
    assert fit.app is not None
    module, _, name = fit.app.partition(":")
    script = (
        f"from fastapi.testclient import TestClient\nfrom {module} import {name} as app\n"
        "response = TestClient(app).get('/metrics')\n"
        "assert response.status_code == 200, response.status_code\n"
        "assert 'http_requests_total' in response.text\n"
    )
    env = {**os.environ, "OTEL_SDK_DISABLED": "true", "PYTHONPATH": str(repo / fit.project / fit.pythonpath)}
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=repo / fit.project, env=env, capture_output=True,
        text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr


def assert_fits(repo: Path, run: Callable[..., tuple[int, str, str]], fit: Fit) -> tuple[str, str]:
    """Add the three components, check the result, remove them again; returns (stdout, stderr)."""
    option = ("--project", fit.project) if fit.project and not fit.found_project else ()
    base = git(repo, "rev-parse", "HEAD").strip()
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    compose_before = {d: docker_compose_ok(d)[0] for d in compose_dirs(repo)}
    if fit.compose_ok_before is not None:
        assert set(compose_before.values()) <= {fit.compose_ok_before}, compose_before
    code, out, err = run(repo, "add", *COMPONENTS, "--commit", *option)
    assert code == 0, err
    assert "Traceback" not in err and "internal error" not in err
    for note in fit.notes:
        assert note in out, out
    assert git(repo, "status", "--porcelain") == ""
    changed = check_changed_files(repo, base, fit)
    check_settings(repo, fit)
    if fit.app:
        check_app(repo, fit)
    for directory, ok_before in compose_before.items():
        if ok_before:
            ok, why = docker_compose_ok(directory)
            assert ok, why
    lock = read_lock(repo / fit.project)
    entries = [c["compose"] for c in lock["components"].values() if "compose" in c]
    for file in {e["file"] for e in entries}:
        path = os.path.normpath(os.path.join(fit.project, file))
        if path not in changed or not git(repo, "ls-tree", base, "--", path).strip():
            continue  # untouched, or created by add
        before = load_yaml12(git_show(repo, base, path))
        after = load_yaml12((repo / path).read_bytes())
        mine = [e for e in entries if e["file"] == file]
        assert compose_without_added(after, before, mine) == before
    assert run(repo, "verify", *option)[0] == 0
    head = git(repo, "rev-parse", "HEAD")
    code, again, err = run(repo, "add", *COMPONENTS, "--commit", *option)
    assert code == 0 and "already installed" in again, err
    assert git(repo, "rev-parse", "HEAD") == head  # the second add is a no-op
    assert_removes(repo, run, option, tree)
    return out, err


def assert_removes(repo: Path, run: Callable[..., tuple[int, str, str]], option: tuple[str, ...], tree: str) -> None:
    """In a clone (the repository stays as `add` left it): remove gives back `tree`."""
    clone = repo.with_name(repo.name + "-removed")
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    git(clone, "config", "user.name", "Test User")
    git(clone, "config", "user.email", "test@example.com")
    code, _, err = run(clone, "remove", *COMPONENTS, "--commit", *option)
    assert code == 0, err
    assert git(clone, "diff", tree, "HEAD") == ""
    assert git(clone, "rev-parse", "HEAD^{tree}").strip() == tree
    assert git(clone, "status", "--porcelain") == ""


def git_show(repo: Path, rev: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=repo, capture_output=True, check=True
    ).stdout
